"""A linear or logistic model drawn as SVG, in the tree drawing's manner (``genome.visualize.svg``): its
coefficients per output (class) sorted by magnitude and, with a record, the record's score as a waterfall from the
intercept, each feature adding its coefficient times its value, to the score the model computes (and, for a
logistic model, the probability that score gives).

Colours come from ColorBrewer's RdBu, as in the UI's charts (color specifications by Cynthia Brewer,
colorbrewer.org, Apache License 2.0): red raises the score, blue lowers it, on one scale for every output of the
model. Colour never carries meaning alone: every value is written with its sign, bars point right or left of zero,
and the ``<desc>`` spells out the numbers drawn. Each output is a ``<g class="output">``; its coefficients and
waterfall rows carry their exact values in ``data-*`` attributes for tests and UIs.
"""

from __future__ import annotations

import math
from typing import Any

from genome.visualize.colours import colour, sign_shade
from genome.visualize.graph import format_number
from genome.visualize.svg import PATH_COLOUR, _escape, _n, _text

__all__ = ["render_linear"]

_INK, _MUTED, _RULE = "#222222", "#666666", "#B4B4B4"
_FONT = "Helvetica, Arial, sans-serif"
_WIDTH, _MARGIN, _ROW = 760.0, 16.0, 20.0
_LABEL = 220.0  # room for a feature's name (and value) left of the bars
_PLOT = (_LABEL + 56.0, _WIDTH - _MARGIN - 56.0)  # the bars' span, with room for a signed value at either end
_CHAR = 0.6  # average glyph width per unit of font size (no font metrics)
_TOP_COEFFICIENTS = 20  # per output; the rest are counted in a line
_TOP_CONTRIBUTIONS = 12  # per waterfall; the rest are summed into one row, so the waterfall still ends at the score
_MAX_OUTPUTS = 10
_PROBABILITIES = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
_SCORE_AXIS = {
    "logistic": "score (log-odds)",
    "logistic-ovr": "score (log-odds against the rest)",
    "softmax": "class score",
    "log": "score (log of the prediction)",
}


def render_linear(view: dict[str, Any]) -> str:
    """Draw a linear view (the dict ``ModelVisualizer.visualize`` returns for a linear or logistic model) as a
    standalone SVG document.

    Example:
        >>> view = {"estimatorClass": "sklearn.linear_model.LinearRegression", "predictionType": "regression",
        ...         "link": "identity", "outputs": ["prediction"], "targetClasses": None, "record": None,
        ...         "coefficients": [{"output": "prediction", "intercept": 1.0, "weights": {"x": 2.0}}]}
        >>> svg = render_linear(view)
        >>> svg.startswith("<svg") and 'data-value="2.0"' in svg
        True
    """
    link = str(view.get("link") or "identity")
    coefficients = list(view.get("coefficients") or [])
    names = _output_names(view)
    record = view.get("record") or None
    scores = _scores(record, len(coefficients))
    shown = _shown_outputs(len(coefficients), scores)
    # one colour scale for every output drawn, so that bars compare across classes (another for contributions)
    limit = max((abs(w) for i in shown for w in _finite(coefficients[i].get("weights") or {}).values()), default=0.0)
    parts = max((abs(c) for i in shown for c in _contributions(record, i).values()), default=0.0)
    estimator = str(view.get("estimatorClass") or "LinearModel").rsplit(".", 1)[-1]
    kind = "classes" if view.get("predictionType") == "classification" else "outputs"
    title = f"{estimator} · coefficients" + (f" of {len(coefficients)} {kind}" if len(coefficients) > 1 else "")
    title += " and one record's score" if record else ""

    body: list[str] = []
    described: list[str] = []
    y = _MARGIN + 24
    body.append(_text(_MARGIN, y - 10, title, size=15, anchor="start", bold=True))
    y += _key(body, y, link)
    if steps := view.get("pipeline"):  # coefficients and values are in the space the transforms produce
        chain = " → ".join(str(step.get("name")) for step in steps)
        note = f"A pipeline ({chain}): features and values as its transforms give them to the model"
        body.append(_text(_MARGIN, y + 10, note, size=11, anchor="start", fill=_MUTED, width=_WIDTH - 2 * _MARGIN))
        y += 18
    if len(shown) < len(coefficients):
        note = f"{len(shown)} of {len(coefficients)} outputs drawn" + (
            " (those of the highest scores)" if scores else ""
        )
        body.append(_text(_MARGIN, y + 10, f"{note}; the JSON view has them all", size=11, anchor="start", fill=_MUTED))
        y += 18
    for index in shown:
        entry = coefficients[index]
        output = _Output(index, names[index], entry, link, _heading(view, names[index], len(coefficients)))
        group, height, words = output.draw(y, (limit, parts), record, scores)
        body.append(group)
        described.append(words)
        y += height
    if record and record.get("modelPrediction") is not None:
        said = f"The model predicts {_value(record['modelPrediction'])}"
        body.append(_text(_MARGIN, y + 14, said, size=13, anchor="start", fill=PATH_COLOUR, bold=True))
        described.append(said + ".")
        y += 24
    height = y + _MARGIN
    description = f"{title}. {_link_words(link)} " + " ".join(described)
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" role="img" aria-labelledby="linear-title '
            f'linear-desc" width="{_n(_WIDTH)}" height="{_n(height)}" viewBox="0 0 {_n(_WIDTH)} {_n(height)}" '
            f'font-family="{_FONT}">',
            f'<title id="linear-title">{_escape(title)}</title>',
            f'<desc id="linear-desc">{_escape(description)}</desc>',
            f'<rect width="{_n(_WIDTH)}" height="{_n(height)}" fill="white"/>',
            *body,
            "</svg>",
        ]
    )


