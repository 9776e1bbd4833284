"""When stored pipelines run: durations, fixed periods ("6h") and cron expressions ("*/5 * * * *"), their next
due times, and how to say them in words ("every 6 hours", "at 02:00 UTC on Monday").

Times are integer milliseconds since the epoch, UTC, as everywhere in Genome.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
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

    def upcoming(self, first_ms: int, count: int = 5) -> list[int]:
        """``count`` due times from ``first_ms`` (a pipeline's ``nextRun``) on, as the schedule fires them.

        Example:
            >>> hour = 3_600_000
            >>> parse_schedule("6h").upcoming(hour, 3) == [hour, 7 * hour, 13 * hour]
            True
        """
        times = [first_ms] if count > 0 else []
        while len(times) < count:
            times.append(self.next_after(times[-1], times[-1]))
        return times

    def describe(self) -> str:
        """The schedule in English: "every 30 minutes", "every day at 02:00 UTC", "at 02:00 UTC on Monday".

        Common cron shapes get words; an unusual one (last day of the month, both a day of the month and a
        weekday, many scattered times) is given as the expression itself.

        Example:
            >>> parse_schedule("1d").describe()
            'every day'
            >>> parse_schedule("30 2 * * mon-fri").describe()
            'at 02:30 UTC on Monday to Friday'
        """
        if self.period_ms is not None:
            return _describe_period(self.period_ms)
        assert self.cron is not None  # one of the two is always set
        return _describe_cron(self.cron) or f"cron {self.cron} (UTC)"

    def _cron_after(self, after_ms: int) -> int:
        start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
        seconds: float = croniter(self.cron, start).get_next(float)
        return round(seconds * 1000)


_PERIOD_UNITS = (("week", 604_800_000), ("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000))


def _describe_period(period_ms: int) -> str:
    if period_ms % 1000:
        return f"every {period_ms / 1000:g} seconds"
    parts, rest = [], period_ms
    for unit, size in _PERIOD_UNITS:
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
    if parts == [f"1 {parts[0].split()[1]}"]:
        return f"every {parts[0].split()[1]}"  # "every day", not "every 1 day"
    return "every " + _join(parts)


_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MOST_TIMES = 6  # more times a day than this read better as the expression


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _runs(values: list[int]) -> list[list[int]]:
    """Consecutive values grouped: [1, 2, 3, 5] -> [[1, 2, 3], [5]]."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return runs


def _names(values: list[int], names: Callable[[int], str]) -> str:
    """Names of values, a run of three or more written as a range ("Monday to Friday")."""
    words = []
    for run in _runs(values):
        if len(run) >= 3:
            words.append(f"{names(run[0])} to {names(run[-1])}")
        else:
            words.extend(names(value) for value in run)
    return _join(words)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _every(values: list[int], size: int) -> int | None:
    """N when ``values`` are 0, N, 2N, ... and N divides ``size``, so the gaps are even all round."""
    step = values[1] - values[0] if len(values) > 1 else 0
    if step > 1 and size % step == 0 and values == list(range(0, size, step)):
        return step
    return None


def _describe_time(minutes: list[int] | None, hours: list[int] | None) -> str | None:
    """When in the day: ``None`` for a field means every value ("*")."""
    if minutes is None:
        per_minute = "every minute"
    elif (step := _every(minutes, 60)) is not None:
        per_minute = f"every {step} minutes"
    else:
        per_minute = ""
    if hours is None:
        if per_minute:
            return per_minute
        assert minutes is not None
        if minutes == [0]:
            return "every hour, on the hour"
        if len(minutes) <= _MOST_TIMES:
            return f"every hour at minute{'' if len(minutes) == 1 else 's'} {_join([str(m) for m in minutes])}"
        return None
    if per_minute:  # within some hours of the day
        if len(_runs(hours)) != 1:
            return None
        last = 59 if minutes is None else minutes[-1]
        return f"{per_minute} from {hours[0]:02d}:00 to {hours[-1]:02d}:{last:02d} UTC"
    assert minutes is not None
    if (step := _every(hours, 24)) is not None and len(minutes) == 1:
        return f"every {step} hours from 00:{minutes[0]:02d} UTC"
    if len(minutes) == 1 and len(hours) > _MOST_TIMES and len(_runs(hours)) == 1:
        return f"every hour from {hours[0]:02d}:{minutes[0]:02d} to {hours[-1]:02d}:{minutes[0]:02d} UTC"
    times = [f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes]
    if len(times) > _MOST_TIMES:
        return None
    return f"at {_join(times)} UTC"


def _describe_cron(expression: str) -> str | None:
    """Words for a cron expression's common shapes, or None for the rest."""
    try:
        fields, nth_weekday = croniter.expand(expression)
    except CroniterError:
        return None
    if nth_weekday or any(value != "*" and not isinstance(value, int) for field in fields for value in field):
        return None  # "L", "1#2" and the like
    minutes, hours, days, months, weekdays = (None if field == ["*"] else sorted(field) for field in fields)
    when = _describe_time(minutes, hours)
    if when is None or (days is not None and weekdays is not None):
        return None  # with both, cron fires on either: too easy to misread in words
    monthly = f" in {_names(months, lambda m: _MONTHS[m - 1])}" if months is not None else ""
    if weekdays is not None:
        monday_first = sorted(weekdays, key=lambda day: (day - 1) % 7)
        order = [(day - 1) % 7 for day in monday_first]
        on = _names(order, lambda index: _DAYS[(index + 1) % 7])
        return f"{when} on {on}{monthly}"
    if days is not None:
        of = f" of {_names(months, lambda m: _MONTHS[m - 1])}" if months is not None else " of every month"
        return f"{when} on the {_join([_ordinal(day) for day in days])}{of}"
    if when.startswith("at "):
        return f"every day{monthly} {when}"
    return f"{when}{monthly}"


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
