"""Refresh one upstream source: fetch → parse → sanitize → upsert, then schedule.

The pipeline (``feeds`` does the syndication work, this module the storing):

1. :func:`fetch` — a conditional GET with the stored validators, outside any
   database transaction (it may take seconds);
2. :func:`parse` — bytes → :class:`feeds.model.UpstreamFeed`, plus each
   entry's de-duplication key and content hash. A plain function of bytes so
   the poller can run it in another process;
3. :func:`store` — one transaction per source: only new or changed entries
   are sanitized and written (unchanged ones are not touched, so our feeds'
   validators don't churn), and the source's health and next fetch time are
   written in the same transaction. A crash anywhere leaves the source as it
   was, with its lease: the next poll does the whole refresh again.

Errors become health, never exceptions out of :func:`refresh`: the message
names the stage and the subject (``fetch https://…: HTTP 500``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feeds.errors import FeedError, HTTPStatusError
from feeds.fetch import MIB, Fetcher, FetchResult
from feeds.model import UpstreamEntry, UpstreamFeed, Validators
from feeds.parse import entry_key as upstream_key
from feeds.parse import parse_feed
from feeds.sanitize import clean_html, safe_url, to_text
from feeds.schedule import next_fetch, parse_http_date

from .db import Database
from .models import Article, Author, Source
from .slugs import slugify

log = logging.getLogger(__name__)

KEY_LENGTH = 512  # Article.upstream_key
TITLE_LENGTH = 500  # Article.title
SUMMARY_LENGTH = 600  # plain-text summary kept from upstream


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

    @classmethod
    def of(cls, source: Source) -> SourceJob:
        return cls(source.id, source.feed_url or "", source.etag, source.last_modified)

    @property
    def validators(self) -> Validators:
        return Validators(etag=self.etag, last_modified=parse_http_date(self.last_modified))


@dataclass(frozen=True, slots=True)
class Incoming:
    """One upstream entry with its de-duplication key and content hash."""

    key: str
    hash: str
    entry: UpstreamEntry


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed upstream feed and its entries, de-duplicated, in feed order."""

    feed: UpstreamFeed
    entries: tuple[Incoming, ...]


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


def parse(body: bytes, url: str, content_type: str | None = None) -> Parsed:
    """Parse feed bytes and key its entries (pure: runs in a parse process too)."""
    feed = parse_feed(body, url, content_type)
    seen: set[str] = set()
    entries = []
    for entry in feed.entries:
        digest = content_hash(entry)
        key = entry_key(entry, digest)
        if key not in seen:  # a feed that repeats an entry: the first one wins
            seen.add(key)
            entries.append(Incoming(key, digest, entry))
    return Parsed(feed, tuple(entries))


def content_hash(entry: UpstreamEntry) -> str:
    """Hash what we store of an entry, as upstream sent it (before sanitizing)."""
    fields = [
        entry.id, entry.link, entry.title, entry.summary_html, entry.content_html,
        [(a.name, a.url) for a in entry.authors],
        entry.published.isoformat() if entry.published else None,
        entry.updated.isoformat() if entry.updated else None,
    ]  # fmt: skip
    raw = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.blake2b(raw, digest_size=32).hexdigest()


def entry_key(entry: UpstreamEntry, digest: str) -> str:
    """De-duplicate by entry id, else link, else a hash of its text (feeds.parse)."""
    key = upstream_key(entry).strip() or "hash:" + digest
    if len(key) > KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def refresh(
    db: Database,
    job: SourceJob,
    fetcher: Fetcher,
    settings: PollSettings,
    *,
    parser: Callable[[bytes, str, str | None], Parsed] = parse,
    lock: Any = None,
) -> Outcome:
    """Refresh one source and record its health; never raises for upstream trouble."""
    try:
        result = fetch(fetcher, job)
        parsed = None
        if result.body is not None:
            parsed = parser(result.body, result.final_url, result.content_type)
    except FeedError as exc:
        return _store_failure(db, job.id, exc, settings, lock)
    try:
        return _locked(lock, lambda: _store_once(db, job.id, result, parsed, settings))
    except Exception as exc:  # a bug or a database problem: still record it
        log.exception("store failed source_id=%s", job.id)
        problem = StoreError(job.feed_url, f"{type(exc).__name__}: {exc}"[:500])
        return _store_failure(db, job.id, problem, settings, lock)


