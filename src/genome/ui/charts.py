"""The UI's pictures as SVG drawn on the server: feature importance bars, a SHAP waterfall, a beeswarm summary and
a text with its words coloured by LIME weight.

Colours come from ColorBrewer's RdBu (color specifications by Cynthia Brewer, colorbrewer.org, Apache License
2.0), a diverging scale that colour-blind readers can tell apart: red pushes the
output up, blue pushes it down, and every picture says so in words too (signs, titles, a legend), so that colour
never carries meaning alone. One scale serves all classes of a model: it is never rescaled per class.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from genome.visualize.colours import RDBU, colour, sign_shade

__all__ = [
    "STEP_STATES",
    "Contribution",
    "DagBox",
    "bars",
    "beeswarm",
    "colour",
    "dag",
    "flow",
    "highlighted_text",
    "history",
    "waterfall",
]

_WIDTH = 760
_ROW = 24
_LABEL = 230  # room for a feature's name and value on the left
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
_ids = itertools.count(1)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _signed(value: float) -> str:
    return f"+{value:.4g}" if value >= 0 else f"-{abs(value):.4g}"


def _svg(
    title: str, description: str, height: float, body: list[str], width: int = _WIDTH, *, fit: bool = True
) -> Markup:
    """An accessible SVG; ``fit``: shrunk to its column when narrower (charts), else drawn at its size and scrolled
    (diagrams, whose text would become unreadable)."""
    # Ids unique across pictures: a page may hold several (a run's DAG and its time line).
    n = next(_ids)
    size = f'width="100%" style="max-width:{width}px"' if fit else f'width="{width}" height="{height:.0f}"'
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height:.0f}" '
        f'{size} aria-labelledby="t{n} d{n}" {_FONT}>'
        f'<title id="t{n}">{escape(title)}</title><desc id="d{n}">{escape(description)}</desc>'
        + "".join(body)
        + "</svg>"
    )


class _Scale:
    """Output values to x positions in the plot area."""

    def __init__(self, values: Sequence[float], left: float, right: float) -> None:
        low, high = min(values), max(values)
        pad = (high - low) * 0.06 or abs(high) * 0.1 or 1.0
        self.low, self.high = low - pad, high + pad
        self.left, self.right = left, right

    def __call__(self, value: float) -> float:
        return self.left + (value - self.low) / (self.high - self.low) * (self.right - self.left)

    def ticks(self, count: int = 5) -> list[float]:
        raw = (self.high - self.low) / count
        step = 10 ** math.floor(math.log10(raw))
        step *= next(multiple for multiple in (1, 2, 5, 10) if step * multiple >= raw)
        first = math.ceil(self.low / step) * step
        return [first + index * step for index in range(count + 2) if first + index * step <= self.high]


def _axis(scale: _Scale, y: float, label: str) -> list[str]:
    parts = [f'<line x1="{scale.left}" x2="{scale.right}" y1="{y}" y2="{y}" stroke="#444"/>']
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}" stroke="#444"/>')
        parts.append(f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle" fill="#333">{_fmt(tick)}</text>')
    middle = (scale.left + scale.right) / 2
    parts.append(f'<text x="{middle:.1f}" y="{y + 32}" text-anchor="middle" fill="#333">{escape(label)}</text>')
    return parts


_PROBABILITIES = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)


def _probability_axis(scale: _Scale, y: float) -> list[str]:
    """A second axis under a log-odds one: where each probability falls (p = 1 / (1 + e^-x)), so the reader sees
    both units of a binary classifier's output at once."""
    parts = [f'<line x1="{scale.left}" x2="{scale.right}" y1="{y}" y2="{y}" stroke="#888"/>']
    for probability in _PROBABILITIES:
        x = scale(math.log(probability / (1 - probability)))
        if scale.left <= x <= scale.right:
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}" stroke="#888"/>')
            parts.append(f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle" fill="#555">{probability:g}</text>')
    middle = (scale.left + scale.right) / 2
    parts.append(f'<text x="{middle:.1f}" y="{y + 32}" text-anchor="middle" fill="#555">probability</text>')
    return parts


def bars(items: Sequence[tuple[str, float]], *, title: str, unit: str, top: int = 15) -> Markup:
    """Horizontal bars, largest first (feature importance: mean |SHAP| per feature)."""
    shown = sorted(items, key=lambda item: -abs(item[1]))[:top]
    if not shown:
        return Markup("")
    height = len(shown) * _ROW + 60
    scale = _Scale([0.0, *(value for _, value in shown)], _LABEL, _WIDTH - 70)
    body = []
    for index, (name, value) in enumerate(shown):
        y = 10 + index * _ROW
        x0, x1 = scale(0.0), scale(value)
        body.append(
            f'<g class="bar"><title>{escape(name)}: {_fmt(value)}</title>'
            f'<text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end">{escape(_cut(name, 34))}</text>'
            f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{abs(x1 - x0):.1f}" height="{_ROW - 6}" '
            f'fill="{RDBU[2]}"/><text x="{max(x0, x1) + 4:.1f}" y="{y + 15}">{_fmt(value)}</text></g>'
        )
    body += _axis(scale, 10 + len(shown) * _ROW + 4, unit)
    described = "; ".join(f"{name} {_fmt(value)}" for name, value in shown)
    return _svg(title, f"{title}, largest first: {described}", height, body)


@dataclass(frozen=True)
class Contribution:
    """One feature's part in one prediction: its name, its value in the record, and its SHAP value."""

    name: str
    value: object
    shap: float


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def waterfall(
    expected: float,
    contributions: Sequence[Contribution],
    *,
    title: str,
    unit: str,
    top: int = 12,
    start: str = "expected value",
    end: str = "prediction",
    limit: float | None = None,
    probability_axis: bool = False,
) -> Markup:
    """From the expected value, each feature's contribution in turn (largest first, the rest gathered into "N other
    features"), to the prediction, which the last bar reaches: expected + the contributions = the prediction."""
    ordered = sorted(contributions, key=lambda item: -abs(item.shap))
    rows: list[tuple[str, float, str]] = [
        (f"{item.name} = {_cell(item.value)}", item.shap, item.name) for item in ordered[:top]
    ]
    rest = ordered[top:]
    if rest:
        rows.append((f"{len(rest)} other features", sum(item.shap for item in rest), ""))
    prediction = expected + sum(item.shap for item in contributions)
    running = [expected]
    for _, shap, _ in rows:
        running.append(running[-1] + shap)
    scale = _Scale(running, _LABEL, _WIDTH - 80)
    # One colour scale for every class of a model: the caller gives the largest value over all of them.
    limit = limit or max((abs(shap) for _, shap, _ in rows), default=1.0)
    body = []
    y = 10
    body.append(
        f'<g class="expected" data-value="{expected!r}">'
        f'<text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end" font-weight="600">'
        f'{escape(start)}</text><line x1="{scale(expected):.1f}" x2="{scale(expected):.1f}" y1="{y}" '
        f'y2="{y + (len(rows) + 1) * _ROW}" stroke="#777" stroke-dasharray="3 3"/>'
        f'<text x="{scale(expected) + 4:.1f}" y="{y + 15}">{_fmt(expected)}</text></g>'
    )
    for index, (label, shap, name) in enumerate(rows):
        y = 10 + (index + 1) * _ROW
        x0, x1 = sorted((scale(running[index]), scale(running[index + 1])))
        direction = "raises" if shap >= 0 else "lowers"
        body.append(
            f'<g class="contribution" data-feature="{escape(name)}" data-shap="{shap!r}">'
            f"<title>{escape(label)} {direction} the output by {_fmt(abs(shap))}</title>"
            f'<text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end">{escape(_cut(label, 34))}</text>'
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="{_ROW - 6}" '
            f'fill="{sign_shade(shap, limit)}" stroke="{colour(shap, limit * 0.5)}"/>'
            f'<text x="{x1 + 4:.1f}" y="{y + 15}">{_signed(shap)}</text></g>'
        )
    y = 10 + (len(rows) + 1) * _ROW
    body.append(
        f'<g class="prediction" data-value="{prediction!r}"><text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end" '
        f'font-weight="600">{escape(end)}</text><line x1="{scale(prediction):.1f}" x2="{scale(prediction):.1f}" '
        f'y1="{y - _ROW}" y2="{y + _ROW - 4}" stroke="#000" stroke-width="2"/>'
        f'<text x="{scale(prediction) + 4:.1f}" y="{y + 15}" font-weight="600">{_fmt(prediction)}</text></g>'
    )
    body += _axis(scale, y + _ROW + 4, unit)
    height = y + _ROW + 44
    if probability_axis:  # a binary classifier's log-odds: its probabilities drawn under them
        body += _probability_axis(scale, y + _ROW + 48)
        height += 44
    described = (
        f"Starts at the {start} {_fmt(expected)}; "
        + "; ".join(f"{label} {_signed(shap)}" for label, shap, _ in rows)
        + f"; ends at the {end} {_fmt(prediction)} ({unit})."
    )
    if probability_axis:
        described += f" That is a probability of {1 / (1 + math.exp(-prediction)):.4g}."
    return _svg(title, described, height, body)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return _fmt(value)
    return _cut(str(value), 16)


def beeswarm(
    names: Sequence[str],
    shap: Sequence[Sequence[float]],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    unit: str,
    top: int = 12,
) -> Markup:
    """One row per feature (most important first), one dot per sample row at its SHAP value, coloured by the
    feature's value in that row from low (blue) to high (red): how a feature's value moves the output."""
    columns = len(names)
    if not columns or not shap:
        return Markup("")
    importance = [sum(abs(row[index]) for row in shap) / len(shap) for index in range(columns)]
    order = sorted(range(columns), key=lambda index: -importance[index])[:top]
    every = [row[index] for row in shap for index in order]
    scale = _Scale([0.0, *every], _LABEL, _WIDTH - 30)
    body = []
    zero = scale(0.0)
    height = len(order) * _ROW + 74
    body.append(
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="6" y2="{len(order) * _ROW + 10}" stroke="#999" '
        'stroke-dasharray="3 3"/>'
    )
    for position, index in enumerate(order):
        y = 10 + position * _ROW + _ROW / 2
        column = [float(row[index]) for row in values]
        low, high = min(column), max(column)
        dots = []
        occupied: dict[int, int] = {}
        for row, feature_value in zip(shap, column, strict=True):
            x = scale(row[index])
            slot = int(x // 4)
            count = occupied.get(slot, 0)
            occupied[slot] = count + 1
            offset = ((count + 1) // 2) * 3 * (1 if count % 2 else -1)
            share = 0.0 if high == low else (feature_value - low) / (high - low) * 2 - 1
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y + max(-9, min(9, offset)):.1f}" r="2.6" '
                f'fill="{colour(share, 1.0)}" fill-opacity="0.85"/>'
            )
        name = names[index]
        body.append(
            f'<g class="feature"><title>{escape(name)}: mean |SHAP| {_fmt(importance[index])}</title>'
            f'<text x="{_LABEL - 8}" y="{y + 4}" text-anchor="end">{escape(_cut(name, 34))}</text>{"".join(dots)}</g>'
        )
    axis_y = len(order) * _ROW + 14
    body += _axis(scale, axis_y, f"SHAP value ({unit})")
    body += _gradient_legend(_WIDTH - 250, axis_y + 56, "feature value: low", "high")
    names_shown = ", ".join(names[index] for index in order)
    return _svg(title, f"{title}; features from most to least important: {names_shown}", height + 36, body)


def _gradient_legend(x: float, y: float, low: str, high: str) -> list[str]:
    steps = [
        f'<rect x="{x + 60 + index * 10}" y="{y - 9}" width="10" height="10" fill="{shade}"/>'
        for index, shade in enumerate(RDBU)
    ]
    return [
        f'<g class="legend"><text x="{x + 56}" y="{y}" text-anchor="end">{escape(low)}</text>{"".join(steps)}'
        f'<text x="{x + 64 + len(RDBU) * 10}" y="{y}">{escape(high)}</text></g>'
    ]


def highlighted_text(
    text: str, spans: Sequence[tuple[str, Sequence[tuple[int, int]], float]], *, limit: float, threshold: float
) -> Markup:
    """``text`` with each explained word's occurrences marked by its weight: red for the class, blue against it,
    solid or dashed underline to say the same without colour; words under ``threshold`` (a share of ``limit``)
    are left plain. ``limit`` is the largest weight over every class, so colours compare across classes."""
    marks: list[tuple[int, int, str, float]] = []
    for word, places, weight in spans:
        if limit and abs(weight) < threshold * limit:
            continue
        for start, end in places:
            if 0 <= start < end <= len(text):
                marks.append((start, end, word, weight))
    marks.sort()
    out, cursor = [], 0
    for start, end, word, weight in marks:
        if start < cursor:
            continue  # overlapping spans: the first one wins
        out.append(escape(text[cursor:start]))
        side = "for" if weight >= 0 else "against"
        strong = " strong" if limit and abs(weight) > 0.6 * limit else ""  # white text on the darkest shades
        out.append(
            f'<mark class="weight {side}{strong}" style="background:{colour(weight, limit)}" data-weight="{weight!r}" '
            f'title="{escape(word)}: {_signed(weight)} ({side} this class)">{escape(text[start:end])}</mark>'
        )
        cursor = end
    out.append(escape(text[cursor:]))
    return Markup("".join(out))


# Okabe and Ito's palette: eight colours that colour-blind readers can tell apart (lines also differ by dash).
_LINES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")


def history(
    series: Mapping[str, Sequence[tuple[int, float]]],
    verdicts: Sequence[tuple[int, str, str]],
    *,
    title: str,
    unit: str,
    top: int = 8,
    marks: bool = True,
) -> Markup:
    """One line per metric across model versions (x: version number), and under them (``marks``) each version's
    verdict as a mark and a word (passed ✓, failed ✗, error !), linked to its run."""
    shown = dict(list(series.items())[:top])
    versions = sorted({version for version, _, _ in verdicts})
    if not versions:
        return Markup("")
    left, right, top_y, plot_h = 70, _WIDTH - 190, 14, 220
    low_v, high_v = versions[0], versions[-1]

    def x_of(version: int) -> float:
        return left + (0.5 if high_v == low_v else (version - low_v) / (high_v - low_v)) * (right - left)

    values = [value for points in shown.values() for _, value in points] or [0.0, 1.0]
    y_scale = _Scale(values, top_y + plot_h, top_y)  # higher values up
    body = [f'<line x1="{left}" x2="{left}" y1="{top_y}" y2="{top_y + plot_h}" stroke="#444"/>']
    for tick in y_scale.ticks(4):
        y = y_scale(tick)
        body.append(
            f'<line x1="{left - 4}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6eb"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{_fmt(tick)}</text>'
        )
    for index, (name, points) in enumerate(shown.items()):
        shade, dash = _LINES[index % len(_LINES)], _DASHES[index % len(_DASHES)]
        path = " ".join(f"{x_of(v):.1f},{y_scale(value):.1f}" for v, value in sorted(points))
        dots = "".join(
            f'<circle cx="{x_of(v):.1f}" cy="{y_scale(value):.1f}" r="3.5" fill="{shade}">'
            f"<title>{escape(name)} at v{v}: {_fmt(value)}</title></circle>"
            for v, value in points
        )
        legend_y = top_y + 14 + index * 18
        body.append(
            f'<g class="series"><polyline points="{path}" fill="none" stroke="{shade}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/>{dots}<line x1="{right + 14}" x2="{right + 38}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{shade}" stroke-width="2" stroke-dasharray="{dash}"/>'
            f'<text x="{right + 44}" y="{legend_y}">{escape(_cut(name, 22))}</text></g>'
        )
    axis_y = top_y + plot_h
    body.append(f'<line x1="{left}" x2="{right}" y1="{axis_y}" y2="{axis_y}" stroke="#444"/>')
    glyphs = {"passed": ("✓", "#1b7837"), "failed": ("✗", "#b2182b"), "error": ("!", "#8c510a")}
    for version, status, link in verdicts if marks else ():
        glyph, shade = glyphs.get(status, ("·", "#555"))
        x = x_of(version)
        body.append(
            f'<a href="{escape(link)}" class="verdict" data-version="{version}" data-status="{escape(status)}">'
            f"<title>v{version}: {escape(status)}</title>"
            f'<text x="{x:.1f}" y="{axis_y + 18}" text-anchor="middle">v{version}</text>'
            f'<text x="{x:.1f}" y="{axis_y + 36}" text-anchor="middle" fill="{shade}" font-weight="700">{glyph}</text>'
            f'<text x="{x:.1f}" y="{axis_y + 50}" text-anchor="middle" fill="{shade}" font-size="10">'
            f"{escape(status)}</text></a>"
        )
    described = "; ".join(f"v{version} {status}" for version, status, _ in verdicts)
    lines = ", ".join(shown) or "no numeric metric"
    if not marks:
        return _svg(title, f"{title}. Lines: {lines}.", axis_y + 24, body)
    return _svg(title, f"{title}. Verdicts: {described}. Lines: {lines}.", axis_y + 60, body)


# A step's state: a colour-blind-safe shade, and an icon and a word, so colour never carries it alone.
STEP_STATES = {
    "pending": ("#eef0f4", "○"),
    "running": ("#d1e5f0", "▶"),
    "succeeded": ("#d9f0d3", "✓"),
    "failed": ("#fddbc7", "✗"),
    "cancelled": ("#e3e3e3", "■"),
    "skipped": ("#f5f5f5", "-"),
}


@dataclass(frozen=True)
class DagBox:
    """A box of a DAG: a step's ``name`` in bold and ``lines`` under it, each ``(text, kind)`` where kind is
    ``state`` (the step's state, which the run page repaints), ``code`` (a command, monospaced) or ``meta``
    (small print). ``tooltip`` says it all in words; ``href`` makes the box a link; ``status`` is its state for
    the run page's live updates."""

    name: str
    lines: tuple[tuple[str, str], ...]
    tooltip: str
    shade: str = "#ffffff"
    href: str | None = None
    status: str | None = None


# Arrows drawn one by one between two columns of a DAG; more meet at a point between them.
_ARROWS_MAX = 16
_LINE_STYLE = {
    "state": 'class="state"',
    "code": 'font-size="10" fill="#333" font-family="ui-monospace, SFMono-Regular, Menlo, monospace"',
    "meta": 'font-size="10" fill="#555"',
}


def flow(columns: Sequence[Sequence[DagBox]], *, title: str, description: str, box_width: int = 170) -> Markup:
    """Boxes in columns drawn left to right in order, a column's boxes stacked, with arrows from every box of a
    column to every box of the next: a pipeline's groups, parallel steps side by side in one column."""
    most_lines = max((len(box.lines) for column in columns for box in column), default=1)
    box_w, box_h, gap_x, gap_y, pad = box_width, 38 + 13 * max(most_lines - 1, 0) + 5, 60, 16, 12
    tallest = max((len(column) for column in columns), default=1)
    height = pad * 2 + tallest * box_h + (tallest - 1) * gap_y
    width = pad * 2 + len(columns) * box_w + max(len(columns) - 1, 0) * gap_x
    places: list[list[tuple[float, float]]] = []
    for index, column in enumerate(columns):
        span = len(column) * box_h + (len(column) - 1) * gap_y
        top = (height - span) / 2
        places.append([(pad + index * (box_w + gap_x), top + row * (box_h + gap_y)) for row in range(len(column))])
    body = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>'
    ]
    for sources, targets in itertools.pairwise(places):
        if len(sources) * len(targets) <= _ARROWS_MAX:
            for x1, y1 in sources:
                for x2, y2 in targets:
                    body.append(
                        f'<path d="M {x1 + box_w:.0f} {y1 + box_h / 2:.0f} C {x1 + box_w + gap_x / 2:.0f} '
                        f"{y1 + box_h / 2:.0f}, {x2 - gap_x / 2:.0f} {y2 + box_h / 2:.0f}, {x2 - 2:.0f} "
                        f'{y2 + box_h / 2:.0f}" fill="none" stroke="#999" marker-end="url(#arrow)"/>'
                    )
            continue
        # Many boxes to many: each meets one point between the columns, so the lines grow as N + M, not N x M
        # (two groups of 1,000 steps would otherwise draw a million arrows into every reader's page).
        hub_x, hub_y = sources[0][0] + box_w + gap_x / 2, height / 2
        for x1, y1 in sources:
            body.append(
                f'<path d="M {x1 + box_w:.0f} {y1 + box_h / 2:.0f} C {hub_x:.0f} {y1 + box_h / 2:.0f}, '
                f'{hub_x:.0f} {y1 + box_h / 2:.0f}, {hub_x:.0f} {hub_y:.0f}" fill="none" stroke="#999"/>'
            )
        for x2, y2 in targets:
            body.append(
                f'<path d="M {hub_x:.0f} {hub_y:.0f} C {hub_x:.0f} {y2 + box_h / 2:.0f}, {hub_x:.0f} '
                f'{y2 + box_h / 2:.0f}, {x2 - 2:.0f} {y2 + box_h / 2:.0f}" fill="none" stroke="#999" '
                'marker-end="url(#arrow)"/>'
            )
    name_chars, line_chars = (box_w - 20) // 8, (box_w - 20) // 6
    for index, column in enumerate(columns):
        for box, (x, y) in zip(column, places[index], strict=True):
            status = f' data-status="{escape(box.status)}"' if box.status is not None else ""
            tag, href = ("a", f' href="{escape(box.href)}"') if box.href else ("g", "")
            lines = "".join(
                f'<text x="{x + 10:.0f}" y="{y + 38 + 13 * number:.0f}" {_LINE_STYLE[kind]}>'
                f"{escape(text if kind == 'state' else _cut(text, line_chars))}</text>"
                for number, (text, kind) in enumerate(box.lines)
            )
            body.append(
                f'<{tag}{href} class="step" data-step="{escape(box.name)}" data-group="{index}"{status}>'
                f"<title>{escape(box.tooltip)}</title>"
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="6" fill="{box.shade}" '
                f'stroke="#555"/><text x="{x + 10:.0f}" y="{y + 20:.0f}" font-weight="600">'
                f"{escape(_cut(box.name, name_chars))}</text>{lines}</{tag}>"
            )
    return _svg(title, description, height, body, width=width, fit=False)