class _Output:
    """One output's (class's) panel: its coefficients, then the record's waterfall."""

    def __init__(self, index: int, name: str, entry: dict[str, Any], link: str, heading: str) -> None:
        self.index, self.name, self.link, self.heading = index, name, link, heading
        self.intercept = float(entry.get("intercept") or 0.0)
        self.weights = _finite(entry.get("weights") or {})

    def draw(
        self, top: float, limits: tuple[float, float], record: dict[str, Any] | None, scores: list[float] | None
    ) -> tuple[str, float, str]:
        """The panel's markup at ``top``, its height and its numbers in words; ``limits``: the colour scales' ends
        (coefficients, contributions)."""
        limit = limits[0]
        heading = f"{self.heading} · intercept {_signed(self.intercept)}"
        out = [_text(_MARGIN, 16, heading, size=13, anchor="start", bold=True)]
        y = 26.0
        ranked = sorted(self.weights.items(), key=lambda item: -abs(item[1]))
        drawn = ranked[:_TOP_COEFFICIENTS]
        out.append(_text(_MARGIN, y + 12, "Coefficients, largest magnitude first", size=11, anchor="start"))
        y += 18
        zero = _Linear(-limit, limit) if limit else _Linear(-1.0, 1.0)
        for name, weight in drawn:
            out.append(_coefficient(name, weight, y, zero, limit))
            y += _ROW
        out.append(_zero_line(zero(0.0), 26.0 + 18, y))
        if len(ranked) > len(drawn):
            rest = len(ranked) - len(drawn)
            out.append(_text(_LABEL, y + 12, f"… {rest} smaller coefficients", size=11, anchor="end", fill=_MUTED))
            y += _ROW
        words = f"{heading}; coefficients " + ", ".join(f"{name} {_signed(w)}" for name, w in drawn)
        if len(ranked) > len(drawn):
            words += f" and {len(ranked) - len(drawn)} smaller"
        words += "."
        if record is not None:
            parts, height, said = self._waterfall(record, scores, y + 10, limits[1])
            out.extend(parts)
            y += 10 + height
            words += " " + said
        attributes = f'data-output="{_escape(self.name)}" data-intercept="{self.intercept!r}"'
        group = (
            f'<g class="output" {attributes} transform="translate(0,{_n(top)})">'
            f"<title>{_escape(heading)}</title>{''.join(out)}</g>"
        )
        return group, y + 14, words

    def _waterfall(
        self, record: dict[str, Any], scores: list[float] | None, top: float, limit: float
    ) -> tuple[list[str], float, str]:
        outputs = record.get("outputs") or []
        entry = outputs[self.index] if self.index < len(outputs) else {}
        values = record.get("values") or {}
        parts = _contributions(record, self.index)
        score = _float(entry.get("score"))
        ordered = sorted(parts.items(), key=lambda item: -abs(item[1]))
        rows = [(f"{name} = {_value(values.get(name))}", part, name) for name, part in ordered[:_TOP_CONTRIBUTIONS]]
        if len(ordered) > _TOP_CONTRIBUTIONS:
            rest = ordered[_TOP_CONTRIBUTIONS:]
            rows.append((f"{len(rest)} other features", math.fsum(part for _, part in rest), ""))
        running = [self.intercept]
        for _, part, _ in rows:
            running.append(running[-1] + part)
        end = score if score is not None else running[-1]  # the model's own score; the sum drawn reaches it
        scale = _Linear.padded([*running, end])
        words = "The record's score: the intercept plus each feature's value times its coefficient"
        out = [_text(_MARGIN, top + 12, words, size=11, anchor="start")]
        y = top + 18
        out.append(
            f'<g class="start" data-value="{self.intercept!r}">'
            + _text(_LABEL, y + 14, "intercept", size=11, anchor="end", bold=True)
            + _dash(scale(self.intercept), y, y + (len(rows) + 1) * _ROW)
            + _text(scale(self.intercept) + 4, y + 14, format_number(self.intercept), size=11, anchor="start")
            + "</g>"
        )
        for index, (label, part, name) in enumerate(rows):
            y += _ROW
            x0, x1 = scale(running[index]), scale(running[index + 1])
            direction = "raises" if part >= 0 else "lowers"
            beside = (max(x0, x1) + 4, "start") if part >= 0 else (min(x0, x1) - 4, "end")
            out.append(
                f'<g class="contribution" data-feature="{_escape(name)}" data-value="{part!r}">'
                f"<title>{_escape(label)} {direction} the score by {format_number(abs(part))}</title>"
                + _text(_LABEL, y + 14, label, size=11, anchor="end", width=_LABEL - _MARGIN)
                + _bar(min(x0, x1), y + 4, max(abs(x1 - x0), 1.0), _ROW - 8, part, limit or abs(part))
                + _text(beside[0], y + 14, _signed(part), size=11, anchor=beside[1])
                + "</g>"
            )
        y += _ROW
        probability = _probability(self.link, self.index, end, scores)
        out.append(
            f'<g class="end" data-value="{end!r}"'
            + (f' data-probability="{probability!r}"' if probability is not None else "")
            + ">"
            + _text(_LABEL, y + 14, "score", size=11, anchor="end", bold=True)
            + f'<line x1="{_n(scale(end))}" y1="{_n(y - _ROW + 2)}" x2="{_n(scale(end))}" y2="{_n(y + _ROW - 2)}" '
            f'stroke="{_INK}" stroke-width="2"/>'
            + _text(scale(end) + 4, y + 14, format_number(end), size=11, anchor="start", bold=True)
            + "</g>"
        )
        y += _ROW + 4
        out.extend(_axis(scale, y, _SCORE_AXIS.get(self.link, "score")))
        y += 34
        if self.link == "logistic":  # a binary model: its probabilities under its log-odds
            out.extend(_probability_axis(scale, y, self.name))
            y += 34
        said = self._caption(end, probability, scores)
        out.append(_text(_MARGIN, y + 14, said, size=12, anchor="start"))
        y += 22
        words = (
            f"Record: intercept {format_number(self.intercept)}"
            + "".join(f"; {label} {_signed(part)}" for label, part, _ in rows)
            + f"; score {format_number(end)}"
            + (f", probability {format_number(probability)}" if probability is not None else "")
            + "."
        )
        return out, y - top, words

    def _caption(self, score: float, probability: float | None, scores: list[float] | None) -> str:
        if self.link == "logistic" and probability is not None:
            return f"Score {format_number(score)} → probability of {self.name}: {format_number(probability)}"
        if self.link in ("softmax", "logistic-ovr") and probability is not None:
            count = len(scores or [])
            how = "softmax over" if self.link == "softmax" else "each class's logistic, normalized over"
            return (
                f"Score {format_number(score)} → probability of {self.name}: {format_number(probability)} "
                f"({how} the {count} class scores)"
            )
        if self.link == "log":
            return f"Score {format_number(score)} → prediction exp(score) = {format_number(math.exp(score))}"
        return f"Score {format_number(score)}: the model's prediction"


