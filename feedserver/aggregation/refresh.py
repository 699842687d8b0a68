"""Refresh one upstream source: fetch → parse → store, then schedule; and its health.

The pipeline (``feeds`` does the syndication work, this module the storing):

1. :func:`fetch` — a conditional GET with the stored validators, outside any
   database transaction (it may take seconds);
2. :func:`~feedserver.aggregation.entries.parse` — bytes → entries with their
   de-duplication keys and content hashes; a plain function of bytes, so the
   poller can run it (and :func:`~feedserver.aggregation.entries.prepare`, the
   sanitizing of new or changed entries) in another process;
3. :func:`store` — one transaction per source: only new or changed entries
   are written (:mod:`feedserver.aggregation.store`: new ones in bulk, changed
   ones through the ORM; unchanged ones are not touched, so our feeds'
   validators don't churn), and the source's health and next fetch time in
   the same transaction. A crash anywhere leaves the source as it was, with
   its lease: the next poll does the whole refresh again.

A 304 (nothing changed upstream, no move) only updates health columns, which
no feed shows: :func:`store_unchanged` writes many of them in one
transaction with one executemany, and the poller batches them.

Errors become health, never exceptions out of :func:`refresh`: the message
names the stage and the subject (``fetch https://…: HTTP 500``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feeds.errors import FeedError, HTTPStatusError
from feeds.model import UpstreamFeed, Validators
from feeds.sanitize import safe_url
from feeds.upstream.fetch import MIB, Fetcher, FetchResult
from feeds.upstream.schedule import next_fetch, parse_http_date
from feedserver.aggregation.entries import (
    Parsed as Parsed,  # re-exported: sources.py parses with these
)
from feedserver.aggregation.entries import clip
from feedserver.aggregation.entries import parse as parse
from feedserver.aggregation.store import upsert_entries
from feedserver.aggregation.tombstones import honour_tombstones
from feedserver.db import Database
from feedserver.models import Source

log = logging.getLogger(__name__)

Parser = Callable[[bytes, str, str | None], Parsed]


class StoreError(FeedError):
    """Storing a fetched feed failed (a database problem or a bug)."""

    stage = "store"


@dataclass(frozen=True, slots=True)
class PollSettings:
    """The settings the fetch/refresh/poll code needs, from app.config or a mapping."""

    poll_interval: int = 900
    allowlist: str = ""
    fetch_timeout: int = 20
    max_bytes: int = 5 * MIB
    concurrency: int = 16
    per_host: int = 4
    parse_processes: int = 0
    lease: int = 300

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PollSettings:
        def get(name: str, default: Any) -> Any:
            value = config.get(name)
            return default if value is None else value

        return cls(
            poll_interval=int(get("POLL_INTERVAL", 900)),
            allowlist=str(get("UPSTREAM_ALLOWLIST", "")),
            fetch_timeout=int(get("FETCH_TIMEOUT", 20)),
            max_bytes=int(get("FETCH_MAX_BYTES", 5 * MIB)),
            concurrency=max(1, int(get("POLL_CONCURRENCY", 16))),
            per_host=max(1, int(get("POLL_PER_HOST", 4))),
            parse_processes=max(0, int(get("POLL_PARSE_PROCESSES", 0))),
            lease=max(60, int(get("POLL_LEASE", 300))),
        )

    def fetcher(self) -> Fetcher:
        """Make the one shared fetcher (connection pool, guard, limits)."""
        return Fetcher(
            allowlist=self.allowlist,
            max_bytes=self.max_bytes,
            connect_timeout=min(10.0, self.fetch_timeout),
            read_timeout=float(self.fetch_timeout),
            total_timeout=float(self.fetch_timeout),
            max_connections=max(self.concurrency * 2, 10),
            max_per_host=self.per_host,
        )


@dataclass(frozen=True, slots=True)
class SourceJob:
    """What a refresh needs to know about a source before touching the database."""

    id: int
    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    poll_interval: int | None = None
    home_url: str | None = None

    @classmethod
    def of(cls, source: Source) -> SourceJob:
        return cls(
            source.id, source.feed_url or "", source.etag, source.last_modified,
            source.poll_interval, source.home_url,
        )  # fmt: skip

    @property
    def validators(self) -> Validators:
        return Validators(etag=self.etag, last_modified=parse_http_date(self.last_modified))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one refresh did, for logs, progress and the API."""

    source_id: int
    status: int | None = None
    added: int = 0
    updated: int = 0
    error: str | None = None