def dag(steps: Sequence[Any], *, link: str) -> Markup:
    """A run's steps as a DAG (``flow``): each box with its type, state (shade, icon and word) and attempts, linked
    to ``link`` + its name. Boxes carry ``data-step`` and ``data-status`` for the page's live updates."""
    groups: dict[int, list[DagBox]] = {}
    for step in steps:
        shade, icon = STEP_STATES.get(step.status, ("#ffffff", "?"))
        tries = len(step.attempts)
        retried = " after a retry" if tries > 1 and step.status == "succeeded" else ""
        attempts = f"{tries} attempt{'' if tries == 1 else 's'}"
        box = DagBox(
            name=step.stepName,
            lines=((f"{icon} {step.status}{retried}", "state"), (f"{step.stepType} · {attempts}", "meta")),
            tooltip=f"{step.stepName}: {step.status}{retried}, {attempts}",
            shade=shade,
            href=link + step.stepName,
            status=step.status,
        )
        groups.setdefault(step.group, []).append(box)
    states = "; ".join(f"{step.stepName} {step.status}" for step in steps)
    columns = [groups[group] for group in sorted(groups)]
    return flow(columns, title="The run's steps", description=f"Steps in order, parallel ones stacked: {states}.")


def sparkline(values: Sequence[float | None], *, label: str) -> Markup:
    """A small line of ``values`` (oldest first, the last one now, gaps where None), the last point marked; its
    accessible name is ``label`` followed by the values."""
    width, height, pad = 90, 22, 3
    known = [value for value in values if value is not None]
    if len(known) < 2:
        return Markup("")
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def point(index: int, value: float) -> tuple[float, float]:
        return pad + index * step, height - pad - (value - low) / span * (height - 2 * pad)

    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        x, y = point(index, value)
        segments[-1].append(f"{x:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(part)}" fill="none" stroke="#0072b2" stroke-width="1.5"/>'
        for part in segments
        if len(part) > 1
    )
    last = values[-1]
    dot = ""
    if last is not None:
        x, y = point(len(values) - 1, last)
        dot = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#d55e00"/>'
    words = ", ".join("none" if value is None else _fmt(value) for value in values)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}: {escape(words)}">{lines}{dot}</svg>'
    )
