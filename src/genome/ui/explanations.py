"""What the Explanations and Visualizer tabs of a version's page show: the query string read as a request to the
explain and visualize services, and their answers turned into the charts of ``genome.ui.charts``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from markupsafe import Markup
from pydantic import ValidationError

from genome.auth.principal import Principal
from genome.config import Settings
from genome.errors import GenomeError, InvalidInput
from genome.explain import service as explain_service
from genome.explain.schemas import (
    ExplainRequest,
    SampleExplanationsRead,
    TabularExplanationRead,
    TextExplanationRead,
)
from genome.explain.service import ExplanationCache
from genome.models.schemas import ModelVersionRead
from genome.server.errors import invalid_from_validation
from genome.serving.schemas import VersionRef
from genome.serving.service import ModelServer
from genome.ui import charts
from genome.visualize import service as visualize_service
from genome.visualize.schemas import LinearVisualizationRead, VisualizationOptions
from genome.visualize.svg import render_tree

__all__ = ["ExplainTab", "VisualizeTab", "explain_tab", "visualize_tab"]

UNITS = {
    "value": "model output",
    "probability": "probability",
    "margin": "log-odds (margin)",
}
_THRESHOLD = 0.1  # words weighing less than this share of the largest weight are left uncoloured


@dataclass
class ExplainTab:
    modality: str
    feature_names: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    klass: int = 0
    record: list[Any] = field(default_factory=list)
    sample_rows: int = 0
    row: int | None = None
    pasted: str = ""
    samples_note: str | None = None
    importance: Markup | None = None
    summary: Markup | None = None
    chart: Markup | None = None
    check: dict[str, float] | None = None
    probability: float | None = None  # of a binary classifier explained in log-odds
    unit: str = ""
    explainer: str = ""
    text: str = ""
    num_samples: int = 250
    text_view: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    picture: str | None = None
    image_size: str | None = None
    error: GenomeError | None = None


def _samples(models: ModelServer, principal: Principal, record: ModelVersionRead) -> SampleExplanationsRead | None:
    try:
        return explain_service.sample_explanations(models, principal, VersionRef(id=record.id))
    except InvalidInput:  # saved without a sample: the tab explains what is typed in only
        return None


def _classes(record: ModelVersionRead, count: int) -> list[str]:
    names = record.parameters.get("targetClasses") or []
    if len(names) == count:
        return [str(name) for name in names]
    return [f"class {index}" for index in range(count)]


def _per_class(values: list[Any], number_labels: int, klass: int) -> list[Any]:
    """One class's rows x features from SHAP values that hold one list per class when there are several."""
    return values[klass] if number_labels > 1 else values


def _parse_record(raw: str, names: list[str]) -> list[Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the pasted rows are not JSON: {exc}", field="rows") from None
    if isinstance(value, list) and value and isinstance(value[0], list | dict):
        value = value[0]  # several rows pasted: the first is explained
    if isinstance(value, dict):
        missing = [name for name in names if name not in value]
        if missing:
            raise InvalidInput(f"the pasted row lacks {', '.join(missing[:5])}", field="rows")
        value = [value[name] for name in names]
    if not isinstance(value, list):
        raise InvalidInput("paste a row as a JSON list of values, or an object keyed by feature name", field="rows")
    return value


def _whole(query: Any, name: str, default: int) -> int:
    """A whole number from the query string, ``default`` when absent."""
    raw = query.get(name) or ""
    if not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw[:40]!r}", field=name) from None


def _numbers(values: list[Any], field: str) -> list[float]:
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError):
        raise InvalidInput(f"every feature needs a number; got {values!r}"[:300], field=field) from None


@dataclass(frozen=True)
class _Ask:
    """Who asks which version, through which services: what every explanation of the tab needs."""

    models: ModelServer
    results: ExplanationCache | None
    principal: Principal
    record: ModelVersionRead
    settings: Settings

    def explain(self, **what: Any) -> Any:
        request = ExplainRequest(id=self.record.id, **what)
        return explain_service.explain(
            self.models,
            self.results,
            self.principal,
            request,
            max_rows=self.settings.explain_max_rows,
            text_budget=self.settings.explain_text_budget,
        )


