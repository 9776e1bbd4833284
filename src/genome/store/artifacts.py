"""Content-addressed artifact storage on any fsspec file system (a local folder, s3://, memory://)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

from fsspec.core import url_to_fs

from genome.errors import ArtifactCorrupt, InvalidSetting, PayloadTooLarge

__all__ = ["STALE_TEMPORARY_SECONDS", "ArtifactStore", "StoredArtifact"]

_CHUNK = 1024 * 1024
STALE_TEMPORARY_SECONDS = 600.0
"""A temporary file not written to for this long belongs to a write that died (a write in progress adds a chunk
every moment: the upload is already on the server's disk when it is copied in)."""

log = logging.getLogger("genome.store")


@dataclass(frozen=True)
class StoredArtifact:
    key: str
    sha256: str
    size: int


def _protocols(protocol: str | tuple[str, ...]) -> tuple[str, ...]:
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


class ArtifactStore:
    """Blobs kept under ``sha256/<2 hex>/<64 hex>``; a blob is written whole before it is visible.

    Example:
        >>> import io
        >>> store = ArtifactStore("memory://doctest-artifacts")
        >>> stored = store.put(io.BytesIO(b"weights"))
        >>> store.get(stored.key, stored.sha256, owner="model version 1")
        b'weights'
    """

    def __init__(self, root: str, options: dict[str, Any] | None = None) -> None:
        try:
            self.fs, self.root = url_to_fs(root, **(options or {}))
        except (ImportError, ValueError) as exc:
            raise InvalidSetting(
                f"artifact root {root!r} cannot be opened: {exc}", field="GENOME_ARTIFACT_ROOT"
            ) from exc
        self.root = self.root.rstrip("/")
        if "file" in _protocols(self.fs.protocol) and not self.fs.exists(self.root):
            os.makedirs(self.root, mode=0o700)  # a local folder: for the server's user only
        self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, source: BinaryIO, *, max_bytes: int | None = None) -> StoredArtifact:
        """Copy ``source`` in, hashing as it goes, then move it to its content address."""
        digest = hashlib.sha256()
        size = 0
        temporary = self._path(f"tmp/{uuid.uuid4().hex}")
        self.fs.makedirs(self._path("tmp"), exist_ok=True)
        try:
            with self.fs.open(temporary, "wb") as target:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLarge(
                            f"artifact is larger than the limit of {max_bytes} bytes", field="artifact"
                        )
                    digest.update(chunk)
                    target.write(chunk)
            sha256 = digest.hexdigest()
            key = f"sha256/{sha256[:2]}/{sha256}"
            # Move onto the address even when a blob is there: the bytes are the same by construction, and a
            # blob damaged on disk (same size, flipped bytes) or deleted behind a stale listing is repaired.
            self.fs.makedirs(self._path(f"sha256/{sha256[:2]}"), exist_ok=True)
            self.fs.mv(temporary, self._path(key))
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise
        return StoredArtifact(key=key, sha256=sha256, size=size)

    def remove_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> list[str]:
        """Delete the temporary files of writes that never finished (the server died between copy and move), when
        not modified for ``older_than`` seconds, and return their paths.

        Servers sharing this root may be writing a temporary file right now, so a fresh one is left alone.
        """
        cutoff = time.time() - older_than
        try:
            leftovers = self.fs.ls(self._path("tmp"), detail=False)
        except FileNotFoundError:
            return []
        removed = []
        for path in leftovers:
            try:
                if self.fs.modified(path).timestamp() > cutoff:
                    continue
                self.fs.rm(path)
            except FileNotFoundError:  # finished, or removed by another server, meanwhile
                continue
            removed.append(path)
        if removed:
            log.warning("removed %d temporary artifact file(s) left by an interrupted write", len(removed))
        return removed

    def get(self, key: str, sha256: str, *, owner: str) -> bytes:
        """The blob's bytes, checked against ``sha256``; ``owner`` names the record in the error."""
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise ArtifactCorrupt(f"the artifact of {owner} is missing from the artifact store ({key})") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactCorrupt(f"the artifact of {owner} is corrupt: its checksum no longer matches sha256 {sha256}")
        return data
