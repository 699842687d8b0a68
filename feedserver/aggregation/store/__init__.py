"""Every write of an upstream refresh: entries, identity, health and schedule.

The pipeline is fetch → decide/prepare → store (:mod:`~feedserver.aggregation.refresh`
runs it); this module is the *store* step and nothing else writes:

- :func:`store_entries` — one source's parsed entries, inside the caller's
  transaction. The source's known keys and content hashes are read in one
  query per 500 keys; unchanged entries are not touched (our feeds'
  validators don't churn); only new or changed ones are prepared (sanitized).
  **New** entries (the whole of a first poll) go in with Core ``INSERT …
  RETURNING`` (one executemany each for articles, bylines, new authors),
  bypassing the ORM flush hook, so :func:`~feedserver.models.scopes.bump_scopes`
  bumps the scopes the hook would have; **changed** ones go through the ORM,
  so the hook keeps ``updated_at``, bylines and every scope as for any edit.
  Then the post-store hooks (:data:`POST_STORE`) run in the same transaction.
- :func:`write_fetched` — a successful fetch: entries, identity, health and
  next fetch in one transaction under :meth:`Database.write_lock`;
- :func:`store_failure` — a failed refresh: error, count, backed-off schedule;
- :func:`store_unchanged` — many plain 304s in one executemany.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard, TypeVar

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from feeds.errors import FeedError, FetchError, HTTPStatusError
from feeds.httpdate import format_http_date
from feeds.model import UpstreamFeed, Validators
from feeds.upstream.fetch import FetchResult
from feeds.upstream.schedule import CacheHints, next_fetch
from feedserver.aggregation.entries import Parsed, clip, stored_url
from feedserver.aggregation.jobs import Outcome, PollSettings, SourceJob
from feedserver.aggregation.store.articles import (
    POST_STORE,
    PostStoreHook,
    PrepareError,
    Stored,
    add_post_store_hook,
    store_entries,
)
from feedserver.db import Database, describe, is_transient, log_failure
from feedserver.models import Source

__all__ = [
    "POST_STORE", "PostStoreHook", "PrepareError", "StoreError", "Stored", "add_post_store_hook",
    "again_on_conflict",
    "record_failure", "schedule", "store_entries", "store_failure", "store_fetched", "store_pushed",
    "store_unchanged", "write_fetched",
]  # fmt: skip

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_BACKOFF = timedelta(days=1)
TRANSIENT_TRIES = 5  # a refresh's store again after a deadlock, at most
MAX_FEED_URL = 2000  # sources.feed_url's width  # when the scheduler itself fails on a value


class StoreError(FeedError):
    """Storing a fetched feed failed (a database problem or a bug)."""

    stage = "store"


_SOURCES: Table = Source.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_UNCHANGED = (
    update(_SOURCES)
    # Not a source removed meanwhile, nor one given another URL (fetched_from).
    .where(_SOURCES.c.id == bindparam("source_id"), _SOURCES.c.feed_url == bindparam("fetched_url"))
    .values(
        last_fetch_at=bindparam("fetched_at"),
        last_success_at=bindparam("fetched_at"),
        last_status=bindparam("status"),
        etag=bindparam("new_etag"),
        last_modified=bindparam("new_last_modified"),
        error_count=0,
        last_error=None,
        next_fetch_at=bindparam("next_at"),
        cache_seconds=bindparam("cache_seconds"),
    )
)


# A polled refresh can be done again, so on PostgreSQL its commit does not
# wait for the WAL flush (4–5 ms here, with the scope rows' locks held, which
# serialized workers). A crash may lose the last such commits as a whole
# (never half of one): the source is then still leased, with its old
# validators, and is fetched and stored again when the lease ends — what
# SQLite's synchronous=NORMAL already does. Pushes (store_pushed) cannot be
# redone and keep the durable commit.
REDOABLE = text("SET LOCAL synchronous_commit TO OFF")


def fetched_from(source: Source | None, job: SourceJob) -> TypeGuard[Source]:
    """Whether ``source`` still is what ``job`` fetched: not removed, not given another URL.

    An admin who edits a source's feed URL while its old one is being fetched
    gets what they asked for: the old URL's answer (a redirect, validators,
    entries, an error) is dropped, and the new URL is due at once (the edit
    says so).
    """
    if source is None:
        return False
    if source.feed_url != job.feed_url:
        log.info("source_id=%s got another feed URL while it was fetched; answer dropped", job.id)
        return False
    return True


def write_fetched(
    db: Database, job: SourceJob, result: FetchResult, parsed: Parsed | None, settings: PollSettings
) -> Outcome:
    """Store a successful fetch in one transaction; on a slug race, again with suffixed slugs."""

    def write(careful: bool) -> Outcome:
        with db.write_lock(), db.session() as session:
            if not db.is_sqlite:
                session.execute(REDOABLE)
            source = session.get(Source, job.id)
            if not fetched_from(source, job):  # removed or moved while we were fetching
                return Outcome(job.id, result.status)
            return store_fetched(session, source, result, parsed, settings, careful=careful)

    return again_on_conflict(write, f"source_id={job.id}")


def store_pushed(
    db: Database, source_id: int, parsed: Parsed, *, now: datetime | None = None
) -> Stored | None:
    """Store entries pushed to us (WebSub) for a source: entries and identity, no schedule.

    One transaction under the write lock; None when the source is gone. A push
    is not a poll, so the source's health and next fetch are left alone.
    """

    def write(careful: bool) -> Stored | None:
        with db.write_lock(), db.session() as session:
            source = session.get(Source, source_id)
            if source is None:
                return None
            _update_identity(source, parsed.feed)
            return store_entries(session, source, parsed, now=now, careful=careful)

    return again_on_conflict(write, f"pushed source_id={source_id}")


def again_on_conflict(write: Callable[[bool], _T], what: str) -> _T:
    """Run a store transaction; again, carefully, after a slug race; again after a deadlock.

    A slug race (IntegrityError: a concurrent writer took the slug) is
    retried once with suffixed slugs; a deadlock or serialization failure
    (``db.is_transient``: scope rows are locked in one order at the commit,
    but two refreshes can still meet on an index, or on the members of a story
    both edit) up to :data:`TRANSIENT_TRIES` times as it was, a moment apart. Anything else, or a third failure, propagates (the
    refresh's error boundary records it).
    """
    careful, transient = False, 0
    while True:
        try:
            return write(careful)
        except IntegrityError:
            if careful:
                raise
            careful = True
            log.info("slug race, storing again %s", what)
        except OperationalError as exc:
            if not is_transient(exc) or transient == TRANSIENT_TRIES:
                raise
            transient += 1
            log.info("transient database conflict (%s), storing again %s", exc.orig, what)
            # Apart, at random: two refreshes that deadlocked on one story's
            # members must not meet again at once (edits of a busy story do).
            time.sleep(random.uniform(0.02, 0.1) * transient)  # noqa: S311 - jitter, not a secret


def store_fetched(
    session: Session,
    source: Source,
    result: FetchResult,
    parsed: Parsed | None,
    settings: PollSettings,
    *,
    careful: bool = False,
) -> Outcome:
    """Write a successful fetch into the session: entries, identity and health."""
    now = result.fetched_at
    twin = _moved_onto_another(session, source, result)
    if twin is not None:
        # Its entries are that source's: stored twice, every feed would show them twice.
        problem = FetchError(
            source.feed_url or str(source.id),
            f"moved permanently to {result.permanent_redirect_url}, the feed source {twin}"
            " already polls; its entries are not stored twice (remove one of the two)",
        )
        record_failure(source, problem, settings)
        source.last_status = result.status
        return Outcome(source.id, result.status, error=source.last_error)
    stored = Stored()
    if parsed is not None:
        _update_identity(source, parsed.feed)
        stored = store_entries(session, source, parsed, now=now, careful=careful)
        from feedserver.aggregation.websub import note_advertised  # it imports this package

        note_advertised(session, source, result, parsed.feed)  # WebSub discovery (§7)
    if result.permanent_redirect_url and result.permanent_redirect_url != source.feed_url:
        _move(session, source, result.permanent_redirect_url)
    source.last_fetch_at = now
    source.last_status = result.status
    if result.gone:
        source.enabled = False
        source.error_count += 1
        source.last_error = f"fetch {result.url}: HTTP 410 Gone; source disabled"
        source.next_fetch_at = None
        log.warning("source gone, disabled source_id=%s", source.id)
        return Outcome(source.id, result.status, error=source.last_error)
    source.etag = safe_validator(result.validators.etag)
    source.last_modified = _last_modified(result.validators)
    source.last_success_at = now
    source.error_count = 0
    source.last_error = None
    if result.not_modified:  # a 304 that moved: the last 200's freshness still holds
        hints = kept_hints(result.cache, source.cache_seconds)
    else:
        hints = result.cache
        ttl = parsed.feed.ttl_minutes if parsed is not None else None
        source.ttl_minutes = min(ttl, MAX_TTL_MINUTES) if isinstance(ttl, int) and ttl > 0 else None
    source.cache_seconds = freshness_seconds(hints, now)
    ttl_delay = timedelta(minutes=source.ttl_minutes) if source.ttl_minutes else None
    source.next_fetch_at = schedule(now, _interval(source, settings), hints, ttl=ttl_delay)
    log.info(
        "refreshed source_id=%s status=%s added=%d updated=%d",
        source.id, result.status, stored.added, stored.updated,
    )  # fmt: skip
    return Outcome(source.id, result.status, stored.added, stored.updated)


def store_failure(db: Database, job: SourceJob, exc: FeedError, settings: PollSettings) -> Outcome:
    """Record a failed refresh in its own transaction; never raises (the lease then retries)."""
    try:
        with db.write_lock(), db.session() as session:
            source = session.get(Source, job.id)
            if not fetched_from(source, job):
                return Outcome(job.id, error=str(exc))
            record_failure(source, exc, settings)
            return Outcome(job.id, source.last_status, error=source.last_error)
    except Exception as error:  # the database itself: the source stays leased, retried later
        log_failure(log, "recording a failure failed source_id=%s", error, job.id)
        return Outcome(job.id, error=f"{exc} (not recorded: database error)"[:2000])


def record_failure(source: Source, exc: FeedError, settings: PollSettings) -> None:
    """Note a failed refresh: status, message, error count, backed-off next fetch."""
    now = datetime.now(UTC)
    status = exc.status  # an HTTP error's, or the answer's before the body or parse failed
    retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
    source.last_fetch_at = now
    # Past the fetch (parse, prepare, store), the upstream did answer (a 2xx).
    fetched = exc.stage in ("parse", "prepare", "store")
    source.last_status = status if status is not None else (200 if fetched else None)
    source.last_error = str(exc)[:2000]
    source.error_count = (source.error_count or 0) + 1
    source.next_fetch_at = schedule(
        now, _interval(source, settings), CacheHints(), errors=source.error_count,
        retry_after=retry_after,
    )  # fmt: skip
    log.warning(
        "refresh failed source_id=%s errors=%d next=%s: %s",
        source.id, source.error_count, source.next_fetch_at.isoformat(), exc,
    )  # fmt: skip


def store_unchanged(
    db: Database, items: Sequence[tuple[SourceJob, FetchResult]], settings: PollSettings
) -> list[Outcome]:
    """Record many plain 304s: one transaction, one executemany.

    Only health and schedule columns change, and no feed shows them, so no
    scope is bumped. A source removed meanwhile simply matches no row. If the
    batch fails, each row is written alone, so one bad value costs one source.
    """
    if not items:
        return []
    rows = [_unchanged_row(job, result, settings) for job, result in items]
    try:
        with db.write_lock(), db.session() as session:
            session.execute(_UNCHANGED, rows, execution_options={"synchronize_session": False})
    except Exception:
        if len(rows) == 1:
            raise
        log.exception("batched not-modified write failed; writing %d rows one by one", len(rows))
        outcomes = []
        for item in items:
            try:
                outcomes += store_unchanged(db, [item], settings)
            except Exception as exc:
                job = item[0]
                problem = StoreError(job.feed_url, describe(exc))
                outcomes.append(store_failure(db, job, problem, settings))
        return outcomes
    log.info("not modified: %d sources", len(items))
    return [Outcome(job.id, result.status) for job, result in items]


def _last_modified(validators: Validators) -> str | None:
    """What to keep of Last-Modified: the server's own text when valid, else the date written anew."""
    modified = validators.last_modified
    if modified is None:
        return None
    return validators.last_modified_text or format_http_date(modified)


MAX_TTL_MINUTES = 7 * 24 * 60  # an RSS <ttl> beyond a week is read as a week


def freshness_seconds(hints: CacheHints, now: datetime) -> int | None:
    """The freshness lifetime an answer gave (max-age, else Expires), to keep for its 304s."""
    if hints.max_age is not None:
        return int(hints.max_age.total_seconds())
    if hints.expires is not None:
        return max(0, int((hints.expires - now).total_seconds()))
    return None


def kept_hints(hints: CacheHints, stored: int | None) -> CacheHints:
    """A 304's freshness: its own Cache-Control or Expires, else what the last 200 said."""
    if hints.max_age is None and hints.expires is None and stored:
        return dataclasses.replace(hints, max_age=timedelta(seconds=stored))
    return hints


def _unchanged_row(job: SourceJob, result: FetchResult, settings: PollSettings) -> dict[str, Any]:
    now = result.fetched_at
    interval = timedelta(seconds=job.poll_interval or settings.poll_interval)
    hints = kept_hints(result.cache, job.cache_seconds)
    ttl = timedelta(minutes=job.ttl_minutes) if job.ttl_minutes else None
    return {
        "source_id": job.id,
        "fetched_url": job.feed_url,
        "fetched_at": now,
        "status": result.status,
        "new_etag": safe_validator(result.validators.etag),
        "new_last_modified": _last_modified(result.validators),
        "next_at": schedule(now, interval, hints, ttl=ttl),
        "cache_seconds": freshness_seconds(hints, now),
    }


def schedule(
    now: datetime,
    interval: timedelta,
    hints: CacheHints,
    *,
    ttl: timedelta | None = None,
    errors: int = 0,
    retry_after: datetime | None = None,
) -> datetime:
    """feeds.upstream.schedule.next_fetch; if a hostile value breaks it, a plain back-off."""
    try:
        return next_fetch(
            now, interval=interval, hints=hints, ttl=ttl, errors=errors, retry_after=retry_after
        )
    except Exception:
        log.exception("scheduling failed; plain back-off errors=%d", errors)
        return now + min(interval * (1 << min(errors, 16)), MAX_BACKOFF)


def safe_validator(etag: str | None) -> str | None:
    """An ETag we can send back: visible ASCII only (RFC 9110 §8.8.3), ≤ 500 chars, else none."""
    if not etag or len(etag) > 500 or not all(" " < c <= "~" for c in etag):
        return None
    return etag


def _interval(source: Source, settings: PollSettings) -> timedelta:
    return timedelta(seconds=source.poll_interval or settings.poll_interval)


def _moved_onto_another(session: Session, source: Source, result: FetchResult) -> int | None:
    """The id of another source whose feed URL this fetch was permanently redirected to."""
    moved = result.permanent_redirect_url
    if not moved or moved == source.feed_url or len(moved) > MAX_FEED_URL:
        return None
    return session.scalar(select(Source.id).where(Source.feed_url == moved, Source.id != source.id))


def _move(session: Session, source: Source, url: str) -> None:
    """Follow a permanent redirect, unless another source already polls that URL.

    A URL longer than the column holds is not followed (cut, it would name
    another resource): the source keeps polling its URL through the redirect.
    """
    if len(url) > MAX_FEED_URL:
        log.warning("feed moved to a URL over %d characters; not followed source_id=%s",
                    MAX_FEED_URL, source.id)  # fmt: skip
        return
    taken = session.scalar(select(Source.id).where(Source.feed_url == url, Source.id != source.id))
    if taken is None:
        log.info("feed moved permanently source_id=%s to=%s", source.id, url)
        source.feed_url = url
    else:
        log.warning("feed moved to the URL of source_id=%s; kept source_id=%s", taken, source.id)


def _update_identity(source: Source, feed: UpstreamFeed) -> None:
    """Keep the upstream feed's id/title/link (for Atom <source>) in step."""
    title = clip(feed.title, 500) or None
    if title and source.upstream_title != title:
        source.upstream_title = title
    if feed.id and source.upstream_id != feed.id[:2000]:
        source.upstream_id = feed.id[:2000]
    home = stored_url(feed.link)
    if home and source.home_url != home:
        source.home_url = home
    if feed.updated is not None:
        source.upstream_updated = min(feed.updated, datetime.now(UTC))
