"""Explaining a loaded version: fit its modality's explainer once, then explain each request's payload.

These run wherever the version is loaded (an isolated worker; the server for Spark ML trees) and answer plain
JSON-able dicts, which the service validates and completes (``genome.explain.service``).
"""

from __future__ import annotations

import threading
from typing import Any

from genome.errors import InvalidInput, NotFound
from genome.explain.image import ImageExplainer, decode_image
from genome.explain.samples import SampleExplanations
from genome.explain.tabular import TabularExplainer, check_entries
from genome.explain.text import TEXT_BUDGET, TextExplainer, check_text_budget
from genome.serving.loaded import LoadedVersion

__all__ = ["explain", "samples"]


def _samples(loaded: LoadedVersion) -> SampleExplanations | None:
    arrays = loaded.fields.get("samples")
    return SampleExplanations.from_arrays(arrays) if arrays is not None else None


def _feature_names(loaded: LoadedVersion) -> list[str] | None:
    names = loaded.fields.get("feature_names")
    if names:
        return [str(name) for name in names]
    sample = loaded.memo("samples", lambda: _samples(loaded))
    return sample.feature_names if sample is not None else None


def _settings(loaded: LoadedVersion, kind: type) -> Any:
    given = loaded.fields.get("explainer")
    return given if isinstance(given, kind) else kind()


def _fit(loaded: LoadedVersion, budget: int) -> TabularExplainer | TextExplainer | ImageExplainer:
    modality, fields = loaded.meta.inputModality, loaded.fields
    if modality == "tabular":
        given = _settings(loaded, TabularExplainer)
        sample = loaded.memo("samples", lambda: _samples(loaded))
        background = sample.values if sample is not None else None
        tabular = TabularExplainer(given.algorithm, given.background_size, given.seed)  # a fresh copy
        return tabular.fit(loaded.model, background, method=fields.get("estimator_predict"))
    if modality == "text":
        given = _settings(loaded, TextExplainer)
        text = TextExplainer(given.num_samples, given.num_features, given.seed, budget=budget)
        method = fields.get("estimator_predict") or "predict_proba"
        return text.fit(loaded.model, fields.get("target_classes") or None, method=method)
    if modality == "image":
        given = _settings(loaded, ImageExplainer)
        image = ImageExplainer(given.layer, given.alpha)
        return image.fit(loaded.model, fields.get("target_classes") or None, fields.get("data_preprocessor"))
    raise InvalidInput(
        f"{loaded.meta.canonicalName} has input modality {modality!r}, which has no explainer", field="canonicalName"
    )


def explain(loaded: LoadedVersion, params: dict[str, Any]) -> dict[str, Any]:
    """The explanation of ``params["payload"]`` (rows, a text or a base64 image) by the version's explainer."""
    budget = int(params.get("budget") or TEXT_BUDGET)
    explainer = loaded.memo("explainer", lambda: _fit(loaded, budget))
    # shap's maskers keep scratch buffers and Grad-CAM hooks a layer of the shared model, so tabular and image
    # explanations of one version run one at a time; LIME shares no state between calls.
    lock = loaded.memo("explain-lock", threading.Lock)
    payload = params["payload"]
    if isinstance(explainer, TabularExplainer):
        names = _feature_names(loaded)
        table = check_entries(payload, names, explainer.n_features_in_)
        with lock:
            result = explainer.explain(table)
        return {
            "expected": result.expected,
            "number_labels": result.number_labels,
            "shapley": result.shapley,
            "feature_names": names or [f"feature_{i}" for i in range(table.shape[1])],
            "prediction": result.prediction,
            "explainer": result.explainer,
            "output": result.output,
        }
    if isinstance(explainer, TextExplainer):
        num_samples = params.get("num_samples") or explainer.num_samples
        check_text_budget(payload, num_samples, budget)
        return explainer.explain(payload, num_samples=num_samples).to_dict()
    pixels = explainer.pixels(decode_image(payload))
    with lock:  # the layer hook is set on the shared model for the length of one pass
        image = explainer.explain(pixels, params.get("target"))
    return {
        "class": image.target,
        "classIndex": image.target_index,
        "score": image.score,
        "number_labels": 1,
        "image": image.image,
        "heatmap": image.heatmap,
        "layer": image.layer,
        "predictions": [{"class": name, "score": score} for name, score in image.predictions],
    }


def samples(loaded: LoadedVersion, params: dict[str, Any]) -> dict[str, Any]:
    """The sample explanations saved with the version (``genome_model.explainer.sampleExplanations``)."""
    sample = loaded.memo("samples", lambda: _samples(loaded))
    if sample is None:
        raise NotFound(
            f"{loaded.meta.describe()} was saved without sample explanations: call "
            "genome_model.explainer.sampleExplanations(X) before save_model",
            field="samples",
        )
    return sample.to_dict()
