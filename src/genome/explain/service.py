"""Realtime explanations: resolve the version the caller means, load it once, explain the rows sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genome.auth.principal import Principal
from genome.errors import InvalidInput, NotFound, PayloadTooLarge
from genome.explain.cache import LoadedCache
from genome.explain.samples import SampleExplanations
from genome.explain.schemas import (
    ExplainedModel,
    ExplainRequest,
    SampleExplanationsRead,
    TabularExplanationRead,
    TextExplanationRead,
    VersionRef,
)
from genome.explain.tabular import TabularExplainer
from genome.explain.text import TextExplainer
from genome.formats.bundle import unpack
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database

__all__ = ["MAX_TEXT_CHARS", "LoadedModel", "explain", "new_cache", "sample_explanations"]

MAX_TEXT_CHARS = 100_000
_NOT_YET = "explanations of {modality} models are not available yet (only tabular and text models can be explained)"


@dataclass
class LoadedModel:
    """A version's model, fields and sample explanations, with its explainer fitted (tabular and text models)."""

    record: ModelVersionRead
    model: Any
    fields: dict[str, Any]
    samples: SampleExplanations | None
    feature_names: list[str] | None
    explainer: TabularExplainer | TextExplainer | None
    error: InvalidInput | None  # why this version cannot be explained, kept so it is not refitted per request
    # shap's maskers keep scratch buffers, so one fitted tabular explainer explains one request at a time (the
    # text explainer shares no state between calls and takes no lock).
    lock: threading.Lock = field(default_factory=threading.Lock)


def new_cache(max_entries: int) -> LoadedCache[LoadedModel]:
    return LoadedCache[LoadedModel](max_entries)


def _resolve(db: Database, principal: Principal, ref: VersionRef) -> ModelVersionRead:
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


def _fit(model: Any, fields: dict[str, Any], samples: SampleExplanations | None) -> TabularExplainer:
    settings = fields.get("explainer")
    explainer = settings if isinstance(settings, TabularExplainer) else TabularExplainer()
    explainer = TabularExplainer(explainer.algorithm, explainer.background_size, explainer.seed)  # a fresh copy
    background = samples.values if samples is not None else None
    return explainer.fit(model, background, method=fields.get("estimator_predict"))


def _fit_text(model: Any, fields: dict[str, Any]) -> TextExplainer:
    settings = fields.get("explainer")
    explainer = settings if isinstance(settings, TextExplainer) else TextExplainer()
    explainer = TextExplainer(explainer.num_samples, explainer.num_features, explainer.seed)  # a fresh copy
    method = fields.get("estimator_predict") or "predict_proba"
    return explainer.fit(model, fields.get("target_classes") or None, method=method)


def _load(db: Database, artifacts: ArtifactStore, principal: Principal, record: ModelVersionRead) -> LoadedModel:
    _, data = models.read_artifact(db, artifacts, principal, record.id)
    model, fields, _manifest = unpack(data)
    arrays = fields.pop("samples", None)
    samples = SampleExplanations.from_arrays(arrays) if arrays is not None else None
    names = fields.get("feature_names") or (samples.feature_names if samples is not None else None)
    explainer: TabularExplainer | TextExplainer | None = None
    error = None
    try:
        if record.inputModality == "tabular":
            explainer = _fit(model, fields, samples)
        elif record.inputModality == "text":
            explainer = _fit_text(model, fields)
    except InvalidInput as exc:
        error = exc
    return LoadedModel(record, model, fields, samples, names, explainer, error)


def _loaded(
    db: Database, artifacts: ArtifactStore, cache: LoadedCache[LoadedModel], principal: Principal, ref: VersionRef
) -> LoadedModel:
    # Resolving first applies the caller's permissions; the cache only ever holds immutable versions by id.
    record = _resolve(db, principal, ref)
    return cache.get(record.id, lambda: _load(db, artifacts, principal, record))


def _described(record: ModelVersionRead) -> ExplainedModel:
    return ExplainedModel(id=record.id, canonicalName=record.canonicalName, versionNumber=record.versionNumber)


def check_entries(entries: list[Any], feature_names: list[str] | None, n_features: int | None) -> np.ndarray:
    """The rows as a float table in the model's feature order; errors name ``entries`` and the features."""
    expected = f"the features {feature_names}" if feature_names else f"{n_features} features per row"
    if all(isinstance(row, dict) for row in entries):
        if not feature_names:
            raise InvalidInput(
                "entries are objects keyed by feature name, but this model was saved without feature_names: "
                "send each row as a list of values",
                field="entries",
            )
        for index, row in enumerate(entries):
            unknown, missing = sorted(set(row) - set(feature_names)), [n for n in feature_names if n not in row]
            if unknown or missing:
                raise InvalidInput(
                    f"entries[{index}] has unknown features {unknown} and lacks {missing}; expected {expected}",
                    field="entries",
                )
        return np.asarray([[row[name] for name in feature_names] for row in entries], dtype=float)
    width = len(feature_names) if feature_names else n_features
    for index, row in enumerate(entries):
        if width is not None and len(row) != width:
            raise InvalidInput(f"entries[{index}] has {len(row)} values; expected {expected}", field="entries")
    return np.asarray(entries, dtype=float)


