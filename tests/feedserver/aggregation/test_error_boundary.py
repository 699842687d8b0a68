"""One error boundary per source refresh: whatever breaks, the pass goes on.

Failures are injected into one of several sources at each stage (fetch,
parse, prepare, store, schedule, a post-store hook, a batch of 304s); the
other sources' results must be stored, the failing one recorded with its
stage and backed off (not re-claimed by the next pass).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest

from feeds.model import Validators
from feeds.upstream.fetch import FetchResult
from feeds.upstream.schedule import CacheHints
from feedserver.aggregation import entries as upstream_entries
from feedserver.aggregation import poller, store
from feedserver.aggregation import refresh as aggregation
from feedserver.aggregation.poller import poll_once
from feedserver.aggregation.store import articles as store_articles
from feedserver.aggregation.store.group import GroupCommit
from tests.factories import make_source
from tests.feedserver.aggregation_support import (
    articles_of,
    numbered,
    rss,
    settings_for,
    source_row,
)

RSS = "application/rss+xml"


def add(db, url):
    with db.session() as s:
        return make_source(s, feed_url=url).id


def serve_four(db, httpserver):
    """Four healthy upstreams; /bad is the one a test breaks."""
    ids = {}
    for name in ("a", "b", "bad", "c"):
        body = rss(numbered(3, prefix=name))
        httpserver.expect_request(f"/{name}").respond_with_data(body, content_type=RSS)
        ids[name] = add(db, httpserver.url_for(f"/{name}"))
    return ids


def assert_isolated(db, ids, stats, stage):
    assert stats.sources == 4 and stats.errors == 1 and stats.added == 9
    for name in ("a", "b", "c"):
        assert len(articles_of(db, ids[name])) == 3
        assert source_row(db, ids[name]).error_count == 0
    bad = source_row(db, ids["bad"])
    assert articles_of(db, ids["bad"]) == []
    assert bad.last_error.startswith(f"{stage} http://")
    assert bad.error_count == 1
    # Backed off: at least the interval (×2 for one error, minus jitter) away.
    assert bad.next_fetch_at - bad.last_fetch_at >= timedelta(seconds=900 * 2 * 0.89)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("invalid literal for int() with base 10: '٣'"),
        OverflowError("date value out of range"),
        UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)"),
    ],
    ids=["ValueError", "OverflowError", "UnicodeEncodeError"],
)
def test_a_parser_crash_is_that_sources_error_only(db, httpserver, monkeypatch, error):
    ids = serve_four(db, httpserver)
    real = upstream_entries.parse

    def parse(body, url, content_type=None):
        if url.endswith("/bad"):
            raise error
        return real(body, url, content_type)

    monkeypatch.setattr(upstream_entries, "parse", parse)
    stats = poll_once(db, settings_for(httpserver.port))
    assert_isolated(db, ids, stats, "parse")
    assert type(error).__name__ in source_row(db, ids["bad"]).last_error
    # Not re-claimed at once: the next pass finds nothing due.
    assert poll_once(db, settings_for(httpserver.port)).sources == 0


def test_a_prepare_crash_is_recorded_as_prepare(db, httpserver, monkeypatch):
    ids = serve_four(db, httpserver)
    real = store_articles.prepare

    def prepare(items, base):
        items = list(items)
        if any(item.key.startswith("bad-") for _, item in items):
            raise RecursionError("maximum recursion depth exceeded")
        return real(items, base)

    monkeypatch.setattr(store_articles, "prepare", prepare)
    # A first poll prepares with the parse (entries.parse_prepared); when that
    # fails the store prepares again, and the failure is recorded as prepare's.
    monkeypatch.setattr(upstream_entries, "prepare", prepare)
    assert_isolated(db, ids, poll_once(db, settings_for(httpserver.port)), "prepare")


def test_a_failing_post_store_hook_rolls_back_only_its_source(db, httpserver, monkeypatch):
    ids = serve_four(db, httpserver)
    seen = []

    def hook(session, source, parsed, stored):
        if source.id == ids["bad"]:
            raise KeyError("story grouping bug")
        seen.append((source.id, stored.added, len(stored.article_ids)))

    monkeypatch.setattr(store, "POST_STORE", [])
    monkeypatch.setattr(store_articles, "POST_STORE", store.POST_STORE)
    store.add_post_store_hook(hook)
    assert_isolated(db, ids, poll_once(db, settings_for(httpserver.port)), "store")
    # On SQLite a good source may have run its hook twice: in a shared transaction
    # (group commit) that the bad one rolled back, then alone.
    assert sorted(set(seen)) == sorted((ids[n], 3, 3) for n in ("a", "b", "c"))


def deadlock() -> Exception:
    """What SQLAlchemy raises when PostgreSQL picks this transaction as a deadlock's victim."""
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    return OperationalError("INSERT INTO scope_versions ...", {}, psycopg.errors.DeadlockDetected())


