"""A tree view drawn as SVG, in the manner of dtreeviz but with no graphviz, matplotlib or font files: the layout
and the markup are written here, so any host can answer ``format: svg``.

Leaves (and collapsed nodes) take consecutive slots left to right and each parent sits centred over its children,
so the drawing widens with the leaves; the ``viewBox`` keeps every detail while ``width`` is capped for display.
Each node is a ``<g id="node-<id>" class="node split|leaf [collapsed] [on-path]">`` for tests and UIs to find.
"""

from __future__ import annotations

import html
import itertools
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from genome.visualize.graph import format_number

__all__ = ["PALETTE", "PATH_COLOUR", "render_tree"]

# Okabe-Ito, safe for colour-blind readers; its vermillion is kept back for the prediction path
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#999999")
PATH_COLOUR = "#D55E00"
_INK, _MUTED, _EDGE, _FILL = "#222222", "#666666", "#B4B4B4", "#FAFAFA"
_FONT = "Helvetica, Arial, sans-serif"
_BOX_W, _SLOT, _GAP, _MARGIN = 164.0, 180.0, 64.0, 16.0  # box width, room per leaf, space between levels
_PAD, _LINE, _PLOT_H, _BAR_H = 6.0, 15.0, 40.0, 8.0
_MIN_WIDTH, _MAX_WIDTH = 560.0, 1600.0  # the drawing's width before scaling; the displayed width's cap
_CHAR = 0.6  # average glyph width per unit of font size: there are no font metrics to measure text with


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot hold


def _escape(text: str) -> str:
    return html.escape(_NOT_XML.sub("", text), quote=True)


class _Colours(dict[str, str]):
    """Class (or data group) -> colour, handed out in order of first use so the legend can list them all."""

    def __missing__(self, key: str) -> str:
        colour = PALETTE[len(self) % len(PALETTE)]
        self[key] = colour
        return colour


@dataclass
class _Box:
    node: dict[str, Any] | None  # None: a child the view left out (the node budget ran out between siblings)
    level: int
    children: list[_Box] = field(default_factory=list)
    x: float = 0.0  # centre
    y: float = 0.0  # top
    height: float = 0.0  # of the outlined box
    extent: float = 0.0  # of everything drawn, the "+N nodes" marker under a collapsed node included
    body: list[str] = field(default_factory=list)  # markup relative to the box's top-left corner


def _description(boxes: list[_Box], caption: list[str]) -> str:
    """What a screen reader says of the drawing: its size, and the record's path and prediction when traced."""
    leaves = sum(1 for box in boxes if box.node is not None and box.node.get("leaf"))
    text = f"{len(boxes)} nodes drawn, {leaves} of them leaves."
    return " ".join([text, *caption])


def render_tree(view: dict[str, Any]) -> str:
    """Draw a tree view (the dict ``ModelVisualizer.visualize`` returns for a tree) as a standalone SVG document.

    Example:
        >>> view = {"estimatorClass": "DecisionTreeRegressor", "predictionType": "regression", "tree": 0,
        ...         "trees": 1, "truncated": False, "root": 0, "featureNames": ["x"], "targetClasses": None,
        ...         "path": None, "data": None, "nodes": [{"id": 0, "leaf": True, "prediction": 2.5,
        ...         "samples": 10.0, "value": 2.5, "classCounts": None}]}
        >>> render_tree(view).startswith("<svg")
        True
    """
    nodes = {int(node["id"]): node for node in view["nodes"]}
    root = int(view.get("root") or 0)
    classification = view.get("predictionType") == "classification"
    path = view.get("path")
    on_path = [int(node) for node in path["nodes"]] if path else []
    data = (view.get("data") or {}).get("nodes") or {}
    classes = [str(label) for label in view.get("targetClasses") or []]
    colours = _Colours({label: PALETTE[i % len(PALETTE)] for i, label in enumerate(classes)})

    boxes, slots = _layout(nodes, root if root in nodes else next(iter(nodes), root))
    for box in boxes:
        _paint(box, data, classes, colours, classification)

    width = max(slots * _SLOT, _MIN_WIDTH) + 2 * _MARGIN
    estimator = str(view.get("estimatorClass") or "Tree").rsplit(".", 1)[-1]  # the class, not its module path
    title = f"{estimator} · tree #{int(view.get('tree', 0))} of {view.get('trees', 1)}"
    title += f" · from node {root}" if root else ""
    title += " (view truncated)" if view.get("truncated") else ""
    legend, legend_h = _legend(colours, width)
    top = _MARGIN + 24 + legend_h + 8
    level_top: dict[int, float] = {}
    level_h: dict[int, float] = {}
    for box in boxes:
        level_h[box.level] = max(level_h.get(box.level, 0.0), box.extent)
    for level in sorted(level_h):
        level_top[level] = top
        top += level_h[level] + _GAP
    left = (width - slots * _SLOT) / 2
    for box in boxes:
        box.x += left
        box.y = level_top[box.level]

    caption = _caption(path, classification, width) if path else []
    height = top - _GAP + 16 + len(caption) * 16 + _MARGIN
    shown = min(1.0, _MAX_WIDTH / width)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" role="img" width="{_n(width * shown)}" '
        f'height="{_n(height * shown)}" viewBox="0 0 {_n(width)} {_n(height)}" font-family="{_FONT}">',
        f"<title>{_escape(title)}</title>",
        f"<desc>{_escape(_description(boxes, caption))}</desc>",
        f'<rect width="{_n(width)}" height="{_n(height)}" fill="white"/>',
        _text(_MARGIN, _MARGIN + 14, title, size=15, anchor="start", bold=True),
        f'<g class="legend" transform="translate({_n(_MARGIN)},{_n(_MARGIN + 26)})">{"".join(legend)}</g>',
    ]
    out.extend(_edges(boxes, on_path))
    marked = set(on_path)
    for box in boxes:
        out.append(_group(box, box.node is not None and int(box.node["id"]) in marked))
    y = top - _GAP + 24
    for index, line in enumerate(caption):  # the rules, then the prediction
        out.append(
            _text(_MARGIN, y, line, size=12, anchor="start", fill=PATH_COLOUR if index == len(caption) - 1 else _INK)
        )
        y += 16
    out.append("</svg>")
    return "\n".join(out)


