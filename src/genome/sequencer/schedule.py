"""When stored pipelines run: durations, fixed periods ("6h") and cron expressions ("*/5 * * * *").

Times are integer milliseconds since the epoch, UTC, as everywhere in Genome.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterError, croniter

from genome.errors import InvalidInput

__all__ = ["Schedule", "parse_duration", "parse_schedule"]

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_NUMBER = r"\d+(?:\.\d+)?"
# Units at most once each, largest first, as in "1h30m"; a bare number is seconds.
_DURATION = re.compile("".join(f"(?:(?P<{unit}>{_NUMBER}){unit})?" for unit in _UNIT_SECONDS))
_BARE_SECONDS = re.compile(_NUMBER)
# croniter's "R" picks a random value each time the expression is expanded, so due times would drift.
_RANDOM_CRON_FIELD = re.compile(r"\bR\b", re.IGNORECASE)
_MIN_PERIOD_MS = 1_000
# Long enough for any real schedule, short enough to stay far inside a 64-bit column.
_MAX_PERIOD_MS = 366 * 86_400_000
_EXAMPLES = "a period like '30s', '30m', '6h', '1d' or a cron expression like '*/5 * * * *' or '@daily' (UTC)"


def parse_duration(value: str | float) -> float:
    """Read a duration in seconds from a number of seconds or text like "360s", "5m", "1h30m", "1d" or "90".

    Example:
        >>> parse_duration("1h30m")
        5400.0
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{value!r} is not a duration like '360s', '5m', '1h'")
    if isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
        if seconds is None:
            raise InvalidInput(f"{value!r} is not a duration like '360s', '5m', '1h'")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"{value!r} is not a duration: it must be a finite, non-negative number of seconds")
    return seconds


def _parse_duration_text(text: str) -> float | None:
    if _BARE_SECONDS.fullmatch(text):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    return sum(float(amount) * _UNIT_SECONDS[unit] for unit, amount in match.groupdict().items() if amount)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: exactly one of ``period_ms`` and ``cron`` is set."""

    text: str
    period_ms: int | None = None
    cron: str | None = None

    def first_run(self, created_ms: int) -> int:
        """When a newly stored pipeline first runs: one period after creation (never at once, as in the seed), or
        the first cron time strictly after creation."""
        if self.period_ms is not None:
            return created_ms + self.period_ms
        return self._cron_after(created_ms)

    def next_after(self, previous_due_ms: int, now_ms: int) -> int:
        """The next due time strictly after both ``now_ms`` and ``previous_due_ms``.

        Occurrences missed while the scheduler was down are skipped, so they fire once rather than once each. A
        period keeps its phase: the result is ``previous_due_ms + k * period_ms`` for the smallest ``k >= 1`` that
        lands after ``now_ms``.

        Example:
            >>> hour = 3_600_000
            >>> parse_schedule("1h").next_after(10 * hour, now_ms=13 * hour + hour // 2) == 14 * hour
            True
        """
        if self.period_ms is not None:
            periods = max(1, (now_ms - previous_due_ms) // self.period_ms + 1)
            return previous_due_ms + periods * self.period_ms
        return self._cron_after(max(previous_due_ms, now_ms))

    def _cron_after(self, after_ms: int) -> int:
        start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
        seconds: float = croniter(self.cron, start).get_next(float)
        return round(seconds * 1000)


def parse_schedule(text: str) -> Schedule:
    """Read a pipeline's schedule: a period of at least one second ("30s", "6h", "1d") or a five-field cron
    expression or ``@hourly``-style alias, evaluated in UTC.

    Example:
        >>> parse_schedule("6h").period_ms
        21600000
        >>> parse_schedule("*/5 * * * *").cron
        '*/5 * * * *'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"schedule {text!r} is not {_EXAMPLES}", field="schedule")
    text = text.strip()
    seconds = _parse_duration_text(text)
    if seconds is not None:
        period_ms = round(seconds * 1000)
        if not _MIN_PERIOD_MS <= period_ms <= _MAX_PERIOD_MS:
            raise InvalidInput(
                f"schedule {text!r} must be a period from 1 second to 366 days; use a cron expression for rarer runs",
                field="schedule",
            )
        return Schedule(text=text, period_ms=period_ms)
    problem = _cron_problem(text)
    if problem:
        raise InvalidInput(f"schedule {text!r} {problem}", field="schedule")
    return Schedule(text=text, cron=text)


def _cron_problem(text: str) -> str | None:
    # Seconds and year fields (croniter's 6th and 7th) are refused: "* * * * * *" would read as seconds, and a past
    # year never fires again.
    if not (text.startswith("@") or len(text.split()) == 5) or not croniter.is_valid(text):
        return f"is not {_EXAMPLES}"
    if _RANDOM_CRON_FIELD.search(text):
        return "uses a random field ('R'), so its due times would change each time it is read"
    try:  # valid syntax can still name a date that never comes
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(float)
    except CroniterError:
        return "never fires: no date matches it"
    return None
