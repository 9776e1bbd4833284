"""Serving model versions: one path from a request's version reference to a model ready to explain or visualize,
loaded in confined worker processes (in the server only for Spark ML trees, which Genome reads itself)."""

from genome.serving.schemas import ServedModel, VersionRef
from genome.serving.service import ModelServer, Served, resolve_ref

__all__ = ["ModelServer", "Served", "ServedModel", "VersionRef", "resolve_ref"]