def fetch(fetcher: Fetcher, job: SourceJob) -> FetchResult:
    """Fetch a source's feed conditionally; raises feeds.errors.FetchError."""
    return fetcher.fetch(job.feed_url, job.validators)


def unchanged(job: SourceJob, result: FetchResult) -> bool:
    """A 304 that moved nowhere: only health to write (:func:`store_unchanged`)."""
    moved = result.permanent_redirect_url
    return result.not_modified and (not moved or moved == job.feed_url)


def refresh(
    db: Database,
    job: SourceJob,
    fetcher: Fetcher,
    settings: PollSettings,
    *,
    parser: Parser = parse,
    lock: Any = None,
) -> Outcome:
    """Refresh one source and record its health; never raises for upstream trouble."""
    try:
        result = fetch(fetcher, job)
    except FeedError as exc:
        return store_failure(db, job, exc, settings, lock)
    if unchanged(job, result):
        return store_unchanged(db, [(job, result)], settings, lock)[0]
    return complete(db, job, result, settings, parser=parser, lock=lock)


def complete(
    db: Database,
    job: SourceJob,
    result: FetchResult,
    settings: PollSettings,
    *,
    parser: Parser = parse,
    lock: Any = None,
) -> Outcome:
    """Parse and store a fetched result (not a plain 304); never raises for upstream trouble."""
    parsed = None
    try:
        if result.body is not None:
            parsed = parser(result.body, result.final_url, result.content_type)
    except FeedError as exc:
        return store_failure(db, job, exc, settings, lock)
    try:
        outcome: Outcome = _locked(lock, lambda: _store_once(db, job.id, result, parsed, settings))
        return outcome
    except Exception as exc:  # a bug or a database problem: still record it
        log.exception("store failed source_id=%s", job.id)
        problem = StoreError(job.feed_url, f"{type(exc).__name__}: {exc}"[:500])
        return store_failure(db, job, problem, settings, lock)


def _locked(lock: Any, work: Callable[[], Any]) -> Any:
    if lock is None:
        return work()
    with lock:
        return work()


def _store_once(
    db: Database,
    source_id: int,
    result: FetchResult,
    parsed: Parsed | None,
    settings: PollSettings,
) -> Outcome:
    """Store the result; on a slug race with another worker, retry with suffixed slugs."""
    for attempt in (1, 2):
        try:
            with db.session() as session:
                source = session.get(Source, source_id)
                if source is None:  # removed while we were fetching
                    return Outcome(source_id, result.status)
                return store(session, source, result, parsed, settings, careful=attempt > 1)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("slug race, storing again source_id=%s", source_id)
    raise AssertionError("unreachable")  # pragma: no cover