def _tabular_entries(record: ModelVersionRead, request: ExplainRequest) -> list[Any]:
    if request.image is not None:
        raise InvalidInput(_NOT_YET.format(modality="image") + "; send entries for a tabular model", field="image")
    if request.text is not None and record.inputModality == "tabular":
        raise InvalidInput(
            f"{record.canonicalName} is a tabular model: send entries (text is explained by text models only)",
            field="text",
        )
    if record.inputModality != "tabular":
        raise InvalidInput(_NOT_YET.format(modality=record.inputModality), field="canonicalName")
    if not request.entries:
        raise InvalidInput("entries is required: the rows to explain", field="entries")
    return request.entries


def explain(
    db: Database,
    artifacts: ArtifactStore,
    cache: LoadedCache[LoadedModel],
    principal: Principal,
    request: ExplainRequest,
    *,
    max_rows: int,
) -> TabularExplanationRead | TextExplanationRead:
    """Explain ``request.entries`` (tabular) or ``request.text`` with the version the request names (viewers may
    explain).

    A tabular response is the seed's ``{expected, number_labels, shapley}``, plus the feature names, the model's
    prediction per row and the explainer used; a text response is the seed's ``{metrics, textExplanation}``.
    Both say which version answered.
    """
    record = _resolve(db, principal, request)
    if record.inputModality == "text":
        return _explain_text(db, artifacts, cache, principal, record, request)
    entries = _tabular_entries(record, request)
    if len(entries) > max_rows:
        raise PayloadTooLarge(f"entries has {len(entries)} rows; at most {max_rows} per request", field="entries")
    loaded = cache.get(record.id, lambda: _load(db, artifacts, principal, record))
    if not isinstance(loaded.explainer, TabularExplainer):
        raise loaded.error or InvalidInput(_NOT_YET.format(modality=record.inputModality), field="canonicalName")
    table = check_entries(entries, loaded.feature_names, loaded.explainer.n_features_in_)
    with loaded.lock:
        result = loaded.explainer.explain(table)
    names = loaded.feature_names or [f"feature_{i}" for i in range(table.shape[1])]
    return TabularExplanationRead(
        expected=result.expected,
        number_labels=result.number_labels,
        shapley=result.shapley,
        feature_names=names,
        prediction=result.prediction,
        explainer=result.explainer,
        output=result.output,
        model=_described(record),
    )


def _text(record: ModelVersionRead, request: ExplainRequest) -> str:
    if request.entries is not None or request.image is not None:
        kind = "image" if request.image is not None else "entries"
        raise InvalidInput(f"{record.canonicalName} is a text model: send text, not {kind}", field=kind)
    if request.text is None:
        raise InvalidInput("text is required: the text to explain", field="text")
    if len(request.text) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(
            f"text has {len(request.text)} characters; at most {MAX_TEXT_CHARS} per request", field="text"
        )
    return request.text


def _explain_text(
    db: Database,
    artifacts: ArtifactStore,
    cache: LoadedCache[LoadedModel],
    principal: Principal,
    record: ModelVersionRead,
    request: ExplainRequest,
) -> TextExplanationRead:
    text = _text(record, request)
    loaded = cache.get(record.id, lambda: _load(db, artifacts, principal, record))
    if not isinstance(loaded.explainer, TextExplainer):
        raise loaded.error or InvalidInput(_NOT_YET.format(modality=record.inputModality), field="canonicalName")
    result = loaded.explainer.explain(text, num_samples=request.num_samples)
    return TextExplanationRead.model_validate({**result.to_dict(), "model": _described(record)})


def sample_explanations(
    db: Database, artifacts: ArtifactStore, cache: LoadedCache[LoadedModel], principal: Principal, ref: VersionRef
) -> SampleExplanationsRead:
    """The sample explanations saved with the version (``genome_model.explainer.sampleExplanations``)."""
    loaded = _loaded(db, artifacts, cache, principal, ref)
    if loaded.samples is None:
        raise NotFound(
            f"model version {loaded.record.id} ({loaded.record.canonicalName} v{loaded.record.versionNumber}) "
            "was saved without sample explanations: call genome_model.explainer.sampleExplanations(X) before "
            "save_model",
            field="samples",
        )
    return SampleExplanationsRead(**loaded.samples.to_dict(), model=_described(loaded.record))