def _layout(nodes: dict[int, dict[str, Any]], root: int) -> tuple[list[_Box], int]:
    """The boxes in preorder, centres set, and the number of leaf slots (walked without recursion: a view of a
    deep tree is a long chain)."""
    order: list[_Box] = []
    stack = [_Box(nodes.get(root), 0)]
    while stack:
        box = stack.pop()
        order.append(box)
        node = box.node
        if node is None or node.get("leaf"):
            continue
        kids = [node.get("left"), node.get("right")]  # a node cut between its children shows the one in view
        if any(kid in nodes for kid in kids):
            box.children = [_Box(nodes.get(kid) if kid is not None else None, box.level + 1) for kid in kids]
            stack.extend(reversed(box.children))
    slots = 0
    for box in order:
        if not box.children:
            box.x = (slots + 0.5) * _SLOT
            slots += 1
    for box in reversed(order):  # children before parents
        if box.children:
            box.x = (box.children[0].x + box.children[-1].x) / 2
    return order, slots


def _paint(box: _Box, data: dict[str, Any], classes: list[str], colours: _Colours, classification: bool) -> None:
    """Fill in a box's markup (relative to its top-left corner) and its height."""
    node = box.node
    if node is None:
        box.height = box.extent = 24.0
        box.body = [_text(_BOX_W / 2, 16, "… not in view", size=10, fill=_MUTED)]
        return
    leaf = bool(node.get("leaf"))
    head = _prediction(node.get("prediction"), classification) if leaf else _split(node)
    body = [_text(_BOX_W / 2, _PAD + 11, head, size=12, bold=True, width=_BOX_W - 2 * _PAD)]
    y = _PAD + _LINE
    stats = data.get(str(node["id"])) or {}
    if not leaf and (plot := _plot(stats, node, classes, colours)):
        body.append(f'<g transform="translate(0,{_n(y + 2)})">{"".join(plot)}</g>')
        y += _PLOT_H + 16
    if facts := _facts(node, classification):
        body.append(_text(_BOX_W / 2, y + 10, facts, size=10, fill=_MUTED, width=_BOX_W - 2 * _PAD))
        y += _LINE - 2
    counts = [float(c) for c in node.get("classCounts") or []]
    if sum(counts) > 0:
        x = _PAD
        for index, count in enumerate(counts):
            share = count / sum(counts) * (_BOX_W - 2 * _PAD)
            key = classes[index] if index < len(classes) else str(index)
            body.append(_rect(x, y + 2, share, _BAR_H, colours[key], "share"))
            x += share
        y += _BAR_H + 4
    box.height = box.extent = y + _PAD
    if node.get("collapsed") and not box.children:
        hidden = int(node.get("descendants") or 0)  # the API counts the nodes below, the node itself excluded
        body.append(
            f'<line x1="{_n(_BOX_W / 2)}" y1="{_n(box.height)}" x2="{_n(_BOX_W / 2)}" y2="{_n(box.height + 14)}" '
            f'stroke="{_EDGE}" stroke-dasharray="3,3"/>'
        )
        body.append(_text(_BOX_W / 2, box.height + 27, f"+{hidden} nodes", size=11, fill=_MUTED))
        box.extent += 32
    box.body = body


