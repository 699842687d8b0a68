"""Errors cross process boundaries intact: a parse process raises them to the poller."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import (
    BlockedAddress,
    BodyTooLarge,
    FeedError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ParseError,
    RenderError,
    TooManyRedirects,
    printable,
)
from feeds.websub import WebSubError
from feedserver.aggregation.store import StoreError
from feedserver.aggregation.store.articles import PrepareError

PLAIN = [
    FeedError, FetchError, BlockedAddress, BodyTooLarge, FetchTimeout, TooManyRedirects,
    ParseError, RenderError, WebSubError, StoreError, PrepareError,
]  # fmt: skip


@given(st.sampled_from(PLAIN), st.text(max_size=200), st.text(max_size=200))
def test_every_error_survives_pickling(cls, subject, problem):
    error = cls(subject, problem)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls
    assert (back.subject, back.problem, str(back)) == (error.subject, error.problem, str(error))
    assert error.problem == printable(problem)  # escaped controls, bounded: fit for a log
    assert back.stage == error.stage


@given(
    st.integers(min_value=100, max_value=599),
    st.none() | st.text(max_size=100),
    st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_a_status_error_keeps_its_status_and_retry_time(status, problem, retry_after):
    error = HTTPStatusError(
        "https://upstream.example/feed", status, problem, retry_after=retry_after
    )
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is HTTPStatusError and str(back) == str(error)
    assert (back.status, back.retry_after, back.problem) == (status, retry_after, error.problem)


def test_a_status_error_with_a_date_reads_back_equal():
    when = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    back = pickle.loads(pickle.dumps(HTTPStatusError("u", 503, retry_after=when)))
    assert back.retry_after == when and "HTTP 503" in str(back)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redirect to http://bob:hunter2pw@10.0.0.1/feed refused",
         "redirect to http://***@10.0.0.1/feed refused"),
        ("HTTPS://token@feeds.example/x and ftp://a:b@c/", "HTTPS://***@feeds.example/x and ftp://***@c/"),
        ("write to news@example.org, or see https://example.org/@user",
         "write to news@example.org, or see https://example.org/@user"),
        ("bad port in http://bob:pa/ss@host/feed", "bad port in http://***@host/feed"),
        ("http://bob:p?a#ss@host/ and https://x:y/z@h", "http://***@host/ and https://***@h"),
        ("see https://example.org:8443/@user and http://h:80", "see https://example.org:8443/@user and http://h:80"),
    ],
)  # fmt: skip
def test_a_urls_user_name_and_password_never_reach_a_message(text, shown):
    # An upstream's redirect to a URL with credentials was refused, and the
    # password kept in last_error and the log line (found by an audit).
    assert printable(text) == shown
    error = FetchError("http://u:p@upstream.example/feed", text)
    assert "u:p@" not in str(error) and "hunter2pw" not in str(error) and "token@" not in str(error)