def _locked(lock: Any, work: Callable[[], Outcome]) -> Outcome:
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


def _store_failure(
    db: Database, source_id: int, exc: FeedError, settings: PollSettings, lock: Any
) -> Outcome:
    def work() -> Outcome:
        with db.session() as session:
            source = session.get(Source, source_id)
            if source is None:
                return Outcome(source_id, error=str(exc))
            record_failure(source, exc, settings)
            return Outcome(source_id, source.last_status, error=source.last_error)

    return _locked(lock, work)


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
    from email.utils import format_datetime

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
    """The upstream feed's title as plain text ("" when it has none)."""
    return to_text(feed.title, 200)


def _update_identity(source: Source, feed: UpstreamFeed) -> None:
    """Keep the upstream feed's id/title/link (for Atom <source>) in step."""
    title = to_text(feed.title, 500) or None
    if title and source.upstream_title != title:
        source.upstream_title = title
    if feed.id and source.upstream_id != feed.id[:2000]:
        source.upstream_id = feed.id[:2000]
    home = safe_url(feed.link) if feed.link else None
    if home and source.home_url != home[:2000]:
        source.home_url = home[:2000]
    if feed.updated is not None:
        source.upstream_updated = min(feed.updated, datetime.now(UTC))


def upsert_entries(
    session: Session, source: Source, parsed: Parsed, now: datetime, *, careful: bool = False
) -> tuple[int, int]:
    """Insert new entries and update changed ones; return (added, updated)."""
    incoming = parsed.entries
    if not incoming:
        return 0, 0
    known: dict[str, tuple[int, str | None]] = {}
    keys = [i.key for i in incoming]
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(Article.upstream_key, Article.id, Article.content_hash).where(
                Article.source_id == source.id, Article.upstream_key.in_(keys[start : start + 500])
            )
        )
        known.update({key: (ident, digest) for key, ident, digest in rows})
    todo = {i.key for i in incoming if i.key not in known or known[i.key][1] != i.hash}
    if not todo:
        return 0, 0
    work = [i for i in incoming if i.key in todo]
    titles = {i.key: _title(i.entry) for i in work}
    with session.no_autoflush:  # one flush at commit, not one per lookup
        authors = _Authors(session, source, [i.entry for i in work])
        slugs = _Slugs(
            session, source.id, careful, [titles[i.key] for i in work if i.key not in known]
        )
        edited = {
            a.id: a
            for a in session.scalars(
                select(Article).where(
                    Article.id.in_([known[i.key][0] for i in work if i.key in known])
                )
            )
        }
        added = updated = 0
        fallback_base = source.home_url or source.feed_url
        # Feeds list newest first: an undated entry further down gets an earlier
        # first-seen instant, so the feed order survives and no two are equal.
        for position, item in enumerate(incoming):
            if item.key not in todo:
                continue
            entry = item.entry
            link = safe_url(entry.link) if entry.link else None
            seen = now - timedelta(microseconds=position)
            if item.key in known:
                article = edited[known[item.key][0]]
                if entry.published is not None:
                    article.published_at = _instant(entry.published, now, item.key, source.id)
                article.updated_at = (
                    _instant(entry.updated, now, item.key, source.id) if entry.updated else seen
                )
                updated += 1
            else:
                published = _instant(entry.published or entry.updated, now, item.key, source.id)
                published = published or seen
                article = Article(
                    slug=slugs.new(titles[item.key], item.key),
                    source_id=source.id,
                    upstream_key=item.key,
                    published_at=published,
                    updated_at=_instant(entry.updated, now, item.key, source.id) or published,
                    created_at=now,
                )
                session.add(article)
                added += 1
            article.title = titles[item.key]
            article.summary = _summary(entry.summary_html or entry.content_html)
            base = entry.base_url or link or fallback_base
            article.body_html = clean_html(entry.content_html or entry.summary_html or "", base)
            article.original_url = link[:2000] if link else None
            article.section_id = source.section_id
            article.content_hash = item.hash
            article.updated_at = max(article.updated_at, article.published_at)
            article.set_authors(authors.find(entry))
    return added, updated


