"""Serving model versions: one path from a request's version reference to a model ready to explain or visualize,
loaded in the server for bundles of trusted types, and in confined worker processes for bundles that carry code."""

from genome.serving.schemas import ServedModel, VersionRef
from genome.serving.service import ModelServer, Served, resolve_ref

__all__ = ["ModelServer", "Served", "ServedModel", "VersionRef", "resolve_ref"]
