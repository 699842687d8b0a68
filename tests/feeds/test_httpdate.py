"""HTTP dates: one writer, one tolerant reader (RFC 9110 §5.6.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.conditional import not_modified
from feeds.httpdate import format_http_date, parse_http_date, parse_request_date

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


# --- a client's If-Modified-Since: the three forms exactly (RFC 9110 §13.1.3) ---


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
        " Sun, 06 Nov 1994 08:49:37 GMT ",  # the field's own whitespace
    ],
)
def test_a_request_date_in_any_of_the_three_forms_is_read(value: str) -> None:
    assert parse_request_date(value) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Sun, 06 Nov 1994 08:49:37 +0000",  # an offset: tolerated from upstreams only
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",  # two members
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "",
        None,
    ],
)
def test_anything_else_in_a_request_is_no_date(value: str | None) -> None:
    assert parse_request_date(value) is None


@pytest.mark.fuzz
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 12, 31)))
def test_what_we_send_a_client_reads_back(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_request_date(format_http_date(aware)) == aware.replace(microsecond=0)


@pytest.mark.fuzz
@given(st.text(max_size=80))
def test_a_request_date_never_raises_and_is_never_looser_than_the_upstream_reader(
    value: str,
) -> None:
    strict = parse_request_date(value)
    assert strict is None or strict == parse_http_date(value.strip(" \t"))
