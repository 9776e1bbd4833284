"""The Genome SDK, under the import paths the original examples use."""

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

__all__ = ["GenomeEstimator", "ModelStore"]
