"""Upstream entries as plain values: parse, key, hash and prepare them for storing.

Pure functions of their arguments (no database, no Flask, no SQLAlchemy), so
the poller can run them in a parse process that starts quickly:

- :func:`parse` — feed bytes → :class:`Parsed` (each entry with its
  de-duplication key and content hash);
- :func:`prepare` — the entries to write → :class:`Prepared` rows: plain-text
  title and summary, sanitized body, safe link. Only new or changed entries are
  prepared, since sanitizing is most of the cost;
- :func:`parse_prepared` — both at once, for a source's first poll (every
  entry is new): the poller runs it outside the write lock, in a parse process
  when one is free, so the store step only writes.

``feeds.upstream.parse`` already gives titles and author names as plain text; they are
only clipped here, never stripped of "tags" again (an Atom ``type="text"``
title ``x <b> y`` stays ``x <b> y``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from feeds.model import UpstreamEntry, UpstreamFeed
from feeds.sanitize import clean_html, clip_text, safe_url, to_text
from feedserver.stories.similarity import UNTITLED, Document, document_of, index_terms

KEY_LENGTH = 512  # Article.upstream_key
TITLE_LENGTH = 500  # Article.title
SUMMARY_LENGTH = 600  # plain-text summary kept from upstream
SUMMARY_PREFIX = 900  # HTML read first for it (usually holds enough text)
NAME_LENGTH = 200  # Author.name
URL_LENGTH = 2000  # Article.original_url, Author.url, Source.home_url


def stored_url(value: str | None) -> str | None:
    """An upstream link as stored: http(s) only, and None when too long to store whole.

    A link cut to the column's width would lead nowhere, so it is not kept.
    """
    url = safe_url(value) if value else None
    return url if url is not None and len(url) <= URL_LENGTH else None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One upstream entry with its de-duplication key and content hash."""

    key: str
    hash: str
    entry: UpstreamEntry