def _summary(html: str | None) -> str:
    """Plain-text summary from the start of the HTML (to_text is costly on long bodies)."""
    if html and len(html) > SUMMARY_LENGTH * 4:
        # Cut after a tag boundary so no half tag becomes text.
        end = html.rfind(">", 0, SUMMARY_LENGTH * 4)
        html = html[: end + 1] if end > 0 else html[: SUMMARY_LENGTH * 4]
    return to_text(html, SUMMARY_LENGTH)


def _title(entry: UpstreamEntry) -> str:
    """Plain-text title; without one, the start of the summary, else "Untitled"."""
    return (
        to_text(entry.title, TITLE_LENGTH)
        or to_text(_summary(entry.summary_html or entry.content_html), 80)
        or "Untitled"
    )


def _instant(moment: datetime | None, now: datetime, key: str, source_id: int) -> Any:
    """A stored instant: future clamped to now; whole seconds get a stable sub-second part."""
    if moment is None:
        return None
    moment = min(moment.astimezone(UTC), now)
    if moment.microsecond == 0 and moment != now:
        # Upstream dates have second precision; two entries of one second
        # would share an Atom <updated>. A stable fraction keeps them apart.
        digest = hashlib.blake2b(f"{source_id}:{key}".encode(), digest_size=4).digest()
        moment = moment.replace(microsecond=1 + int.from_bytes(digest, "big") % 999_998)
        moment = min(moment, now)
    return moment


class _Authors:
    """The upstream authors of one source, found (one query) or created by name."""

    def __init__(self, session: Session, source: Source, entries: list[UpstreamEntry]) -> None:
        self.session = session
        self.source = source
        names = {to_text(p.name, 200) for e in entries for p in e.authors} - {""}
        self.cache: dict[str, Author] = {}
        if names:
            query = select(Author).where(Author.source_id == source.id, Author.name.in_(names))
            self.cache = {a.name: a for a in session.scalars(query)}
        self.slugs: set[str] = set()

    def find(self, entry: UpstreamEntry) -> list[Author]:
        found: list[Author] = []
        for person in entry.authors:
            name = to_text(person.name, 200)
            if name and all(a.name != name for a in found):
                found.append(self._one(name, person.url))
        return found

    def _one(self, name: str, url: str | None) -> Author:
        author = self.cache.get(name)
        if author is None:
            slug = _free_slug(self.session, Author, f"{name} {self.source.slug}", self.slugs)
            safe = safe_url(url) if url else None
            author = Author(slug=slug, name=name, source_id=self.source.id, url=safe, bio="")
            self.session.add(author)
            self.cache[name] = author
        return author


class _Slugs:
    """Article slugs: the title's, or the title's with a stable suffix when taken."""

    def __init__(self, session: Session, source_id: int, careful: bool, titles: list[str]) -> None:
        self.session = session
        self.source_id = source_id
        self.careful = careful
        self.used: set[str] = set()
        bases = {slugify(t, max_length=100, fallback="article") for t in titles}
        # One query for every plain slug this batch may want.
        self.taken = set(session.scalars(select(Article.slug).where(Article.slug.in_(bases))))

    def new(self, title: str, key: str) -> str:
        base = slugify(title, max_length=100, fallback="article")
        slug = base
        if self.careful or slug in self.used or slug in self.taken:
            digest = hashlib.blake2b(f"{self.source_id}:{key}".encode(), digest_size=5)
            slug = f"{base}-{digest.hexdigest()}"
            n = 2
            while slug in self.used or self._taken(slug):
                slug = f"{base}-{digest.hexdigest()}-{n}"
                n += 1
        self.used.add(slug)
        return slug

    def _taken(self, slug: str) -> bool:
        return self.session.scalar(select(Article.id).where(Article.slug == slug)) is not None


def _free_slug(session: Session, model: Any, text: str, used: set[str]) -> str:
    base = slugify(text, max_length=100, fallback="author")
    slug, n = base, 2
    while slug in used or session.scalar(select(model.id).where(model.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug
