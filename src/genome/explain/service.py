"""Realtime explanations: resolve the version the caller means, load it once, explain what was sent."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genome.auth.principal import Principal
from genome.errors import InvalidInput, NotFound, PayloadTooLarge
from genome.explain.cache import LoadedCache
from genome.explain.image import ImageExplainer, decode_image
from genome.explain.samples import SampleExplanations
from genome.explain.schemas import (
    ExplainedModel,
    ExplainRequest,
    Explanation,
    ImageExplanationRead,
    SampleExplanationsRead,
    TabularExplanationRead,
    TextExplanationRead,
    VersionRef,
)
from genome.explain.tabular import TabularExplainer, check_entries
from genome.explain.text import TextExplainer
from genome.formats.bundle import unpack
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database

__all__ = ["MAX_TEXT_CHARS", "ExplainerCaches", "LoadedModel", "explain", "resolve_ref", "sample_explanations"]

MAX_TEXT_CHARS = 100_000


@dataclass
class LoadedModel:
    """A version's model, fields and sample explanations, with the explainer of its modality fitted."""

    record: ModelVersionRead
    model: Any
    fields: dict[str, Any]
    samples: SampleExplanations | None
    feature_names: list[str] | None
    explainer: TabularExplainer | TextExplainer | ImageExplainer | None
    error: InvalidInput | None  # why this version cannot be explained, kept so it is not refitted per request
    # shap's maskers keep scratch buffers and Grad-CAM hooks a layer of the shared model, so a tabular or image
    # explainer explains one request at a time (the text explainer shares no state between calls, takes no lock).
    lock: threading.Lock = field(default_factory=threading.Lock)


class ExplainerCaches:
    """Loaded versions with their fitted explainers, and finished explanations by (version, request).

    Versions are immutable and explanations deterministic, so neither cache ever goes stale; a
    ``max_results`` of 0 turns the results cache off.
    """

    def __init__(self, max_models: int, max_results: int) -> None:
        self.models = LoadedCache[LoadedModel](max_models)
        self.results = LoadedCache[Explanation](max_results) if max_results else None


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


def _fit_image(model: Any, fields: dict[str, Any]) -> ImageExplainer:
    settings = fields.get("explainer")
    explainer = settings if isinstance(settings, ImageExplainer) else ImageExplainer()
    explainer = ImageExplainer(explainer.layer, explainer.alpha)  # a fresh copy
    return explainer.fit(model, fields.get("target_classes") or None, fields.get("data_preprocessor"))


def _load(db: Database, artifacts: ArtifactStore, principal: Principal, record: ModelVersionRead) -> LoadedModel:
    _, data = models.read_artifact(db, artifacts, principal, record.id)
    model, fields, _manifest = unpack(data)
    arrays = fields.pop("samples", None)
    samples = SampleExplanations.from_arrays(arrays) if arrays is not None else None
    names = fields.get("feature_names") or (samples.feature_names if samples is not None else None)
    explainer: TabularExplainer | TextExplainer | ImageExplainer | None = None
    error = None
    try:
        if record.inputModality == "tabular":
            explainer = _fit(model, fields, samples)
        elif record.inputModality == "text":
            explainer = _fit_text(model, fields)
        elif record.inputModality == "image":
            explainer = _fit_image(model, fields)
    except InvalidInput as exc:
        error = exc
    return LoadedModel(record, model, fields, samples, names, explainer, error)


def _loaded(
    db: Database, artifacts: ArtifactStore, caches: ExplainerCaches, principal: Principal, record: ModelVersionRead
) -> LoadedModel:
    # The record was resolved for this caller (permissions applied); the cache holds immutable versions by id.
    return caches.models.get(record.id, lambda: _load(db, artifacts, principal, record))


def _described(record: ModelVersionRead) -> ExplainedModel:
    return ExplainedModel(id=record.id, canonicalName=record.canonicalName, versionNumber=record.versionNumber)


def _payload(record: ModelVersionRead, request: ExplainRequest) -> Any:
    """What the request asks to explain, which must be the payload of the model's modality."""
    expected = _PAYLOAD.get(record.inputModality)
    if expected is None:
        raise InvalidInput(
            f"{record.canonicalName} has input modality {record.inputModality!r}, which has no explainer",
            field="canonicalName",
        )
    for other in _PAYLOAD.values():
        if other != expected and getattr(request, other) is not None:
            raise InvalidInput(
                f"{record.canonicalName} is {_ARTICLE[record.inputModality]} model: send {expected}, not {other}",
                field=other,
            )
    value = getattr(request, expected)
    if not value:
        raise InvalidInput(f"{expected} is required: {_WHAT[expected]}", field=expected)
    return value


