"""One serving path: the version a request means, its access checked, its artifact verified, loaded once and
served by the right process.

Explanations, visualizations (and the UI over them) get "this version, ready to serve" here and nowhere else.
The server process loads no model: pickles (even of trusted types), XGBoost and LightGBM models (whose native code
trusts the node indices in the file), Keras and PyTorch models are served by the isolated workers, where every
operation has a timeout and LIME gets every core. Only Spark ML models, read by Genome's own Parquet reader into
plain arrays, are served in the server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from genome.auth.principal import Principal
from genome.errors import InvalidInput
from genome.formats.registry import SPARK_FORMAT
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.serving.cache import LoadedCache
from genome.serving.loaded import LoadedVersion, VersionMeta, load_version
from genome.serving.operations import run
from genome.serving.pool import WorkerPool
from genome.serving.schemas import ServedModel, VersionRef
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database

__all__ = ["ModelServer", "Served", "resolve_ref"]

M = TypeVar("M", bound=BaseModel)


def resolve_ref(db: Database, principal: Principal, ref: VersionRef) -> ModelVersionRead:
    """The version a reference names: by id, or the latest (or numbered, named, aliased) of an application's
    canonicalName, as the caller may see it."""
    if ref.id is not None:
        return models.get_version(db, principal, ref.id)
    if not (ref.application and ref.canonicalName):
        raise InvalidInput("give the model's id, or its application and canonicalName", field="canonicalName")
    return models.resolve_version(
        db,
        principal,
        ref.application,
        ref.canonicalName,
        version_number=ref.versionNumber,
        version_name=ref.versionName,
        alias=ref.alias,
    )


@dataclass
class Served:
    """A version ready to serve: in this process (``loaded``), or in the isolated pool (``pool``)."""

    record: ModelVersionRead
    meta: VersionMeta
    loaded: LoadedVersion | None = None
    pool: WorkerPool | None = None
    bundle: Callable[[], bytes] | None = None
    spread: bool = False  # any idle worker may serve it (slow, GIL-bound operations)

    @property
    def isolated(self) -> bool:
        return self.loaded is None

    @property
    def model(self) -> ServedModel:
        return ServedModel(
            id=self.record.id, canonicalName=self.record.canonicalName, versionNumber=self.record.versionNumber
        )

    def checked(self, schema: type[M], answer: Any) -> M:
        """An operation's answer as the response ``schema``, with the version that answered; an answer that does
        not fit (from a worker running an attacker's code, say) is refused, never passed on."""
        if not isinstance(answer, dict):
            raise InvalidInput(f"{self.meta.describe()} gave no answer", field="model")
        try:
            return schema.model_validate({**answer, "model": self.model})
        except ValidationError as exc:
            raise InvalidInput(
                f"{self.meta.describe()} gave an answer that is not well formed: {exc.errors()[0]['msg']}",
                field="model",
            ) from exc

    def call(self, operation: str, params: dict[str, Any]) -> Any:
        """The operation's answer: plain data from this process, or JSON from a worker (validate it)."""
        if self.loaded is not None:
            return run(self.loaded, operation, params)
        assert self.pool is not None and self.bundle is not None
        return self.pool.call(self.meta, self.bundle, operation, params, spread=self.spread)


class ModelServer:
    """Loaded versions by id (an LRU of ``cache_size``; versions are immutable, so entries never go stale)."""

    def __init__(self, db: Database, artifacts: ArtifactStore, *, cache_size: int, pool: WorkerPool | None) -> None:
        self.db = db
        self.artifacts = artifacts
        self.pool = pool
        self.cache = LoadedCache[Served](cache_size)

    def get(self, principal: Principal, ref: VersionRef) -> Served:
        """The version ``ref`` names, as ``principal`` may see it, ready to serve."""
        record = resolve_ref(self.db, principal, ref)
        # The record was resolved for this caller (permissions applied); the cache holds versions by id.
        return self.cache.get(record.id, lambda: self._load(record))

    def _load(self, record: ModelVersionRead) -> Served:
        meta = VersionMeta(
            id=record.id,
            application=record.application,
            canonicalName=record.canonicalName,
            versionNumber=record.versionNumber,
            inputModality=record.inputModality,
            format=record.artifact.format,
            isolated=record.artifact.isolated,
        )
        if record.artifact.format == SPARK_FORMAT and record.artifact.isolated is False:
            # Read by Genome's own Parquet reader into plain arrays: no pickle, no native model code.
            return Served(record, meta, loaded=load_version(models.artifact_bytes(self.artifacts, record), meta))
        if self.pool is None:
            raise InvalidInput(f"{meta.describe()} can only be served by isolated workers, and this server runs none")
        # LIME is slow and holds the GIL: a busy text version spreads to an idle worker, so it uses every core.
        bundle = functools.partial(models.artifact_bytes, self.artifacts, record)
        return Served(record, meta, pool=self.pool, bundle=bundle, spread=record.inputModality == "text")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