def store(
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
    added = updated = 0
    if parsed is not None:
        _update_identity(source, parsed.feed)
        parsed = honour_tombstones(session, source.id, parsed)  # RFC 6721, both ways
        added, updated = upsert_entries(session, source, parsed, now, careful=careful)
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
    source.etag = (result.validators.etag or "")[:500] or None
    modified = result.validators.last_modified
    source.last_modified = _http_date(modified) if modified else None
    source.last_success_at = now
    source.error_count = 0
    source.last_error = None
    ttl = parsed.feed.ttl_minutes if parsed is not None else None
    source.next_fetch_at = next_fetch(
        now,
        interval=_interval(source, settings),
        hints=result.cache,
        ttl=timedelta(minutes=min(ttl, 7 * 24 * 60)) if ttl else None,
    )
    log.info(
        "refreshed source_id=%s status=%s added=%d updated=%d",
        source.id, result.status, added, updated,
    )  # fmt: skip
    return Outcome(source.id, result.status, added, updated)


def store_failure(
    db: Database, job: SourceJob, exc: FeedError, settings: PollSettings, lock: Any = None
) -> Outcome:
    """Record a failed refresh in its own transaction."""

    def work() -> Outcome:
        with db.session() as session:
            source = session.get(Source, job.id)
            if source is None:
                return Outcome(job.id, error=str(exc))
            record_failure(source, exc, settings)
            return Outcome(job.id, source.last_status, error=source.last_error)

    return _locked(lock, work)  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any


_UNCHANGED = (
    update(Source.__table__)  # type: ignore[arg-type]  # declarative __table__ is typed as a FromClause
    .where(Source.__table__.c.id == bindparam("source_id"))
    .values(
        last_fetch_at=bindparam("fetched_at"),
        last_success_at=bindparam("fetched_at"),
        last_status=bindparam("status"),
        etag=bindparam("new_etag"),
        last_modified=bindparam("new_last_modified"),
        error_count=0,
        last_error=None,
        next_fetch_at=bindparam("next_at"),
    )
)


def store_unchanged(
    db: Database,
    items: Sequence[tuple[SourceJob, FetchResult]],
    settings: PollSettings,
    lock: Any = None,
) -> list[Outcome]:
    """Record many 304s (see :func:`unchanged`): one transaction, one executemany.

    Only health and schedule columns change, and no feed shows them, so no
    scope is bumped (the flush hook would bump none either). A source removed
    meanwhile simply matches no row.
    """
    if not items:
        return []
    rows = []
    for job, result in items:
        now = result.fetched_at
        modified = result.validators.last_modified
        interval = timedelta(seconds=job.poll_interval or settings.poll_interval)
        rows.append(
            {
                "source_id": job.id,
                "fetched_at": now,
                "status": result.status,
                "new_etag": (result.validators.etag or "")[:500] or None,
                "new_last_modified": _http_date(modified) if modified else None,
                "next_at": next_fetch(now, interval=interval, hints=result.cache),
            }
        )

    def work() -> None:
        with db.session() as session:
            session.execute(_UNCHANGED, rows, execution_options={"synchronize_session": False})

    _locked(lock, work)
    log.info("not modified: %d sources", len(items))
    return [Outcome(job.id, result.status) for job, result in items]


def record_failure(source: Source, exc: FeedError, settings: PollSettings) -> None:
    """Note a failed refresh: status, message, error count, backed-off next fetch."""
    now = datetime.now(UTC)
    status = exc.status if isinstance(exc, HTTPStatusError) else None
    retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
    source.last_fetch_at = now
    source.last_status = status if status is not None else (200 if exc.stage == "parse" else None)
    source.last_error = str(exc)[:2000]
    source.error_count = (source.error_count or 0) + 1
    source.next_fetch_at = next_fetch(
        now, interval=_interval(source, settings), errors=source.error_count,
        retry_after=retry_after,
    )  # fmt: skip
    log.warning(
        "refresh failed source_id=%s errors=%d next=%s: %s",
        source.id, source.error_count, source.next_fetch_at.isoformat(), exc,
    )  # fmt: skip


def _interval(source: Source, settings: PollSettings) -> timedelta:
    return timedelta(seconds=source.poll_interval or settings.poll_interval)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _move(session: Session, source: Source, url: str) -> None:
    """Follow a permanent redirect, unless another source already polls that URL."""
    taken = session.scalar(select(Source.id).where(Source.feed_url == url, Source.id != source.id))
    if taken is None:
        log.info("feed moved permanently source_id=%s to=%s", source.id, url)
        source.feed_url = url[:2000]
    else:
        log.warning("feed moved to the URL of source_id=%s; kept source_id=%s", taken, source.id)


def feed_title(feed: UpstreamFeed) -> str:
    """The upstream feed's title ("" when it has none): plain text already, so only clipped."""
    return clip(feed.title, 200)


def _update_identity(source: Source, feed: UpstreamFeed) -> None:
    """Keep the upstream feed's id/title/link (for Atom <source>) in step."""
    title = clip(feed.title, 500) or None
    if title and source.upstream_title != title:
        source.upstream_title = title
    if feed.id and source.upstream_id != feed.id[:2000]:
        source.upstream_id = feed.id[:2000]
    home = safe_url(feed.link) if feed.link else None
    if home and source.home_url != home[:2000]:
        source.home_url = home[:2000]
    if feed.updated is not None:
        source.upstream_updated = min(feed.updated, datetime.now(UTC))
