"""A model version loaded and ready to serve: its model, wrapper fields and manifest, and what operations built
from them (fitted explainers, extracted trees), built once per version.

It lives in an isolated worker (in the server process only for Spark ML trees, which Genome reads itself); the
operations run on it alike in both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genome.errors import InvalidInput, MissingDependency
from genome.formats.bundle import extracted, unpack, unpack_fields
from genome.formats.registry import SPARK_FORMAT
from genome.formats.trust import UntrustedContent

__all__ = ["LoadedVersion", "VersionMeta", "load_version"]

T = TypeVar("T")


@dataclass(frozen=True)
class VersionMeta:
    """What operations need to know of a version's record (the worker never sees the database)."""

    id: str
    application: str
    canonicalName: str
    versionNumber: int
    inputModality: str
    format: str
    isolated: bool | None = None  # whether the bundle carries code (None: stored before Genome recorded it)

    def describe(self) -> str:
        return f"model version {self.id} ({self.canonicalName} v{self.versionNumber})"


@dataclass
class LoadedVersion:
    meta: VersionMeta
    model: Any
    fields: dict[str, Any]
    manifest: dict[str, Any]
    _built: dict[str, Any] = field(default_factory=dict)
    # reentrant: building one thing (an explainer) may need another (the sample) of the same version
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per key; an ``InvalidInput`` it raises is kept too, so a version that cannot be
        explained is not refitted on every request."""
        with self._lock:
            if key not in self._built:
                try:
                    self._built[key] = build()
                except InvalidInput as exc:
                    self._built[key] = exc
            value = self._built[key]
        if isinstance(value, InvalidInput):
            raise value
        return value  # type: ignore[no-any-return]


def load_version(data: bytes, meta: VersionMeta, *, trust: bool = False) -> LoadedVersion:
    """Load a verified bundle. Without ``trust`` only trusted content is read (``UntrustedContent`` otherwise);
    only the isolated worker loads bundles that carry code, with ``trust=True``."""
    try:
        if meta.format != SPARK_FORMAT:
            model, fields, manifest = unpack(data, trust=trust)
            return LoadedVersion(meta, model, fields, manifest)
        # Spark ML models are served from the trees and coefficients Spark saved, read without a JVM.
        from genome.visualize._spark import read_saved

        with extracted(data) as (folder, manifest):
            fields = unpack_fields(folder, manifest, trust=trust)
            model = read_saved(folder / manifest["modelFile"], manifest["modelClass"], fields.get("feature_names"))
    except UntrustedContent as exc:
        raise UntrustedContent(exc.names, where=meta.describe()) from None
    except MissingDependency as exc:  # a library the model needs (XGBoost, say) is not installed
        raise MissingDependency(f"{meta.describe()}: {exc.message}") from exc
    return LoadedVersion(meta, model, fields, manifest)