@dataclass(frozen=True, slots=True)
class Prepared:
    """One entry ready to be written: plain text, sanitized HTML, safe URLs."""

    key: str
    hash: str
    position: int  # in the feed (newest first): orders undated entries
    title: str
    summary: str
    body_html: str
    original_url: str | None
    published: datetime | None
    updated: datetime | None
    authors: tuple[tuple[str, str | None], ...]  # (name, safe url), de-duplicated
    # What story grouping compares (stories.index.document_of), worked out
    # with the parse on a first poll, outside the write lock; else None.
    story_doc: Document | None = field(default=None, compare=False)
    story_terms: tuple[str, ...] | None = field(default=None, compare=False)  # its index words


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed upstream feed and its entries, de-duplicated, in feed order.

    ``prepared`` (from :func:`parse_prepared`): every entry already prepared,
    ``prepared[i]`` for ``entries[i]``, against the fallback base
    ``prepared_base``; the store uses them only while both still hold.
    """

    feed: UpstreamFeed
    entries: tuple[Incoming, ...]
    prepared: tuple[Prepared, ...] | None = None
    prepared_base: str | None = None

    def rows(self, todo: list[tuple[int, Incoming]], base: str | None) -> list[Prepared] | None:
        """The prepared rows of these (position, entry) pairs, if prepared against ``base``."""
        done = self.prepared
        if done is None or self.prepared_base != base or len(done) != len(self.entries):
            return None
        rows = [done[position] for position, _ in todo]
        if any(row.key != item.key for row, (_, item) in zip(rows, todo, strict=True)):
            return None
        return rows


def parse(body: bytes, url: str, content_type: str | None = None) -> Parsed:
    """Parse feed bytes and key its entries (pure: runs in a parse process too)."""
    # Imported here: feedparser is a sixth of a poller's start-up, and a
    # steady-state poll (every upstream answers 304) never parses.
    from feeds.upstream.parse import parse_feed

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


def _with_story(row: Prepared) -> Prepared:
    """The row with what grouping compares of it, and the words it is filed under."""
    doc = document_of(row.title, row.summary, row.body_html)
    return replace(row, story_doc=doc, story_terms=tuple(index_terms(doc)))


def parse_prepared(
    body: bytes, url: str, content_type: str | None, home_url: str | None, feed_url: str
) -> Parsed:
    """:func:`parse`, with every entry prepared (a first poll: all of them are new).

    The fallback base is the one the store will use: the source's home page
    as the feed now names it (else as stored), else its feed URL. Should
    preparing fail, the entries go unprepared: the store prepares them and
    reports the failure as it would have.
    """
    parsed = parse(body, url, content_type)
    base = stored_url(parsed.feed.link) or home_url or feed_url
    try:
        rows = prepare(enumerate(parsed.entries), base)
        rows = [_with_story(r) for r in rows]
    except Exception:  # noqa: BLE001 - the store step prepares again and reports it
        return parsed
    return Parsed(parsed.feed, parsed.entries, tuple(rows), base)


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
    """De-duplicate by entry id, else link, else a hash of its text (feeds.upstream.parse)."""
    from feeds.upstream.parse import entry_key as upstream_key

    key = upstream_key(entry).strip() or "hash:" + digest
    if len(key) > KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def prepare(items: Iterable[tuple[int, Incoming]], fallback_base: str | None) -> list[Prepared]:
    """Turn (feed position, entry) pairs into rows to write (pure: runs in a process too)."""
    rows = []
    for position, item in items:
        entry = item.entry
        link = stored_url(entry.link)
        summary = summary_text(entry.summary_html or entry.content_html)
        base = entry.base_url or link or fallback_base
        authors: list[tuple[str, str | None]] = []
        for person in entry.authors:
            name = clip(person.name, NAME_LENGTH)
            if name and all(name != known for known, _ in authors):
                authors.append((name, stored_url(person.url)))
        rows.append(
            Prepared(
                key=item.key,
                hash=item.hash,
                position=position,
                title=clip(entry.title, TITLE_LENGTH) or clip(summary, 80) or UNTITLED,
                summary=summary,
                body_html=clean_html(entry.content_html or entry.summary_html or "", base),
                original_url=link,
                published=_utc(entry.published),
                updated=_utc(entry.updated),
                authors=tuple(authors),
            )
        )
    return rows


def clip(text: str | None, max_length: int) -> str:
    """Plain text on one line, cut at a word boundary with "…" (to_text without the HTML)."""
    return clip_text(text, max_length)


def summary_text(html: str | None) -> str:
    """Plain-text summary from the start of the HTML.

    to_text is costly on long bodies, so it reads a prefix (cut after a tag,
    so no half tag becomes text): first a short one, which gives the same
    summary whenever it alone holds more text than the summary keeps.
    """
    if not html:
        return ""
    if len(html) > SUMMARY_PREFIX:
        end = html.rfind(">", 0, SUMMARY_PREFIX)
        if end > 0:
            text = to_text(html[: end + 1], None)
            if len(text) > SUMMARY_LENGTH:
                return clip(text, SUMMARY_LENGTH)
    if len(html) > SUMMARY_LENGTH * 4:
        end = html.rfind(">", 0, SUMMARY_LENGTH * 4)
        html = html[: end + 1] if end > 0 else html[: SUMMARY_LENGTH * 4]
    return to_text(html, SUMMARY_LENGTH)


# The earliest date an upstream entry may carry; see instant().
PLAUSIBLE_SINCE = datetime(1990, 1, 1, tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def new_dates(row: Prepared, now: datetime, source_id: int) -> tuple[datetime, datetime]:
    """(published, updated) of a new article.

    Feeds list newest first: an undated entry further down gets an earlier
    first-seen instant, so the feed order survives and no two are equal.
    """
    seen = now - timedelta(microseconds=row.position)
    published = instant(row.published or row.updated, now, row.key, source_id) or seen
    updated = instant(row.updated, now, row.key, source_id) or published
    return published, max(updated, published)


def instant(moment: datetime | None, now: datetime, key: str, source_id: int) -> datetime | None:
    """A stored instant: future clamped to now; whole seconds get a stable sub-second part.

    A date before 1990 is a placeholder ("1900-01-01", a zero timestamp), not
    a publication time: it counts as no date (the W3C validator calls it
    implausible, and it would sink the entry to the bottom of every feed).
    """
    if moment is None or moment < PLAUSIBLE_SINCE:
        return None
    moment = min(moment.astimezone(UTC), now)
    if moment.microsecond == 0 and moment != now:
        # Upstream dates have second precision; two entries of one second
        # would share an Atom <updated>. A stable fraction keeps them apart.
        digest = hashlib.blake2b(f"{source_id}:{key}".encode(), digest_size=4).digest()
        moment = moment.replace(microsecond=1 + int.from_bytes(digest, "big") % 999_998)
        moment = min(moment, now)
    return moment
