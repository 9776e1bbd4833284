"""Realtime explanations: the version the caller means, served by ``genome.serving``, explains what was sent."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from genome.auth.principal import Principal
from genome.errors import InvalidInput, PayloadTooLarge
from genome.explain.schemas import (
    ExplainRequest,
    Explanation,
    ImageExplanationRead,
    SampleExplanationsRead,
    TabularExplanationRead,
    TextExplanationRead,
)
from genome.serving.cache import LoadedCache
from genome.serving.schemas import VersionRef
from genome.serving.service import ModelServer, Served

__all__ = ["MAX_TEXT_CHARS", "ExplanationCache", "explain", "sample_explanations"]

MAX_TEXT_CHARS = 100_000

ExplanationCache = LoadedCache[Explanation]
"""Finished explanations by version and request: versions are immutable and explanations deterministic."""

_PAYLOAD = {"tabular": "entries", "text": "text", "image": "image"}
_ARTICLE = {"tabular": "a tabular", "text": "a text", "image": "an image"}
_WHAT = {"entries": "the rows to explain", "text": "the text to explain", "image": "a base64 PNG or JPEG"}
_READ: dict[str, type[BaseModel]] = {
    "tabular": TabularExplanationRead,
    "text": TextExplanationRead,
    "image": ImageExplanationRead,
}


def _payload(served: Served, request: ExplainRequest) -> Any:
    """What the request asks to explain, which must be the payload of the model's modality."""
    record = served.record
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


def explain(
    models: ModelServer,
    results: ExplanationCache | None,
    principal: Principal,
    request: ExplainRequest,
    *,
    max_rows: int,
    text_budget: int,
) -> Explanation:
    """Explain the ``entries`` (tabular), ``text`` or ``image`` of the request with the version it names
    (viewers may explain).

    A tabular response is the seed's ``{expected, number_labels, shapley}`` plus the feature names, the model's
    prediction per row and the explainer used; a text response the seed's ``{metrics, textExplanation}``; an image
    response the seed's ``{class, score, number_labels, image}`` plus the heat-map's values. Each says which
    version answered. Explanations are deterministic, so a repeated request is answered from ``results``.
    """
    served = models.get(principal, request)
    payload = _payload(served, request)
    modality = served.record.inputModality
    if modality == "tabular" and len(payload) > max_rows:
        raise PayloadTooLarge(f"entries has {len(payload)} rows; at most {max_rows} per request", field="entries")
    if modality == "text" and len(payload) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(f"text has {len(payload)} characters; at most {MAX_TEXT_CHARS} per request", field="text")
    params = {"payload": payload, "num_samples": request.num_samples, "target": request.target, "budget": text_budget}

    def compute() -> Explanation:
        explanation: Explanation = served.checked(_READ[modality], served.call("explain", params))  # type: ignore[assignment]
        return explanation

    if results is None:
        return compute()
    options = {"num_samples": request.num_samples, "target": request.target}
    digest = hashlib.sha256(json.dumps([payload, options], sort_keys=True).encode()).hexdigest()
    return results.get(f"{served.record.id}:{digest}", compute)


def sample_explanations(models: ModelServer, principal: Principal, ref: VersionRef) -> SampleExplanationsRead:
    """The sample explanations saved with the version (``genome_model.explainer.sampleExplanations``)."""
    served = models.get(principal, ref)
    return served.checked(SampleExplanationsRead, served.call("samples", {}))
