"""feeds.upstream.schedule: table-driven, with a fixed random source."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.upstream.schedule import (
    CacheHints,
    PollPolicy,
    cache_hints,
    next_fetch,
    parse_http_date,
    parse_max_age,
    parse_retry_after,
)

NOW = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
INTERVAL = timedelta(minutes=15)
NO_JITTER = PollPolicy(jitter=0.0)


class Fixed:
    """A random source that always answers the same fraction of the range."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        ("plain interval", {}, INTERVAL),
        ("max-age above interval is a floor", {"hints": CacheHints(max_age=HOUR)}, HOUR),
        ("max-age below interval changes nothing", {"hints": CacheHints(max_age=MIN)}, INTERVAL),
        ("max-age clamped", {"hints": CacheHints(max_age=30 * DAY)}, timedelta(hours=12)),
        ("expires is a floor", {"hints": CacheHints(expires=NOW + 2 * HOUR)}, 2 * HOUR),
        ("expires in the past", {"hints": CacheHints(expires=NOW - HOUR)}, INTERVAL),
        (
            "max-age wins over expires",
            {"hints": CacheHints(max_age=HOUR, expires=NOW + 5 * HOUR)},
            HOUR,
        ),
        ("ttl is a floor", {"ttl": 3 * HOUR}, 3 * HOUR),
        ("ttl clamped", {"ttl": 7 * DAY}, timedelta(hours=12)),
        ("one error doubles", {"errors": 1}, 2 * INTERVAL),
        ("three errors", {"errors": 3}, 8 * INTERVAL),
        ("back-off capped at a day", {"errors": 10}, DAY),
        ("huge error count does not overflow", {"errors": 10_000}, DAY),
        (
            "errors ignore cache floors",
            {"errors": 1, "hints": CacheHints(max_age=DAY)},
            2 * INTERVAL,
        ),
        (
            "retry-after beats a shorter back-off",
            {"errors": 1, "retry_after": NOW + 2 * HOUR},
            2 * HOUR,
        ),
        (
            "retry-after shorter than back-off",
            {"errors": 2, "retry_after": NOW + MIN},
            4 * INTERVAL,
        ),
        (
            "retry-after from hints",
            {"errors": 1, "hints": CacheHints(retry_after=NOW + 3 * HOUR)},
            3 * HOUR,
        ),
        ("retry-after capped", {"errors": 1, "retry_after": NOW + 30 * DAY}, DAY),
        ("retry-after in the past", {"errors": 1, "retry_after": NOW - HOUR}, 2 * INTERVAL),
        ("tiny interval raised to the minimum", {"interval": timedelta(seconds=5)}, MIN),
    ],
)
def test_next_fetch(case: str, kwargs: dict[str, object], expected: timedelta) -> None:
    args: dict[str, object] = {"interval": INTERVAL, "policy": NO_JITTER} | kwargs
    assert next_fetch(NOW, **args) - NOW == expected, case  # type: ignore[arg-type]


@pytest.mark.parametrize(("fraction", "expected"), [(0.0, 0.9), (0.5, 1.0), (1.0, 1.1)])
def test_jitter_spreads_by_ten_percent(fraction: float, expected: float) -> None:
    got = next_fetch(NOW, interval=HOUR, rng=Fixed(fraction)) - NOW
    assert got == HOUR * expected


def test_jitter_never_undercuts_retry_after() -> None:
    got = next_fetch(NOW, interval=HOUR, errors=1, retry_after=NOW + 5 * HOUR, rng=Fixed(0.0))
    assert got - NOW == 5 * HOUR


def test_seeded_random_is_deterministic() -> None:
    a = next_fetch(NOW, interval=HOUR, rng=random.Random(42))
    b = next_fetch(NOW, interval=HOUR, rng=random.Random(42))
    assert a == b
    assert HOUR * 0.9 <= a - NOW <= HOUR * 1.1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=600", 600),
        ("public, max-age=600", 600),
        ('max-age="60"', 60),
        ("MAX-AGE=60, must-revalidate", 60),
        ("no-cache, max-age=600", None),
        ("no-store", None),
        ("max-age=abc", None),
        ("s-maxage=600", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_max_age(value: str | None, expected: int | None) -> None:
    assert parse_max_age(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("Wed, 21 Oct 2037 07:28:00 GMT", datetime(2037, 10, 21, 7, 28, tzinfo=UTC)),
        ("Wednesday, 21-Oct-37 07:28:00 GMT", datetime(2037, 10, 21, 7, 28, tzinfo=UTC)),
        ("Wed Oct 21 07:28:00 2037", datetime(2037, 10, 21, 7, 28, tzinfo=UTC)),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("9" * 30, NOW + timedelta(days=365)),
        # Past what an HTTP-date keeps: as far as any, not ignored (found by an audit).
        ("Fri, 31 Dec 9999 23:59:59 GMT", NOW + timedelta(days=365)),
        ("Fri, 31 Dec 9999 25:59:59 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_http_date_is_utc() -> None:
    assert parse_http_date("Tue, 14 May 2024 10:00:00 +0200") == NOW
    assert parse_http_date("not a date") is None


def test_cache_hints_subtract_age_and_read_expires_by_the_server_clock() -> None:
    hints = cache_hints(
        cache_control="max-age=600", expires=None, age="100", retry_after=None, now=NOW
    )
    assert hints.max_age == timedelta(seconds=500)
    hints = cache_hints(
        cache_control=None,
        expires="Tue, 14 May 2024 12:00:00 GMT",
        age=None,
        retry_after="30",
        now=NOW,
        date="Tue, 14 May 2024 11:00:00 GMT",  # server clock an hour ahead of ours
    )
    assert hints.expires == NOW + HOUR
    assert hints.retry_after == NOW + timedelta(seconds=30)
    hints = cache_hints(cache_control=None, expires="0", age=None, retry_after=None, now=NOW)
    assert hints.expires == NOW  # invalid Expires: already stale


@pytest.mark.parametrize("date", [None, "Tue, 14 May 2024 11:00:00 GMT"])
def test_an_expires_in_year_9999_is_never_stale_not_already_stale(date) -> None:
    """The usual "never expires" is a valid HTTP-date; it was read as junk, so as expired."""
    hints = cache_hints(
        cache_control=None, expires="Fri, 31 Dec 9999 23:59:59 GMT", age=None,
        retry_after=None, now=NOW, date=date,
    )  # fmt: skip
    assert hints.expires is not None and hints.expires - NOW > timedelta(days=365)
    assert next_fetch(NOW, interval=timedelta(minutes=15), hints=hints) - NOW >= timedelta(hours=10)


@pytest.mark.fuzz
@given(expires=st.text(max_size=80), date=st.none() | st.text(max_size=40))
def test_any_expires_value_gives_a_bounded_freshness(expires, date):
    """Expires is upstream text: never an error, always a time a capped span from now."""
    hints = cache_hints(
        cache_control=None, expires=expires, age=None, retry_after=None, now=NOW, date=date
    )
    assert hints.expires is not None
    assert abs(hints.expires - NOW) <= timedelta(seconds=10**8)