def explain_tab(
    request: Request,
    models: ModelServer,
    results: ExplanationCache | None,
    principal: Principal,
    record: ModelVersionRead,
    settings: Settings,
    *,
    image: str | None = None,
) -> ExplainTab:
    """The tab from the query string: ``row`` (a stored sample row), ``x`` (a value per feature), ``rows`` (pasted
    JSON), ``class``, ``text`` and ``samples``; an uploaded ``image`` comes as base64."""
    query = request.query_params
    tab = ExplainTab(modality=record.inputModality)
    ask = _Ask(models, results, principal, record, settings)
    try:
        if record.inputModality == "tabular":
            _tabular(tab, query, ask)
        elif record.inputModality == "text":
            _text(tab, query, ask)
        else:
            _image(tab, image, ask)
    except GenomeError as exc:  # drawn in the tab, beside the form that caused it
        tab.error = exc
    return tab


def _tabular(tab: ExplainTab, query: Any, ask: _Ask) -> None:
    record = ask.record
    samples = _samples(ask.models, ask.principal, record)
    names = list(samples.feature_names) if samples else list(record.parameters.get("featureNames") or [])
    if not names and record.parameters.get("numberOfFeatures"):
        names = [f"x{index}" for index in range(int(record.parameters["numberOfFeatures"]))]
    tab.feature_names = names
    tab.klass = max(0, _whole(query, "class", 0))
    if samples is not None:
        tab.sample_rows = samples.rows
        tab.unit = ""
        tab.explainer = samples.explainer
        tab.classes = _classes(record, samples.number_labels) if samples.number_labels > 1 else []
        tab.klass = min(tab.klass, max(samples.number_labels - 1, 0))
        label = f" for {tab.classes[tab.klass]}" if tab.classes else ""
        importance = sorted(samples.featureImportance.items(), key=lambda item: -item[1])
        tab.importance = charts.bars(
            importance, title="Mean |SHAP value| per feature (stored sample)", unit="mean |SHAP value|"
        )
        shap = _per_class(samples.shapley, samples.number_labels, tab.klass)
        tab.summary = charts.beeswarm(
            samples.feature_names, shap, samples.values, title=f"SHAP values of the stored sample{label}", unit="output"
        )
    else:
        tab.samples_note = "This version was saved without a sample: type a record to explain it."
    tab.pasted = query.get("rows", "")
    values = query.getlist("x")
    if tab.pasted.strip():
        row = _numbers(_parse_record(tab.pasted, names), "rows")
    elif values:
        row = _numbers(values, "x")
    elif samples is not None and samples.values:
        tab.row = min(max(0, _whole(query, "row", 0)), samples.rows - 1)
        row = list(samples.values[tab.row])
    else:
        tab.record = [""] * len(names)
        return
    tab.record = row
    answer = ask.explain(entries=[row])
    assert isinstance(answer, TabularExplanationRead)
    tab.feature_names = list(answer.feature_names)
    if answer.number_labels > 1:
        tab.classes = _classes(record, answer.number_labels)
        tab.klass = min(tab.klass, answer.number_labels - 1)
    shap = _per_class(answer.shapley, answer.number_labels, tab.klass)[0]
    every_class = [_per_class(answer.shapley, answer.number_labels, k)[0] for k in range(answer.number_labels)]
    limit = max(abs(float(value)) for row in every_class for value in row) or None
    expected = answer.expected[tab.klass] if answer.number_labels > 1 else answer.expected[0]
    tab.unit = UNITS.get(answer.output, answer.output)
    tab.explainer = answer.explainer
    contributions = [
        charts.Contribution(name, value, float(part))
        for name, value, part in zip(answer.feature_names, row, shap, strict=True)
    ]
    total = expected + sum(part.shap for part in contributions)
    tab.check = {"expected": expected, "contributions": total - expected, "total": total}
    label = f" of {tab.classes[tab.klass]}" if tab.classes else ""
    # A binary classifier explained in log-odds: both units shown, the sum being additive in log-odds only.
    binary_margin = answer.output == "margin" and answer.number_labels == 1
    if binary_margin:
        tab.probability = 1 / (1 + math.exp(-total))
    tab.chart = charts.waterfall(
        expected,
        contributions,
        title=f"Why the model predicts {total:.4g}{label} for this record",
        unit=tab.unit,
        limit=limit,
        probability_axis=binary_margin,
    )


