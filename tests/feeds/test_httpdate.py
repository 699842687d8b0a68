"""HTTP dates: one writer, one tolerant reader (RFC 9110 §5.6.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from feeds.conditional import not_modified
from feeds.httpdate import format_http_date, parse_http_date

WHEN = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


def test_the_three_forms_and_an_offset() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == WHEN  # IMF-fixdate
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == WHEN  # RFC 850
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == WHEN  # asctime
    assert parse_http_date("Sun, 06 Nov 1994 10:49:37 +0200") == WHEN
    assert parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT \t") == WHEN


def test_everything_read_is_utc() -> None:
    parsed = parse_http_date("Sun, 06 Nov 1994 10:49:37 +0200")
    assert parsed is not None and parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC


def test_not_a_date_is_none() -> None:
    for value in (None, "", "  ", "yesterday", "Sun, 32 Nov 1994 08:49:37 GMT", "x" * 10_000):
        assert parse_http_date(value) is None


def test_format_is_imf_fixdate_without_subseconds() -> None:
    moment = datetime(2026, 11, 24, 11, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert format_http_date(moment) == "Tue, 24 Nov 2026 10:00:00 GMT"


def test_a_padded_if_modified_since_counts() -> None:
    # The feed server and the poller used to disagree here: one refused the padding.
    assert not_modified("tag", WHEN, None, " Sun, 06 Nov 1994 08:49:37 GMT ")


# Years 1 and 9999 read as junk (feeds.lenient.bounded_datetime keeps a year of
# room each side, so a back-off or max-age added later cannot overflow).
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)))
def test_round_trip(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_http_date(format_http_date(aware)) == aware.replace(microsecond=0)


@given(st.text(max_size=200))
def test_any_text_is_a_date_or_none(value: str) -> None:
    parsed = parse_http_date(value)
    assert parsed is None or parsed.tzinfo is UTC


def test_the_edges_of_the_calendar_are_junk() -> None:
    assert parse_http_date("Fri, 01 Jan 9999 00:00:00 GMT") is None