@pytest.mark.parametrize("failures", [1, store.TRANSIENT_TRIES, store.TRANSIENT_TRIES + 1])
def test_a_deadlocked_store_is_run_again(db, httpserver, monkeypatch, failures):
    """A deadlock victim's refresh is stored again (a few times at most), not counted as the source's error."""
    ids = serve_four(db, httpserver)
    calls = []

    def hook(session, source, parsed, stored):
        if source.id == ids["bad"]:
            calls.append(stored.added)
            if len(calls) <= failures:
                raise deadlock()

    monkeypatch.setattr(store, "POST_STORE", [])
    monkeypatch.setattr(store_articles, "POST_STORE", store.POST_STORE)
    store.add_post_store_hook(hook)
    # Each refresh in its own transaction, as on PostgreSQL: a shared one (SQLite's
    # group commit) that failed would add a try before the refresh's own.
    monkeypatch.setattr(poller, "GroupCommit", functools.partial(GroupCommit, max_batch=1))
    stats = poll_once(db, settings_for(httpserver.port))
    tries = store.TRANSIENT_TRIES + 1
    assert calls == [3] * min(
        failures + 1, tries
    )  # each try stored the whole feed, then rolled back
    if failures < tries:
        assert (stats.errors, stats.added) == (0, 12)
        assert len(articles_of(db, ids["bad"])) == 3
        assert source_row(db, ids["bad"]).error_count == 0
    else:  # one deadlock more than that in a row is an error like any other
        assert_isolated(db, ids, stats, "store")
        assert "deadlock" in source_row(db, ids["bad"]).last_error.lower()


def test_a_fetch_bug_is_recorded_as_fetch(db, httpserver, monkeypatch):
    ids = serve_four(db, httpserver)
    from feeds.upstream.fetch import Fetcher

    real = Fetcher.fetch

    def fetch(self, url, validators=None):
        if url.endswith("/bad"):
            raise UnicodeEncodeError("ascii", "\u00e9", 0, 1, "a header httpx cannot send")
        return real(self, url, validators)

    monkeypatch.setattr(Fetcher, "fetch", fetch)
    assert_isolated(db, ids, poll_once(db, settings_for(httpserver.port)), "fetch")


def test_a_scheduler_crash_falls_back_to_a_plain_interval(db, httpserver, monkeypatch):
    ids = serve_four(db, httpserver)

    def broken(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(store, "next_fetch", broken)
    stats = poll_once(db, settings_for(httpserver.port))
    assert stats.errors == 0 and stats.added == 12
    for ident in ids.values():
        row = source_row(db, ident)
        assert row.next_fetch_at - row.last_fetch_at == timedelta(seconds=900)


def test_one_bad_row_in_a_batch_of_304s_costs_only_that_row(db):
    ok = add(db, "https://example.com/ok")
    now = datetime.now(UTC)

    def result(url, etag):
        return FetchResult(
            url=url, final_url=url, status=304, body=None, content_type=None,
            validators=Validators(etag=etag), not_modified=True, cache=CacheHints(),
            fetched_at=now,
        )  # fmt: skip

    good = aggregation.SourceJob(ok, "https://example.com/ok")
    # An id no database integer holds: the batch fails, the row alone fails.
    huge = aggregation.SourceJob(2**70, "https://example.com/huge")
    items = [(good, result(good.feed_url, '"v2"')), (huge, result(huge.feed_url, '"v3"'))]
    outcomes = store.store_unchanged(db, items, settings_for(1))
    assert [o.source_id for o in outcomes] == [ok, 2**70]
    assert outcomes[0].error is None and outcomes[1].error is not None
    assert source_row(db, ok).etag == '"v2"' and source_row(db, ok).last_status == 304


@pytest.mark.parametrize(
    ("etag", "kept"),
    [('"abc"', '"abc"'), ('W/"x-1"', 'W/"x-1"'), ('"caf\u00e9"', None), ('"a\r\nb"', None),
     ("", None), (None, None), ('"' + "x" * 600 + '"', None)],
)  # fmt: skip
def test_only_sendable_validators_are_stored(etag, kept):
    assert store.safe_validator(etag) == kept


def test_pushed_entries_are_stored_once_and_run_the_hooks(db, monkeypatch):
    sid = add(db, "https://example.com/pushed")
    calls = []
    monkeypatch.setattr(store, "POST_STORE", [])
    monkeypatch.setattr(store_articles, "POST_STORE", store.POST_STORE)
    store.add_post_store_hook(lambda session, source, parsed, stored: calls.append(stored))
    parsed = upstream_entries.parse(rss(numbered(2)), "https://example.com/pushed")
    first = store.store_pushed(db, sid, parsed)
    again = store.store_pushed(db, sid, parsed)
    assert first is not None and (first.added, first.updated) == (2, 0)
    assert again == store.Stored()  # unchanged entries are not touched
    assert [c.added for c in calls] == [2, 0] and len(articles_of(db, sid)) == 2
    assert source_row(db, sid).next_fetch_at is None  # a push does not reschedule
    assert store.store_pushed(db, sid + 999, parsed) is None