def _plot(stats: dict[str, Any], node: dict[str, Any], classes: list[str], colours: _Colours) -> list[str]:
    """The split feature at the node, from the stored sample: a histogram stacked by class, or a scatter of the
    target (regression), with a wedge under the axis at the threshold."""
    x0, width = _PAD + 4, _BOX_W - 2 * _PAD - 8
    out: list[str] = []
    threshold = node.get("threshold") if node.get("categories") is None else None
    if hist := stats.get("histogram"):
        edges = [float(e) for e in hist["edges"]]
        counts = {_class_key(str(key), classes): [float(c) for c in col] for key, col in hist["counts"].items()}
        bins = len(edges) - 1
        totals = [sum(column[i] for column in counts.values()) for i in range(bins)]
        if bins < 1 or not any(totals):
            return []
        step, peak = width / bins, max(totals)
        for i in range(bins):
            base = _PLOT_H
            for key, column in counts.items():
                if column[i] > 0:
                    base -= column[i] / peak * _PLOT_H
                    out.append(_rect(x0 + i * step, base, step, column[i] / peak * _PLOT_H, colours[key], "bin"))
        low, high = edges[0], edges[-1]
    elif (scatter := stats.get("scatter")) and scatter.get("x"):
        points = [(float(x), float(y)) for x, y in zip(scatter["x"], scatter["y"], strict=True) if x is not None]
        if not points:
            return []
        low, high = min(p[0] for p in points), max(p[0] for p in points)
        floor, ceiling = min(p[1] for p in points), max(p[1] for p in points)
        for x, y in points:
            cx = x0 + _scale(x, low, high) * width
            cy = _PLOT_H - _scale(y, floor, ceiling) * (_PLOT_H - 3) - 1.5
            out.append(f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="1.6" fill="{PALETTE[0]}" fill-opacity="0.6"/>')
    else:
        return []
    out.append(f'<line x1="{_n(x0)}" y1="{_n(_PLOT_H)}" x2="{_n(x0 + width)}" y2="{_n(_PLOT_H)}" stroke="{_MUTED}"/>')
    if threshold is not None and high > low:
        tx = x0 + _scale(min(max(float(threshold), low), high), low, high) * width
        wedge = f"{_n(tx)},{_n(_PLOT_H + 1)} {_n(tx - 4)},{_n(_PLOT_H + 7)} {_n(tx + 4)},{_n(_PLOT_H + 7)}"
        out.append(f'<polygon class="threshold" points="{wedge}" fill="{_INK}"/>')
    out.append(_text(x0, _PLOT_H + 14, format_number(low), size=8, anchor="start", fill=_MUTED))
    out.append(_text(x0 + width, _PLOT_H + 14, format_number(high), size=8, anchor="end", fill=_MUTED))
    return out


def _edges(boxes: list[_Box], on_path: list[int]) -> list[str]:
    """Curves from each parent to its children, labelled with the branch's condition; the path's drawn last, on
    top."""
    steps = set(itertools.pairwise(on_path))
    plain: list[str] = []
    marked: list[str] = []
    for box in boxes:
        if box.node is None:
            continue
        for side, child in enumerate(box.children):
            x1, y1, x2, y2 = box.x, box.y + box.height, child.x, child.y
            mid = (y1 + y2) / 2
            hit = child.node is not None and (int(box.node["id"]), int(child.node["id"])) in steps
            colour, stroke = (PATH_COLOUR, 3.0) if hit else (_EDGE, 1.2)
            label = _branch(box.node, side == 0)
            (marked if hit else plain).extend(
                [
                    f'<path class="edge{" on-path" if hit else ""}" d="M{_n(x1)},{_n(y1)} C{_n(x1)},{_n(mid)} '
                    f'{_n(x2)},{_n(mid)} {_n(x2)},{_n(y2)}" fill="none" stroke="{colour}" stroke-width="{stroke}"/>',
                    _text(
                        x2 + (-6 if side == 0 else 6),  # beside the curve's last, upright stretch: clear of it
                        y2 - 8,
                        label,
                        size=10,
                        anchor="end" if side == 0 else "start",
                        fill=PATH_COLOUR if hit else _MUTED,
                        width=_SLOT / 2 - 12,
                    ),
                ]
            )
    return plain + marked


def _group(box: _Box, hit: bool) -> str:
    node = box.node
    left, top = box.x - _BOX_W / 2, box.y
    stroke, outline = (PATH_COLOUR, 2.5) if hit else (_MUTED, 1.0)
    if node is None:
        frame = f'stroke="{_EDGE}" stroke-dasharray="4,3"'
        return (
            f'<g class="stub" transform="translate({_n(left)},{_n(top)})">'
            f'<rect width="{_n(_BOX_W)}" height="{_n(box.height)}" rx="6" fill="white" {frame}/>{"".join(box.body)}</g>'
        )
    kind = "leaf" if node.get("leaf") else "split"
    classes = " ".join(["node", kind] + ["collapsed"] * bool(node.get("collapsed")) + ["on-path"] * hit)
    tip = f"node {node['id']}: " + (_split(node) if kind == "split" else str(node.get("prediction")))
    return (
        f'<g id="node-{int(node["id"])}" class="{classes}" transform="translate({_n(left)},{_n(top)})">'
        f"<title>{_escape(tip)}</title>"
        f'<rect class="box" width="{_n(_BOX_W)}" height="{_n(box.height)}" rx="6" fill="{_FILL}" '
        f'stroke="{stroke}" stroke-width="{outline}"/>{"".join(box.body)}</g>'
    )


def _legend(colours: _Colours, width: float) -> tuple[list[str], float]:
    """Swatches for the classes (and any other data groups), wrapped to the drawing's width."""
    out: list[str] = []
    x = y = 0.0
    for label, colour in colours.items():
        if label == "all":  # an ungrouped histogram (regression): nothing to tell apart
            continue
        room = 18 + len(label) * 11 * _CHAR + 14
        if x and x + room > width - 2 * _MARGIN:
            x, y = 0.0, y + 16
        out.append(_rect(x, y, 10, 10, colour, "swatch"))
        out.append(_text(x + 14, y + 9, label, size=11, anchor="start"))
        x += room
    return out, (y + 16 if out else 0.0)


def _caption(path: dict[str, Any], classification: bool, width: float) -> list[str]:
    rules = " and ".join(str(rule) for rule in path.get("rules") or []) or "always"
    lines = textwrap.wrap(f"Path: {rules}", int((width - 2 * _MARGIN) / (12 * _CHAR)))
    return [*lines, f"Prediction: {_prediction(path.get('prediction'), classification)}"]


def _class_key(key: str, classes: list[str]) -> str:
    """The class a data group stands for: itself, or the class named by a code (targets stored as 0..k-1 for a model
    given class names), so bars and histograms share colours."""
    if key in classes:
        return key
    try:
        code = float(key)
    except ValueError:
        return key
    return classes[int(code)] if code.is_integer() and 0 <= code < len(classes) else key


def _split(node: dict[str, Any]) -> str:
    """The test at a split, as the left branch reads it: ``bmi <= 0.03``, ``city in {1, 4}``."""
    name = str(node.get("feature") or "?")
    if node.get("categories") is not None:
        return f"{name} in {{{_listed(node['categories'])}}}"
    if node.get("threshold") is None:  # a split of missing from present values
        return f"{name} is not missing"
    return f"{name} {'<' if node.get('strict') else '<='} {format_number(float(node['threshold']))}"


def _branch(node: dict[str, Any], left: bool) -> str:
    if node.get("categories") is not None:
        return f"{'in' if left else 'not in'} {{{_listed(node['categories'])}}}"
    if node.get("threshold") is None:
        return "yes" if left else "no"
    ops = ("<", "≥") if node.get("strict") else ("≤", ">")
    return f"{ops[0] if left else ops[1]} {format_number(float(node['threshold']))}"


def _facts(node: dict[str, Any], classification: bool) -> str:
    facts = [] if node.get("samples") is None else [f"n={format_number(float(node['samples']))}"]
    if not classification and not node.get("leaf") and node.get("value") is not None:
        facts.append(f"value {format_number(float(node['value']))}")
    return " · ".join(facts)


def _prediction(value: Any, classification: bool) -> str:
    if value is None:
        return "?"
    shown = format_number(value) if isinstance(value, float) else str(value)
    return f"→ {shown}" if classification else shown


def _listed(categories: list[Any]) -> str:
    return ", ".join(format_number(c) if isinstance(c, float) else str(c) for c in categories)


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float = 11,
    anchor: str = "middle",
    fill: str = _INK,
    bold: bool = False,
    width: float | None = None,
) -> str:
    if width is not None and len(text) * size * _CHAR > width:  # cut to fit; the group's <title> has it whole
        text = text[: max(1, int(width / (size * _CHAR)) - 1)] + "…"
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size:g}" text-anchor="{anchor}" fill="{fill}"{weight}>'
        f"{_escape(text)}</text>"
    )


def _rect(x: float, y: float, width: float, height: float, fill: str, kind: str) -> str:
    return f'<rect class="{kind}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" fill="{fill}"/>'


def _scale(value: float, low: float, high: float) -> float:
    return 0.5 if high <= low else (value - low) / (high - low)


def _n(value: float) -> str:
    return f"{value:.1f}"
