"""Feeds as typed, immutable data: what we publish and what we read upstream.

Publishing side: a :class:`Feed` of :class:`Entry` items, each with its
:class:`Author` byline, :class:`Category` and :class:`Attribution` to an
original source. The application builds these from rows; ``feeds.render``
serializes them (RSS 2.0, Atom 1.0, JSON Feed 1.1).

Reading side: ``feeds.upstream.parse`` turns upstream bytes into an
:class:`UpstreamFeed` of :class:`UpstreamEntry` items, whose fields may be
missing because upstream feeds are what they are.

:class:`Validators` carries an HTTP response's ETag and Last-Modified, both for
conditional GETs we make upstream and for the ones we answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Author:
    """A person in a byline. Never carries an e-mail address."""

    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Category:
    """A category of an entry: our section (term = slug, label = name)."""

    term: str
    label: str | None = None
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The original source an entry reports on or was republished from.

    ``feed_id``/``title``/``link``/``updated`` become Atom's ``<source>``
    (RFC 4287 §4.2.11); ``feed_url`` becomes RSS's ``<source url>``.
    """

    title: str
    link: str | None
    feed_url: str
    feed_id: str
    updated: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a feed, all URLs absolute, all times timezone-aware (UTC)."""

    id: str  # permanent: never changes when the article is edited
    title: str
    link: str
    published: datetime
    updated: datetime
    authors: tuple[Author, ...] = ()
    categories: tuple[Category, ...] = ()
    summary: str | None = None  # plain text
    content_html: str | None = None  # sanitized HTML, absolute URLs
    source: Attribution | None = None
    original_url: str | None = None  # Atom rel="via", JSON external_url
    comments_url: str | None = None  # the page's comment section (RSS <comments>)
    comments_feed_url: str | None = None  # wfw:commentRss, Atom rel="replies"
    comment_count: int | None = None  # slash:comments, thr:count
    # Stories (INTERFACE §10): every article of the story this entry leads,
    # one rel="via" link each in Atom and RSS, "_story" in JSON Feed.
    story_sources: tuple[StorySource, ...] = ()


@dataclass(frozen=True, slots=True)
class StorySource:
    """One article of a story, credited in the entry that leads it (INTERFACE §10)."""

    name: str  # its source, or the site's name for the newsroom's own
    url: str  # its original URL, or its page here when it has none


@dataclass(frozen=True, slots=True)
class Paging:
    """RFC 5005 §3 paged-feed links of one page (absolute URLs or None)."""

    first: str | None = None
    previous: str | None = None
    next: str | None = None
    last: str | None = None


@dataclass(frozen=True, slots=True)
class Tombstone:
    """An entry this feed no longer carries: RFC 6721 ``at:deleted-entry``.

    ``ref`` is the deleted entry's permanent id (its Atom ``id``, RSS ``guid``,
    JSON ``id``); ``link`` its former page, written as ``rel="related"``
    (``alternate`` would be read by feedparser as the feed's own link).
    https://www.rfc-editor.org/rfc/rfc6721#section-2
    """

    ref: str
    when: datetime
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    """One page of one feed in one format (self_url and paging are per format)."""

    id: str  # stable feed id (Atom <id>)
    title: str
    description: str
    link: str  # the HTML page of the scope
    self_url: str  # this document's own URL
    updated: datetime  # the newest change in the scope
    entries: tuple[Entry, ...] = ()
    paging: Paging = field(default_factory=Paging)
    language: str = "en"
    icon: str | None = None
    generator: str = "feedserver"
    # The other formats of the same page, for rel="alternate" links.
    alternates: tuple[tuple[str, str], ...] = ()  # (media type, URL)
    # Entries deleted from the scope while their tombstones are kept (RFC 6721).
    tombstones: tuple[Tombstone, ...] = ()
    # WebSub hubs (https://www.w3.org/TR/websub/#discovery): atom:link
    # rel="hub" in RSS and Atom, "hubs" in JSON Feed.
    hubs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rendered:
    """A serialized feed: the bytes and their media type."""

    body: bytes
    media_type: str  # with charset, e.g. "application/atom+xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP validators (RFC 9110 §8.8): an ETag as sent (quotes included)."""

    etag: str | None = None
    last_modified: datetime | None = None
    # Last-Modified as the server wrote it, when that is a valid HTTP-date:
    # sent back as is in If-Modified-Since, since some servers compare the
    # text, not the date (RFC 9110 §13.1.3: the most interoperable choice).
    last_modified_text: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamEntry:
    """One entry as read from an upstream feed; fields may be missing."""

    id: str | None
    link: str | None
    title: str | None
    summary_html: str | None
    content_html: str | None
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    # Where relative URLs in summary/content point (xml:base, the entry's or
    # the feed's URL): the base for feeds.sanitize.clean_html.
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamFeed:
    """An upstream feed as parsed: its identity and its entries."""

    title: str | None
    link: str | None  # its home page
    id: str | None
    updated: datetime | None
    entries: tuple[UpstreamEntry, ...] = ()
    format: str = ""  # e.g. "rss20", "atom10", "json11"
    ttl_minutes: int | None = None  # RSS <ttl>: a hint for feeds.upstream.schedule
    # WebSub discovery (https://www.w3.org/TR/websub/#discovery) from the document:
    # atom:link rel="hub"/"self" (Atom, RSS), JSON Feed ``hubs`` and ``feed_url``.
    hubs: tuple[str, ...] = ()
    self_url: str | None = None
    # RFC 6721 at:deleted-entry tombstones as (ref, when), read by
    # feeds.upstream.tombstones (feedparser keeps only the last one).
    deleted: tuple[tuple[str, datetime | None], ...] = ()
