"""Storage: the metadata database (tables, sessions, migrations) and the content-addressed artifact store."""

from genome.store.artifacts import ArtifactStore, StoredArtifact
from genome.store.db import Database

__all__ = ["ArtifactStore", "Database", "StoredArtifact"]
