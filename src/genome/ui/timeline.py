"""A run's attempts on a time line: one row per step, each attempt a segment shaded and marked by how it ended, the
wait before a retry a dashed line, the chosen attempt outlined. Each segment links to its attempt's log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from genome.clock import now_ms
from genome.ui.charts import _WIDTH, STEP_STATES, _cut, _svg

__all__ = ["timeline"]

_ROW, _BAR, _LABEL, _PAD = 30, 18, 170, 10
# Round steps between the time axis's ticks (ms), the first giving at most six ticks.
_STEPS_MS = (
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
)
_ENDINGS = {"timed out": "⊘", "cancelled": "■", "lost": "?"}


def _seconds(ms: float) -> str:
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def timeline(run: Any, *, chosen: tuple[str, int] | None = None) -> Markup | None:
    """The attempts of ``run`` (a RunRead) on one time axis, from its start to its end (or now); None before any
    attempt started. ``chosen`` (step, attempt) is outlined."""
    steps: Sequence[Any] = [step for step in run.steps if step.attempts]
    if not steps:
        return None
    start = min(attempt.start for step in steps for attempt in step.attempts)
    now = now_ms()
    end = max(run.finished or 0, *(attempt.end or now for step in steps for attempt in step.attempts))
    span = max(end - start, 1)
    plot = _WIDTH - _LABEL - 2 * _PAD

    def x(ms: float) -> float:
        return _LABEL + _PAD + (ms - start) / span * plot

    body: list[str] = []
    described = []
    for row, step in enumerate(steps):
        y = _PAD + row * _ROW
        middle = y + _BAR / 2
        body.append(
            f'<text x="{_LABEL - 6}" y="{middle + 4:.0f}" text-anchor="end">{escape(_cut(step.stepName, 24))}</text>'
        )
        previous_end: int | None = None
        for attempt in step.attempts:
            if previous_end is not None:
                body.append(
                    f'<line x1="{x(previous_end):.1f}" y1="{middle:.0f}" x2="{x(attempt.start):.1f}" y2="{middle:.0f}" '
                    'stroke="#777" stroke-dasharray="3 3"><title>waiting to retry</title></line>'
                )
            finish = attempt.end or now
            shade, icon = STEP_STATES.get(attempt.status, ("#ffffff", "?"))
            icon = _ENDINGS.get(attempt.reason or "", icon)
            words = attempt.status + (f" ({attempt.reason})" if attempt.reason and attempt.reason != "failed" else "")
            label = f"{step.stepName}, attempt {attempt.number}: {words}, {_seconds(finish - attempt.start)}"
            outline = 'stroke="#000" stroke-width="3"' if chosen == (step.stepName, attempt.number) else 'stroke="#555"'
            left, width = x(attempt.start), max(x(finish) - x(attempt.start), 4)
            href = f"?step={quote(step.stepName)}&attempt={attempt.number}#log"
            body.append(
                f'<a href="{escape(href)}" class="attempt" data-step="{escape(step.stepName)}" '
                f'data-attempt="{attempt.number}" data-status="{escape(attempt.status)}"><title>{escape(label)}</title>'
                f'<rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{_BAR}" rx="3" fill="{shade}" {outline}/>'
                + (
                    f'<text x="{left + 4:.1f}" y="{middle + 4:.0f}">{icon} {attempt.number}</text>'
                    if width > 28
                    else ""
                )
                + "</a>"
            )
            previous_end = finish
            described.append(label)
    axis_y = _PAD + len(steps) * _ROW
    body.append(f'<line x1="{x(start):.1f}" y1="{axis_y}" x2="{x(end):.1f}" y2="{axis_y}" stroke="#999"/>')
    every = next((step for step in _STEPS_MS if span / step <= 6), span)
    for at in range(0, span + 1, every):
        anchor = "start" if at == 0 else "middle"
        body.append(
            f'<text x="{x(start + at):.1f}" y="{axis_y + 14}" text-anchor="{anchor}" fill="#555">+{_seconds(at)}</text>'
        )
    return _svg("Attempts over time", "; ".join(described) + ".", axis_y + 22, body)
