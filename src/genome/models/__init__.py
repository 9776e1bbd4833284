"""The Model Store component: model versions, their artifacts, aliases, tags and search."""

from genome.models import schemas, service

__all__ = ["schemas", "service"]
