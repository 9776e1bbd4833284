"""Schedules in words and their next due times: periods and the common cron shapes read as English, unusual cron
expressions given as themselves, and the next N firings as the scheduler would fire them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from croniter import croniter

from genome.sequencer.schedule import parse_schedule


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("30s", "every 30 seconds"),
        ("1m", "every minute"),
        ("30m", "every 30 minutes"),
        ("1h", "every hour"),
        ("6h", "every 6 hours"),
        ("1d", "every day"),
        ("2d", "every 2 days"),
        ("7d", "every week"),
        ("1w", "every week"),
        ("14d", "every 2 weeks"),
        ("1h30m", "every 1 hour and 30 minutes"),
        ("1.5s", "every 1.5 seconds"),
        ("3600", "every hour"),
    ],
)
def test_periods_in_words(text: str, words: str) -> None:
    assert parse_schedule(text).describe() == words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("* * * * *", "every minute"),
        ("*/5 * * * *", "every 5 minutes"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0 * * * *", "every hour, on the hour"),
        ("@hourly", "every hour, on the hour"),
        ("5 * * * *", "every hour at minute 5"),
        ("0,30 * * * *", "every 30 minutes"),
        ("10,40 * * * *", "every hour at minutes 10 and 40"),
        ("0 */6 * * *", "every 6 hours from 00:00 UTC"),
        ("15 */2 * * *", "every 2 hours from 00:15 UTC"),
        ("0 2 * * *", "every day at 02:00 UTC"),
        ("@daily", "every day at 00:00 UTC"),
        ("@midnight", "every day at 00:00 UTC"),
        ("0 2,14 * * *", "every day at 02:00 and 14:00 UTC"),
        ("0 2 * * 1", "at 02:00 UTC on Monday"),
        ("0 2 * * MON", "at 02:00 UTC on Monday"),
        ("0 2 * * 7", "at 02:00 UTC on Sunday"),
        ("@weekly", "at 00:00 UTC on Sunday"),
        ("30 2 * * 1-5", "at 02:30 UTC on Monday to Friday"),
        ("30 2 * * mon-fri", "at 02:30 UTC on Monday to Friday"),
        ("0 3 * * 1,3,5", "at 03:00 UTC on Monday, Wednesday and Friday"),
        ("0 10 * * 0,6", "at 10:00 UTC on Saturday and Sunday"),
        ("0 10 * * 5-7", "at 10:00 UTC on Friday to Sunday"),
        ("0 0 1 * *", "at 00:00 UTC on the 1st of every month"),
        ("@monthly", "at 00:00 UTC on the 1st of every month"),
        ("0 6 1,15 * *", "at 06:00 UTC on the 1st and 15th of every month"),
        ("0 6 2,3,11,22 * *", "at 06:00 UTC on the 2nd, 3rd, 11th and 22nd of every month"),
        ("@yearly", "at 00:00 UTC on the 1st of January"),
        ("0 0 1 1,7 *", "at 00:00 UTC on the 1st of January and July"),
        ("0 0 * 12 *", "every day in December at 00:00 UTC"),
        ("0 8 * 6-8 1", "at 08:00 UTC on Monday in June to August"),
        ("30 9-17 * * 1-5", "every hour from 09:30 to 17:30 UTC on Monday to Friday"),
        ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:45 UTC on Monday to Friday"),
        ("* 3 * * *", "every minute from 03:00 to 03:59 UTC"),
    ],
)
def test_common_cron_shapes_in_words(text: str, words: str) -> None:
    assert parse_schedule(text).describe() == words


@pytest.mark.parametrize(
    "text",
    [
        "5 4 L * *",  # the last day of the month
        "0 0 * * 1#2",  # the second Monday
        "0 0 1,15 * 1",  # a day of the month OR a weekday, as cron reads both
        "*/7 * * * *",  # uneven gaps: 56 -> 0 is 4 minutes
        "0 1,3,5,7,9,11,13 * * *",  # many scattered times
        "*/10 1,5 * * *",
    ],
)
def test_unusual_cron_is_given_as_itself(text: str) -> None:
    assert parse_schedule(text).describe() == f"cron {text} (UTC)"


def test_the_next_runs_of_a_period_keep_its_phase() -> None:
    first = _ms(2024, 1, 1, 10, 17)
    assert parse_schedule("6h").upcoming(first, 5) == [first + index * 6 * 3_600_000 for index in range(5)]


def test_the_next_runs_of_a_cron_schedule_match_croniter() -> None:
    schedule = parse_schedule("30 2 * * mon-fri")
    first = _ms(2024, 1, 5, 2, 30)  # a Friday
    times = schedule.upcoming(first, 5)
    assert times == [
        first,
        _ms(2024, 1, 8, 2, 30),
        _ms(2024, 1, 9, 2, 30),
        _ms(2024, 1, 10, 2, 30),
        _ms(2024, 1, 11, 2, 30),
    ]
    iterator = croniter("30 2 * * 1-5", datetime(2024, 1, 5, 2, 30, tzinfo=UTC))
    assert times[1:] == [round(iterator.get_next(float) * 1000) for _ in range(4)]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_as_many_next_runs_as_asked(count: int) -> None:
    assert len(parse_schedule("@daily").upcoming(_ms(2024, 1, 1), count)) == count