class _Linear:
    """Values to x positions in the bars' span."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    @classmethod
    def padded(cls, values: list[float]) -> _Linear:
        low, high = min(values), max(values)
        pad = (high - low) * 0.06 or abs(high) * 0.1 or 1.0
        return cls(low - pad, high + pad)

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low) if self.high > self.low else 0.5
        return _PLOT[0] + min(max(share, 0.0), 1.0) * (_PLOT[1] - _PLOT[0])

    def ticks(self, count: int = 5) -> list[float]:
        raw = (self.high - self.low) / count
        step = 10 ** math.floor(math.log10(raw))
        step *= next(multiple for multiple in (1, 2, 5, 10) if step * multiple >= raw)
        first = math.ceil(self.low / step) * step
        return [first + i * step for i in range(count + 2) if first + i * step <= self.high]


def _coefficient(name: str, weight: float, y: float, scale: _Linear, limit: float) -> str:
    x0, x1 = scale(0.0), scale(weight)
    beside = (max(x0, x1) + 4, "start") if weight >= 0 else (min(x0, x1) - 4, "end")
    direction = "raises" if weight >= 0 else "lowers"
    return (
        f'<g class="coefficient" data-feature="{_escape(name)}" data-value="{weight!r}">'
        f"<title>{_escape(name)}: {_signed(weight)} (each unit {direction} the score)</title>"
        + _text(_LABEL, y + 14, name, size=11, anchor="end", width=_LABEL - _MARGIN)
        + _bar(min(x0, x1), y + 4, max(abs(x1 - x0), 1.0), _ROW - 8, weight, limit or abs(weight))
        + _text(beside[0], y + 14, _signed(weight), size=11, anchor=beside[1])
        + "</g>"
    )


def _bar(x: float, y: float, width: float, height: float, value: float, limit: float) -> str:
    return (
        f'<rect class="bar {"positive" if value >= 0 else "negative"}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" '
        f'height="{_n(height)}" fill="{sign_shade(value, limit)}" stroke="{colour(value, limit * 0.5)}"/>'
    )


def _key(body: list[str], y: float, link: str) -> float:
    """The colour key, in words beside its swatches; returns the height it takes."""
    x = _MARGIN
    for value, words in ((1.0, "raises the score (+)"), (-1.0, "lowers the score (-)")):
        body.append(
            f'<rect class="swatch" x="{_n(x)}" y="{_n(y + 2)}" width="10" height="10" fill="{sign_shade(value, 1.0)}"/>'
        )
        body.append(_text(x + 14, y + 11, words, size=11, anchor="start"))
        x += 14 + len(words) * 11 * _CHAR + 18
    body.append(_text(x, y + 11, _link_words(link), size=11, anchor="start", fill=_MUTED))
    return 26.0


def _link_words(link: str) -> str:
    return {
        "identity": "The score is the prediction.",
        "logistic": "A probability is the logistic function of the score.",
        "softmax": "Probabilities are the softmax of the class scores.",
        "logistic-ovr": "Probabilities are each class's logistic, normalized to sum to 1.",
        "log": "The prediction is exp(score).",
    }.get(link, "")


def _axis(scale: _Linear, y: float, label: str) -> list[str]:
    out = [f'<line x1="{_n(_PLOT[0])}" y1="{_n(y)}" x2="{_n(_PLOT[1])}" y2="{_n(y)}" stroke="{_MUTED}"/>']
    for tick in scale.ticks():
        x = scale(tick)
        out.append(f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x)}" y2="{_n(y + 4)}" stroke="{_MUTED}"/>')
        out.append(_text(x, y + 15, format_number(tick), size=10, fill=_MUTED))
    out.append(_text(_LABEL, y + 15, label, size=10, anchor="end", fill=_MUTED, width=_LABEL - _MARGIN))
    return out


def _probability_axis(scale: _Linear, y: float, name: str) -> list[str]:
    """Where each probability falls on the log-odds axis above (p = 1 / (1 + e^-score)): those nearest 0.5 first,
    each kept only clear of those kept before it."""
    out = [f'<line x1="{_n(_PLOT[0])}" y1="{_n(y)}" x2="{_n(_PLOT[1])}" y2="{_n(y)}" stroke="{_RULE}"/>']
    placed: list[float] = []
    for probability in sorted(_PROBABILITIES, key=lambda p: abs(p - 0.5)):
        log_odds = math.log(probability / (1 - probability))
        x = scale(log_odds)
        if scale.low <= log_odds <= scale.high and all(abs(x - other) >= 32 for other in placed):
            placed.append(x)
            out.append(f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x)}" y2="{_n(y + 4)}" stroke="{_RULE}"/>')
            out.append(_text(x, y + 15, f"{probability:g}", size=10, fill=_MUTED))
    label = f"probability of {name}"
    out.append(_text(_LABEL, y + 15, label, size=10, anchor="end", fill=_MUTED, width=_LABEL - _MARGIN))
    return out


def _zero_line(x: float, top: float, bottom: float) -> str:
    return f'<line class="zero" x1="{_n(x)}" y1="{_n(top)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{_MUTED}"/>'


def _dash(x: float, top: float, bottom: float) -> str:
    return (
        f'<line x1="{_n(x)}" y1="{_n(top)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{_MUTED}" stroke-dasharray="3,3"/>'
    )


def _heading(view: dict[str, Any], name: str, outputs: int) -> str:
    if view.get("predictionType") == "classification":
        return f"Class {name}"
    return "Prediction" if outputs == 1 else f"Output {name}"


def _contributions(record: dict[str, Any] | None, index: int) -> dict[str, float]:
    outputs = (record or {}).get("outputs") or []
    return _finite(outputs[index].get("contributions") or {}) if index < len(outputs) else {}


def _output_names(view: dict[str, Any]) -> list[str]:
    """Each coefficient row by the name the model was saved with: a class name, or the output's own label (a
    binary model's one row scores its second class)."""
    outputs = [entry.get("output") for entry in view.get("coefficients") or []]
    classes = view.get("targetClasses") or []
    if classes and len(classes) == len(outputs) > 1:
        return [str(name) for name in classes]
    if classes and len(outputs) == 1 and len(classes) == 2:
        return [str(classes[1])]
    return [str(output) for output in outputs]


