"""Group commit: many threads' refreshes in one SQLite transaction, each with its own outcome."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from feeds.model import Validators
from feeds.upstream.fetch import FetchResult
from feeds.upstream.schedule import CacheHints
from feedserver.aggregation import refresh as aggregation
from feedserver.aggregation import store
from feedserver.aggregation.entries import parse, parse_prepared
from feedserver.aggregation.store.group import GroupCommit
from feedserver.db import Database
from feedserver.models import Article, Source
from feedserver.models.stories import StoryQueue
from feedserver.stories import grouping
from tests.factories import make_source
from tests.feedserver.aggregation_support import Item, articles_of, rss, settings_for, source_row

RSS = "application/rss+xml"


# Group commit serves SQLite's single writer: these run on SQLite alone.
on_sqlite = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.fixture
def sqlite_db(db):
    assert db.is_sqlite
    return db


def test_it_is_refused_where_writers_run_at_once():
    # No connection is made: the engine's dialect is enough to refuse.
    elsewhere = Database.from_url("postgresql+psycopg://nobody@127.0.0.1:9/none")
    with pytest.raises(ValueError, match="SQLite"):
        GroupCommit(elsewhere, settings_for(1))


def _job(db, n: int) -> tuple[aggregation.SourceJob, FetchResult, bytes]:
    url = f"https://upstream{n}.example/feed.xml"
    with db.session() as s:
        sid = make_source(s, feed_url=url).id
    items = [
        Item(
            guid=f"u{n}-{i}",
            title=f"Upstream {n} report {i}",
            link=f"https://upstream{n}.example/{i}",
            author=f"Writer {n}",
        )
        for i in range(3)
    ]
    body = rss(items, link=f"https://upstream{n}.example/")
    result = FetchResult(
        url=url, final_url=url, status=200, body=body,
        validators=Validators(etag=f'"v{n}"'), not_modified=False, content_type=RSS,
        cache=CacheHints(), fetched_at=datetime.now(UTC),
    )  # fmt: skip
    return aggregation.SourceJob(sid, url), result, body


def _together(writer: GroupCommit, calls: list, db) -> list:
    """Run the calls on threads that all queue before any may write; their results in order."""
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    with db.write_lock():  # held: every thread queues behind it
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(writer._waiting) < len(calls) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(writer._waiting) == len(calls)
    for thread in threads:
        thread.join(10)
    return results


@on_sqlite
def test_waiting_refreshes_share_one_transaction_and_each_gets_its_outcome(sqlite_db):
    db = sqlite_db
    settings = settings_for(1)
    writer = GroupCommit(db, settings)
    jobs = [_job(db, n) for n in range(6)]
    calls = [
        (lambda j=job, r=result, b=body: writer(j, r, parse(b, j.feed_url, RSS)))
        for job, result, body in jobs
    ]
    outcomes = _together(writer, calls, db)
    assert writer.batches == 1  # one shared transaction for all six
    assert [o.source_id for o in outcomes] == [job.id for job, _, _ in jobs]
    assert all((o.status, o.added, o.error) == (200, 3, None) for o in outcomes)
    for n, (job, _, _) in enumerate(jobs):
        stored = articles_of(db, job.id)
        assert [a.title for a in stored] == [f"Upstream {n} report {i}" for i in range(3)]
        source = source_row(db, job.id)
        assert source.etag == f'"v{n}"' and source.last_status == 200 and source.error_count == 0
        assert source.upstream_title is not None


@on_sqlite
def test_one_failing_refresh_costs_the_others_nothing(sqlite_db, monkeypatch):
    db = sqlite_db
    settings = settings_for(1)
    writer = GroupCommit(db, settings)
    jobs = [_job(db, n) for n in range(4)]
    bad = jobs[2][0].id
    real = store.store_entries

    def hostile(session, source, parsed, **kw):
        if source.id == bad:
            real(session, source, parsed, **kw)  # written, then the failure: all rolled back
            raise store.PrepareError(source.feed_url, "ValueError: hostile entry")
        return real(session, source, parsed, **kw)

    monkeypatch.setattr(store, "store_entries", hostile)
    calls = [
        (lambda j=job, r=result, b=body: writer(j, r, parse(b, j.feed_url, RSS)))
        for job, result, body in jobs
    ]
    outcomes = _together(writer, calls, db)
    assert writer.batches == 0  # the shared transaction failed, so each was written alone
    assert isinstance(outcomes[2], store.PrepareError) and "hostile entry" in str(outcomes[2])
    for i, (job, _, _) in enumerate(jobs):
        if i == 2:
            assert articles_of(db, job.id) == []  # nothing half-written
            assert source_row(db, job.id).etag is None
        else:
            assert outcomes[i].added == 3 and len(articles_of(db, job.id)) == 3
            assert source_row(db, job.id).etag == f'"v{i}"'


@on_sqlite
def test_through_complete_a_failure_is_that_sources_recorded_error(sqlite_db, monkeypatch):
    """The error boundary (refresh.complete) records the exception the writer hands back."""
    db = sqlite_db
    settings = settings_for(1)
    writer = GroupCommit(db, settings)
    job, result, _ = _job(db, 0)

    def broken(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "store_entries", broken)
    outcome = aggregation.complete(db, job, result, settings, writer=writer)
    assert outcome.error is not None and "disk on fire" in outcome.error
    source = source_row(db, job.id)
    assert source.error_count == 1 and "disk on fire" in (source.last_error or "")
    assert articles_of(db, job.id) == []


@on_sqlite
def test_a_source_removed_while_fetching_is_skipped(sqlite_db):
    db = sqlite_db
    writer = GroupCommit(db, settings_for(1))
    (job, result, body), (gone, gone_result, gone_body) = _job(db, 0), _job(db, 1)
    with db.session() as s:
        s.delete(s.get(Source, gone.id))
    outcomes = _together(
        writer,
        [
            lambda: writer(job, result, parse(body, job.feed_url, RSS)),
            lambda: writer(gone, gone_result, parse(gone_body, gone.feed_url, RSS)),
        ],
        db,
    )
    assert writer.batches == 1
    assert (outcomes[0].added, outcomes[1].added) == (3, 0)
    with db.session() as s:
        assert s.scalar(select(func.count(Article.id)).where(Article.source_id == gone.id)) == 0


@on_sqlite
def test_each_refresh_keeps_its_threads_story_mode(sqlite_db):
    """A poll pass queues new articles for grouping; a refresh outside one groups them at once.

    Written by whichever thread holds the lock, each keeps its own thread's mode,
    and the two never share a transaction.
    """
    db = sqlite_db
    settings = settings_for(1)
    writer = GroupCommit(db, settings)
    (a, ra, ba), (b, rb, bb) = _job(db, 0), _job(db, 1)

    def queued_call():
        with grouping.deferred():
            return writer(a, ra, parse_prepared(ba, a.feed_url, RSS, None, a.feed_url))

    def at_once_call():
        return writer(b, rb, parse(bb, b.feed_url, RSS))

    outcomes = _together(writer, [queued_call, at_once_call], db)
    assert (outcomes[0].added, outcomes[1].added) == (3, 3)
    assert writer.batches == 0  # two modes: two single writes
    with db.session() as s:
        queued = set(s.scalars(select(StoryQueue.article_id)))
    assert queued == {art.id for art in articles_of(db, a.id)}  # the pass's: queued
    assert not queued & {art.id for art in articles_of(db, b.id)}  # the other's: grouped at once