def _result_key(record: ModelVersionRead, request: ExplainRequest, payload: Any) -> str:
    options = {"num_samples": request.num_samples, "target": request.target}
    digest = hashlib.sha256(json.dumps([payload, options], sort_keys=True).encode()).hexdigest()
    return f"{record.id}:{digest}"


def explain(
    db: Database,
    artifacts: ArtifactStore,
    caches: ExplainerCaches,
    principal: Principal,
    request: ExplainRequest,
    *,
    max_rows: int,
) -> Explanation:
    """Explain the ``entries`` (tabular), ``text`` or ``image`` of the request with the version it names
    (viewers may explain).

    A tabular response is the seed's ``{expected, number_labels, shapley}`` plus the feature names, the model's
    prediction per row and the explainer used; a text response the seed's ``{metrics, textExplanation}``; an image
    response the seed's ``{class, score, number_labels, image}`` plus the heat-map's values. Each says which
    version answered. Explanations are deterministic, so a repeated request is answered from the results cache.
    """
    record = resolve_ref(db, principal, request)
    payload = _payload(record, request)
    if record.inputModality == "tabular" and len(payload) > max_rows:
        raise PayloadTooLarge(f"entries has {len(payload)} rows; at most {max_rows} per request", field="entries")
    if record.inputModality == "text" and len(payload) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(f"text has {len(payload)} characters; at most {MAX_TEXT_CHARS} per request", field="text")

    def compute() -> Explanation:
        loaded = _loaded(db, artifacts, caches, principal, record)
        if loaded.explainer is None:
            raise loaded.error or InvalidInput(f"{record.canonicalName} cannot be explained", field="canonicalName")
        return _EXPLAIN[record.inputModality](loaded, request, payload)

    if caches.results is None:
        return compute()
    return caches.results.get(_result_key(record, request, payload), compute)


def _explain_tabular(loaded: LoadedModel, request: ExplainRequest, entries: list[Any]) -> TabularExplanationRead:
    explainer = loaded.explainer
    assert isinstance(explainer, TabularExplainer)
    table = check_entries(entries, loaded.feature_names, explainer.n_features_in_)
    with loaded.lock:
        result = explainer.explain(table)
    return TabularExplanationRead(
        expected=result.expected,
        number_labels=result.number_labels,
        shapley=result.shapley,
        feature_names=loaded.feature_names or [f"feature_{i}" for i in range(table.shape[1])],
        prediction=result.prediction,
        explainer=result.explainer,
        output=result.output,
        model=_described(loaded.record),
    )


def _explain_text(loaded: LoadedModel, request: ExplainRequest, text: str) -> TextExplanationRead:
    explainer = loaded.explainer
    assert isinstance(explainer, TextExplainer)
    result = explainer.explain(text, num_samples=request.num_samples)
    return TextExplanationRead.model_validate({**result.to_dict(), "model": _described(loaded.record)})


def _explain_image(loaded: LoadedModel, request: ExplainRequest, image: str) -> ImageExplanationRead:
    explainer = loaded.explainer
    assert isinstance(explainer, ImageExplainer)
    pixels = explainer.pixels(decode_image(image))
    with loaded.lock:  # the layer hook is set on the shared model for the length of one pass
        result = explainer.explain(pixels, request.target)
    return ImageExplanationRead.model_validate(
        {
            "class": result.target,
            "classIndex": result.target_index,
            "score": result.score,
            "number_labels": 1,
            "image": result.image,
            "heatmap": result.heatmap,
            "layer": result.layer,
            "predictions": [{"class": name, "score": score} for name, score in result.predictions],
            "model": _described(loaded.record),
        }
    )


_PAYLOAD = {"tabular": "entries", "text": "text", "image": "image"}
_ARTICLE = {"tabular": "a tabular", "text": "a text", "image": "an image"}
_WHAT = {"entries": "the rows to explain", "text": "the text to explain", "image": "a base64 PNG or JPEG"}
_EXPLAIN: dict[str, Callable[[LoadedModel, ExplainRequest, Any], Explanation]] = {
    "tabular": _explain_tabular,
    "text": _explain_text,
    "image": _explain_image,
}


def sample_explanations(
    db: Database, artifacts: ArtifactStore, caches: ExplainerCaches, principal: Principal, ref: VersionRef
) -> SampleExplanationsRead:
    """The sample explanations saved with the version (``genome_model.explainer.sampleExplanations``)."""
    loaded = _loaded(db, artifacts, caches, principal, resolve_ref(db, principal, ref))
    if loaded.samples is None:
        raise NotFound(
            f"model version {loaded.record.id} ({loaded.record.canonicalName} v{loaded.record.versionNumber}) "
            "was saved without sample explanations: call genome_model.explainer.sampleExplanations(X) before "
            "save_model",
            field="samples",
        )
    return SampleExplanationsRead(**loaded.samples.to_dict(), model=_described(loaded.record))
