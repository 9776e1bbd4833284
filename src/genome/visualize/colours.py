"""The diverging scale every picture of signed amounts shares (SHAP values, coefficients, contributions): ColorBrewer
RdBu, which colour-blind readers can tell apart, from strong blue (lowers the output) through white to strong red
(raises it). Pictures also say the sign in words or symbols: colour is never the only cue."""

from __future__ import annotations

import math

__all__ = ["RDBU", "colour", "sign_shade"]

# ColorBrewer RdBu (11 classes), from strong blue (-1) through white (0) to strong red (+1).
RDBU = (
    "#053061",
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
    "#67001f",
)


def _rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def colour(value: float, limit: float) -> str:
    """The RdBu colour of ``value`` on a scale from ``-limit`` (blue) to ``+limit`` (red), interpolated."""
    if not limit or not math.isfinite(value):
        return RDBU[5]
    position = (max(-1.0, min(1.0, value / limit)) + 1) / 2 * (len(RDBU) - 1)
    low = math.floor(position)
    high = min(low + 1, len(RDBU) - 1)
    share = position - low
    mixed = [round(a + (b - a) * share) for a, b in zip(_rgb(RDBU[low]), _rgb(RDBU[high]), strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def sign_shade(value: float, limit: float) -> str:
    """A bar's fill: its sign always visible (a third of the way into the scale at least), its size in the shade."""
    share = min(abs(value) / limit, 1.0) if limit else 0.0
    return colour(math.copysign(0.35 + 0.65 * share, value), 1.0)