def _scores(record: dict[str, Any] | None, count: int) -> list[float] | None:
    if not record:
        return None
    scores = [_float(entry.get("score")) for entry in record.get("outputs") or []]
    return [s for s in scores if s is not None] if len(scores) == count and None not in scores else None


def _shown_outputs(count: int, scores: list[float] | None) -> list[int]:
    """The outputs drawn, in the model's order: all of them, or the ``_MAX_OUTPUTS`` of the highest scores."""
    if count <= _MAX_OUTPUTS:
        return list(range(count))
    if scores is None:
        return list(range(_MAX_OUTPUTS))
    return sorted(sorted(range(count), key=lambda i: -scores[i])[:_MAX_OUTPUTS])


def _probability(link: str, index: int, score: float, scores: list[float] | None) -> float | None:
    if link == "logistic":
        return _logistic(score)
    if link == "softmax" and scores:
        top = max(scores)
        return math.exp(scores[index] - top) / math.fsum(math.exp(s - top) for s in scores)
    if link == "logistic-ovr" and scores:
        shares = [_logistic(s) for s in scores]
        return shares[index] / math.fsum(shares) if math.fsum(shares) > 0 else 1 / len(shares)
    return None


def _logistic(score: float) -> float:
    return 1 / (1 + math.exp(-score)) if score > -700 else 0.0


def _finite(weights: dict[str, Any]) -> dict[str, float]:
    """Weights by name, those that are not finite numbers left out (no bar can show them)."""
    found: dict[str, float] = {}
    for name, weight in weights.items():
        value = _float(weight)
        if value is not None:
            found[str(name)] = value
    return found


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _value(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value)
    return "missing" if value is None else str(value)


def _signed(value: float) -> str:
    return f"+{format_number(value)}" if value >= 0 else f"-{format_number(abs(value))}"