def _text(tab: ExplainTab, query: Any, ask: _Ask) -> None:
    tab.text = query.get("text", "")
    tab.num_samples = _whole(query, "samples", 250)
    if not tab.text.strip():
        return
    answer = ask.explain(text=tab.text, num_samples=tab.num_samples)
    assert isinstance(answer, TextExplanationRead)
    targets = answer.textExplanation.targets
    chosen = query.get("class") or max(targets, key=lambda target: target.proba).target
    limit = max((abs(span[2]) for target in targets for span in target.weighted_spans.spans), default=0.0)
    target = next((item for item in targets if item.target == chosen), targets[0])
    words = sorted(target.weighted_spans.spans, key=lambda span: -abs(span[2]))
    tab.text_view = {
        "targets": sorted(targets, key=lambda item: -item.proba),
        "chosen": target.target,
        "highlighted": charts.highlighted_text(
            tab.text, target.weighted_spans.spans, limit=limit, threshold=_THRESHOLD
        ),
        "words": [(word, weight, charts.colour(weight, limit)) for word, _, weight in words[:15]],
        "metrics": answer.metrics,
        "limit": limit,
        "threshold": _THRESHOLD,
    }


def _image(tab: ExplainTab, image: str | None, ask: _Ask) -> None:
    size = ask.record.parameters.get("inputShape")
    if isinstance(size, list) and len(size) >= 2 and all(isinstance(part, int) for part in size[:2]):
        channels = f", {size[2]} channels" if len(size) > 2 else ""
        tab.image_size = f"{size[1]}x{size[0]} pixels{channels}"  # width x height
    if image is None:
        return
    tab.picture = image
    answer = ask.explain(image=image)
    tab.image = answer.model_dump(by_alias=True)


@dataclass
class VisualizeTab:
    kind: str = ""
    svg: Markup | None = None
    view: Any = None
    record: list[Any] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    klass: int = 0
    coefficients: Markup | None = None
    contributions: Markup | None = None
    score: float | None = None
    prediction: Any = None
    error: GenomeError | None = None


def visualize_tab(
    request: Request, models: ModelServer, principal: Principal, record: ModelVersionRead, settings: Settings
) -> VisualizeTab:
    """The tab from the query string: ``tree``, ``node``, ``depth`` and a record (``x`` per feature)."""
    query = request.query_params
    tab = VisualizeTab()
    try:
        values = query.getlist("x")
        row = _numbers(values, "x") if any(value.strip() for value in values) else None
        depth = _whole(query, "depth", -1)
        options = VisualizationOptions(
            tree=_whole(query, "tree", 0),
            node=_whole(query, "node", 0),
            depth=None if depth < 0 else depth,
            record=row,
        )
        view = visualize_service.visualize(
            models, principal, VersionRef(id=record.id), options, max_nodes=settings.visualize_max_nodes
        )
    except ValidationError as exc:  # a negative tree, node or depth
        tab.error = invalid_from_validation(list(exc.errors()))
        return tab
    except GenomeError as exc:
        tab.error = exc
        return tab
    tab.view = view
    tab.kind = view.kind
    tab.feature_names = list(view.featureNames)
    tab.record = row or [""] * len(view.featureNames)
    if isinstance(view, LinearVisualizationRead):
        _linear(tab, view, max(0, _whole(query, "class", 0)))
    else:
        tab.svg = Markup(render_tree(view.model_dump(by_alias=True)))
    return tab


def _linear(tab: VisualizeTab, view: LinearVisualizationRead, klass: int) -> None:
    """Coefficients by magnitude for one output (class), and the record's score as a waterfall from the intercept."""
    tab.outputs = [str(coefficients.get("output")) for coefficients in view.coefficients]
    if view.targetClasses and len(view.targetClasses) == len(tab.outputs) > 1:
        tab.outputs = [str(name) for name in view.targetClasses]
    klass = min(klass, len(view.coefficients) - 1)
    tab.klass = klass
    chosen = view.coefficients[klass]
    label = f" for {tab.outputs[klass]}" if len(view.coefficients) > 1 else ""
    weights = list((chosen.get("weights") or {}).items())
    tab.coefficients = charts.bars(weights, title=f"Coefficients{label}, by magnitude", unit="coefficient")
    if not view.record:
        return
    output = view.record["outputs"][klass]
    values = view.record.get("values") or {}
    contributions = [
        charts.Contribution(name, values.get(name, ""), float(part)) for name, part in output["contributions"].items()
    ]
    unit = "score" if view.link == "identity" else f"score before the {view.link} link"
    tab.contributions = charts.waterfall(
        float(chosen.get("intercept", 0.0)),
        contributions,
        title=f"The record's score{label}: the intercept plus each feature's part",
        unit=unit,
        start="intercept",
        end="score",
    )
    tab.score = float(output["score"])
    tab.prediction = view.record.get("modelPrediction")
