"""Refresh one upstream source: fetch → decide/prepare → store, inside one error boundary.

The pipeline (``feeds`` does the syndication work, :mod:`~feedserver.aggregation.store`
every write):

1. :func:`fetch` — a conditional GET with the stored validators, outside any
   database transaction (it may take seconds);
2. :func:`~feedserver.aggregation.entries.parse` — bytes → entries with their
   de-duplication keys and content hashes; a plain function of bytes, so the
   poller can run it in another process;
3. :func:`~feedserver.aggregation.store.write_fetched` — one transaction per
   source under :meth:`~feedserver.db.Database.write_lock`: only new or
   changed entries are prepared (sanitized) and written, then the source's
   identity, health and next fetch time. A crash anywhere leaves the source as
   it was, with its lease: the next poll does the whole refresh again.

A 304 (nothing changed upstream, no move) only updates health columns, which
no feed shows: :func:`~feedserver.aggregation.store.store_unchanged` writes
many of them in one executemany, and the poller batches them.

**One error boundary per refresh**: whatever an upstream sends, :func:`refresh`
and :func:`complete` end in stored entries or in a recorded error — its stage
and subject (``parse https://…: ValueError: …``), an error count and a
backed-off next fetch — and never raise, so a poll pass never aborts and
other sources never notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from feeds.errors import FeedError, FetchError, ParseError
from feeds.model import UpstreamFeed
from feeds.upstream.fetch import FetchCancelled, Fetcher, FetchResult
from feedserver.aggregation.entries import Parsed as Parsed
from feedserver.aggregation.entries import clip
from feedserver.aggregation.entries import parse as parse
from feedserver.aggregation.jobs import Outcome as Outcome
from feedserver.aggregation.jobs import PollSettings as PollSettings
from feedserver.aggregation.jobs import SourceJob as SourceJob
from feedserver.aggregation.store import (
    StoreError,
    store_failure,
    store_unchanged,
    write_fetched,
)
from feedserver.db import Database, log_failure
from feedserver.db import describe as describe

log = logging.getLogger(__name__)

Parser = Callable[[bytes, str, str | None], Parsed]
# Writes a fetched refresh (write_fetched's job), e.g. in a shared transaction
# (store.group.GroupCommit); returns its outcome or raises as write_fetched does.
Writer = Callable[[SourceJob, FetchResult, Parsed | None], Outcome]


def fetch(fetcher: Fetcher, job: SourceJob) -> FetchResult:
    """Fetch a source's feed conditionally; raises FetchError for any trouble."""
    try:
        return fetcher.fetch(job.feed_url, job.validators)
    except (FeedError, FetchCancelled):
        raise
    except Exception as exc:  # e.g. a stored validator httpx cannot send, a bug
        log.exception("fetch failed source_id=%s", job.id)
        raise FetchError(job.feed_url, describe(exc)) from exc


def unchanged(job: SourceJob, result: FetchResult) -> bool:
    """A 304 that moved nowhere: only health to write (store_unchanged)."""
    moved = result.permanent_redirect_url
    return result.not_modified and (not moved or moved == job.feed_url)


def refresh(
    db: Database,
    job: SourceJob,
    fetcher: Fetcher,
    settings: PollSettings,
    *,
    parser: Parser = parse,
) -> Outcome:
    """Refresh one source and record its health; never raises."""
    try:
        result = fetch(fetcher, job)
    except FeedError as exc:
        return store_failure(db, job, exc, settings)
    if unchanged(job, result):
        return store_unchanged(db, [(job, result)], settings)[0]
    return complete(db, job, result, settings, parser=parser)


def complete(
    db: Database,
    job: SourceJob,
    result: FetchResult,
    settings: PollSettings,
    *,
    parser: Parser = parse,
    writer: Writer | None = None,
) -> Outcome:
    """Parse and store a fetched result (not a plain 304); never raises."""
    parsed = None
    try:
        if result.body is not None:
            parsed = parser(result.body, result.final_url, result.content_type)
    except FeedError as exc:
        return store_failure(db, job, answered(exc, result), settings)
    except Exception as exc:  # a parser bug met hostile bytes: this source's error only
        log.exception("parse failed source_id=%s", job.id)
        problem = ParseError(job.feed_url, describe(exc))
        return store_failure(db, job, answered(problem, result), settings)
    try:
        if writer is not None:
            return writer(job, result, parsed)
        return write_fetched(db, job, result, parsed, settings)
    except FeedError as exc:  # PrepareError: hostile entries met a bug
        log.exception("prepare failed source_id=%s", job.id)
        return store_failure(db, job, answered(exc, result), settings)
    except Exception as exc:  # a bug or a database problem: still record it
        log_failure(log, "store failed source_id=%s", exc, job.id)
        failure = StoreError(job.feed_url, describe(exc))
        return store_failure(db, job, answered(failure, result), settings)


def answered(exc: FeedError, result: FetchResult) -> FeedError:
    """``exc`` carrying the status the upstream answered before it went wrong (its health)."""
    if exc.status is None:
        exc.status = result.status
    return exc


def feed_title(feed: UpstreamFeed) -> str:
    """The upstream feed's title ("" when it has none): plain text already, so only clipped."""
    return clip(feed.title, 200)
