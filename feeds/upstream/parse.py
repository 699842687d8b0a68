"""Turn upstream bytes into an :class:`~feeds.model.UpstreamFeed`.

Formats: RSS 0.9x/1.0/2.0 (https://www.rssboard.org/rss-specification) and
Atom 0.3/1.0 (RFC 4287) through feedparser; JSON Feed 1.0/1.1
(https://www.jsonfeed.org/version/1.1/) by hand, in :mod:`feeds.upstream.jsonfeed`.

What comes out:

- titles (feed, entry), author names and categories are **plain text**
  (:func:`feeds.sanitize.to_text`); summaries and content are **raw upstream
  HTML** (text/plain bodies escaped into HTML) for the caller to pass through
  :func:`feeds.sanitize.clean_html` with the entry's ``base_url`` — only for
  new or changed entries, since that is half the cost of a parse;
- links absolute (against xml:base, the feed's URL) and http(s) only, or None;
- times timezone-aware UTC, or None when missing or unreadable;
- ids as given (stripped), or None: :func:`entry_key` picks a stable key.

feedparser runs with ``sanitize_html=False, resolve_relative_uris=False``
(our sanitizer does that work, once). Before it sees the bytes we refuse a
DOCTYPE that declares external or nested entities (XXE, "billion laughs"):
feedparser would mostly survive them (it strips unsafe declarations and
expat refuses external entities), but a clear refusal beats a half-parsed
feed, and no parser change can reopen the hole. The bytes are handed to
feedparser as a stream: given ``bytes`` it would try ``open()`` on them as a
*file name* first (feedparser.api._open_resource), and a body of
``/etc/passwd`` would read our own file.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import time
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import feedparser

from feeds.errors import ParseError
from feeds.lenient import bounded_datetime, parse_count
from feeds.model import Author, UpstreamEntry, UpstreamFeed
from feeds.sanitize import safe_url, to_text
from feeds.upstream.entities import check_doctype
from feeds.upstream.fastparse import parse_fast
from feeds.upstream.jsonfeed import looks_like_json, parse_json_feed
from feeds.upstream.tombstones import read_tombstones

# What one poll of one source may create at most. Past the cap, the newest
# entries by date are kept (neither RSS nor Atom says in which order a
# document lists them, and many list the oldest first); authors past the cap
# are dropped from the entries that name them (the entries themselves are kept).
MAX_ENTRIES = 500
MAX_AUTHORS = 50
MAX_AUTHORS_PER_ENTRY = 10
MAX_CATEGORIES = 50
# Raw characters of a title or name read before markup is stripped: the HTML
# reading is linear, but there is no reason to read a megabyte for 1,000
# characters of title (and some markup costs more per character than text).
MAX_RAW_TITLE = 8000
MAX_RAW_NAME = 2000
MAX_TTL_MINUTES = 60 * 24 * 365
# Characters of one entry's HTML body kept. html5ever (nh3) is quadratic on
# some hostile nestings (``<a><a><a><b>`` repeated: 0.4 s for 100 kB, two
# minutes for 2.4 MB), so a body is cut here, after its last complete tag
# before the bound, before anything reads it as HTML.
MAX_BODY_HTML = 256 * 1024


def cut_html(value: str | None, bound: int = MAX_BODY_HTML) -> str | None:
    """``value`` cut to ``bound`` characters, after a tag when there is one to cut at."""
    if value is None or len(value) <= bound:
        return value
    end = value.rfind(">", 0, bound)
    return value[: end + 1] if end > bound // 2 else value[:bound]


# feedparser looks for an e-mail address in an RSS author or publisher string
# (``managingEditor``, ``dc:creator``, ``itunes:author``…) with a regex that is
# quadratic in a run of letters with no "@" after it: 20 kB took 3 s, 120 kB
# ten minutes, so one hostile feed held a poll pass. The string is cut to this
# many characters before that search (its name is cut to 200 later anyway).
MAX_AUTHOR_SEARCHED = 300


def _bound_author_search() -> None:
    """Cut the string feedparser's author e-mail search reads (see MAX_AUTHOR_SEARCHED)."""
    from feedparser.mixin import _FeedParserMixin

    original = _FeedParserMixin._sync_author_detail
    if getattr(original, "bounded", False):
        return

    def _sync_author_detail(self: Any, key: str = "author") -> None:
        context = self._get_context()
        value = context.get(key)
        if isinstance(value, str) and len(value) > MAX_AUTHOR_SEARCHED:
            context[key] = value[:MAX_AUTHOR_SEARCHED]
        original(self, key)

    _sync_author_detail.bounded = True  # type: ignore[attr-defined]
    _FeedParserMixin._sync_author_detail = _sync_author_detail


_bound_author_search()

_HUB_REL = re.compile(rb"""rel\s*=\s*["'][^"']*\bhub\b""", re.I)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> UpstreamFeed:
    """Parse a fetched document; ``url`` is where it came from (the base of its links)."""
    if not body or not body.strip():
        raise ParseError(url, "empty document")
    if looks_like_json(body, content_type):
        return cap_feed(parse_json_feed(body, url))
    check_doctype(body, url, content_type)
    check_complete(body, url)
    body = no_surrogate_references(body)
    # The fast parser does not report the feed's own links, so a document that
    # may advertise a WebSub hub (rel="hub") is read by feedparser, which does.
    fast = None if _HUB_REL.search(body) else parse_fast(body, content_type)
    if fast is not None:
        shape, version = fast
        return _with_tombstones(cap_feed(_from_feedparser(_Result(shape), url, version)), body)
    return parse_feedparser(body, url, content_type, checked=True)


def parse_feedparser(
    body: bytes, url: str, content_type: str | None = None, *, checked: bool = False
) -> UpstreamFeed:
    """Parse an XML feed with feedparser alone (the fallback; the reference in bench/)."""
    if not checked:
        check_doctype(body, url, content_type)
        check_complete(body, url)
        body = no_surrogate_references(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    result = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = result.get("version") or ""
    if not version and not result.entries:
        raise ParseError(url, _not_a_feed(body, result))
    parsed = _from_feedparser(result, url, version or "unknown")
    if any(item.get("guidislink") for item in result.entries):
        parsed = _without_guessed_links(parsed, result.entries, body)
    return _with_tombstones(cap_feed(parsed), body)


_RAW_GUID = re.compile(
    rb"<guid\b[^>]{0,200}>\s*(?:<!\[CDATA\[)?([^<]{1,2000}?)\s*(?:\]\]>)?</guid>", re.I
)


def _without_guessed_links(parsed: UpstreamFeed, items: Any, body: bytes) -> UpstreamFeed:
    """Drop the links feedparser made of RSS guids that are no addresses.

    A ``<guid>`` without ``isPermaLink="false"`` claims to be the item's
    permalink; feedparser takes it for the link when there is no ``<link>``
    and resolves it against the feed's URL, so ``<guid>12345</guid>`` became
    ``https://host/12345``, an "Original Source" link to a page that never
    was. A guid counts as an address if it is an absolute http(s) URL or a
    path from the root (``/posts/12``).
    """
    guessed = {
        raw.decode("latin-1").strip()
        for raw in _RAW_GUID.findall(body)
        if not re.match(rb"\s*(https?://|/)", raw, re.I)
    }
    if not guessed:
        return parsed
    entries = []
    for entry, item in zip(parsed.entries, items, strict=False):
        link = entry.link
        if item.get("guidislink") and link and any(link.endswith(g) for g in guessed if g):
            entry = replace(entry, link=None)
        entries.append(entry)
    return replace(parsed, entries=tuple(entries))


# The root element of an RSS, Atom or RSS 1.0 document, after the prolog
# (XML declaration, comments, processing instructions, a DOCTYPE).
_ROOT = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*"
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF))[\s>/]",
    re.S,
)
TAIL = 4096  # bytes at the end of a document where its root must close


def check_complete(body: bytes, url: str) -> None:
    """Refuse an XML feed cut short: its root element (rss, feed, rdf:RDF) never closes.

    A connection closed early without a Content-Length, or a Content-Length
    shorter than the document, delivers a prefix that the tolerant parsers
    still read, last entry half-written (no body, no author). Miniflux's
    strict decoder refuses such a document; so do we, and keep what we had.
    Junk after the closing tag is tolerated (feedparser reads it), and
    documents in UTF-16 or UTF-32, or with another root, are not judged.
    """
    found = _ROOT.match(body[:2048])
    if found is None:
        return
    close = b"</" + found.group(1)
    tail = body[-TAIL:]
    at = tail.rfind(close)
    if at < 0 or not re.match(rb"\s*>", tail[at + len(close) :]):
        raise ParseError(
            url, f"the document ends before its <{found.group(1).decode()}> closes (cut short?)"
        )


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _no_character(found: re.Match[bytes]) -> bytes:
    hexa, decimal = found.groups()
    code = int(hexa, 16) if hexa else int(decimal)
    return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else found.group(0)


def no_surrogate_references(body: bytes) -> bytes:
    """Character references to no character (a surrogate, past U+10FFFF) as U+FFFD.

    XML forbids them; feedparser's tolerant parser, which takes over, then
    fails on them with an encoding error instead of reading the feed.
    """
    if b"&#" not in body:
        return body
    return _CHAR_REF.sub(_no_character, body)


def _with_tombstones(feed: UpstreamFeed, body: bytes) -> UpstreamFeed:
    """Add the document's RFC 6721 at:deleted-entry tombstones (every one of them).

    feedparser keeps only the last, and the fast parser none, so they are read
    with lxml (feeds.upstream.tombstones) — only when the bytes mention one.
    """
    if b"deleted-entry" not in body:
        return feed
    deleted = read_tombstones(body)
    return replace(feed, deleted=tuple(deleted)) if deleted else feed


class _Result(dict[str, Any]):
    """feedparser's result shape (``.feed``, ``.entries``) over plain dicts."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def newest(entries: tuple[UpstreamEntry, ...], cap: int) -> tuple[UpstreamEntry, ...]:
    """The ``cap`` newest entries (by published, else updated date), in document order.

    Entries without a date rank after every dated one, in document order.
    """
    if len(entries) <= cap:
        return entries

    def rank(pair: tuple[int, UpstreamEntry]) -> tuple[bool, float, int]:
        position, entry = pair
        when = entry.published or entry.updated
        return (when is None, -when.timestamp() if when else 0.0, position)

    kept = sorted(sorted(enumerate(entries), key=rank)[:cap], key=lambda pair: pair[0])
    return tuple(entry for _, entry in kept)


def _no_nul(value: Any) -> Any:
    """A parsed value without NUL characters (XML forbids them; PostgreSQL cannot store them)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, tuple):
        cleaned = tuple(_no_nul(item) for item in value)
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if isinstance(value, UpstreamEntry | Author):
        changes = {}
        for field in fields(value):
            old = getattr(value, field.name)
            new = _no_nul(old)
            if new is not old:
                changes[field.name] = new
        return replace(value, **changes) if changes else value
    return value


def cap_feed(feed: UpstreamFeed) -> UpstreamFeed:
    """Bound what one poll can create: entries, and distinct authors across them.

    Also the one place every parser's result passes: NUL characters (a
    tolerant parser reads ``&#0;``) are dropped from all of it.
    """
    feed = _no_nul_feed(feed)
    seen: set[str] = set()
    entries = []
    for entry in newest(feed.entries, MAX_ENTRIES):
        kept = []
        for author in entry.authors[:MAX_AUTHORS_PER_ENTRY]:
            if author.name in seen or len(seen) < MAX_AUTHORS:
                seen.add(author.name)
                kept.append(author)
        if len(kept) != len(entry.authors) or len(entry.categories) > MAX_CATEGORIES:
            entry = replace(
                entry, authors=tuple(kept), categories=entry.categories[:MAX_CATEGORIES]
            )
        entries.append(entry)
    if len(entries) == len(feed.entries) and all(
        a is b for a, b in zip(entries, feed.entries, strict=True)
    ):
        return feed
    return replace(feed, entries=tuple(entries))


def _no_nul_feed(feed: UpstreamFeed) -> UpstreamFeed:
    changes = {}
    for name in ("title", "link", "id", "hubs", "self_url", "deleted", "entries"):
        old = getattr(feed, name)
        new = _no_nul(old)
        if new is not old:
            changes[name] = new
    return replace(feed, **changes) if changes else feed


def _not_a_feed(body: bytes, result: Any) -> str:
    if _HTML_START.match(body[:4096]) or b"<html" in body[:1024].lower():
        return "an HTML page, not a feed (look for its autodiscovery links)"
    problem = result.get("bozo_exception")
    detail = f" ({problem})" if problem else ""
    return f"not an RSS, Atom or JSON feed{detail}"


def _from_feedparser(result: Any, url: str, version: str) -> UpstreamFeed:
    info = result.feed
    feed_authors = _authors(info.get("authors"))
    entries = []
    for item in result.entries:
        entry = _entry(item, url)
        if not entry.authors and version.startswith("atom") and feed_authors:
            # RFC 4287 §4.2.1: an entry without an author has the feed's.
            entry = replace(entry, authors=feed_authors)
        entries.append(entry)
    ttl = info.get("ttl")
    hubs, self_url = _websub_links(info.get("links"), url)
    return UpstreamFeed(
        title=_text(info.get("title"), info.get("title_detail")),
        link=safe_url(info.get("link") or "", url),
        id=_stripped(info.get("id")),
        updated=_time(_own(info, "updated_parsed") or _own(info, "published_parsed")),
        entries=tuple(entries),
        format=version,
        ttl_minutes=parse_count(ttl, MAX_TTL_MINUTES),
        hubs=hubs,
        self_url=self_url,
    )


MAX_HUBS = 8  # hub links kept from one document


def _websub_links(links: Any, url: str) -> tuple[tuple[str, ...], str | None]:
    """WebSub discovery in the document (https://www.w3.org/TR/websub/#discovery).

    Atom ``<link rel="hub">`` and RSS ``<atom:link rel="hub">`` (feedparser
    puts both in the feed's ``links``); a rel may hold several space-separated
    types (RFC 4287 allows any IRI, RFC 8288 a list). Only http(s) URLs count.
    """
    hubs: list[str] = []
    self_url = None
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict):
            continue
        rels = str(link.get("rel") or "").lower().split()
        href = safe_url(str(link.get("href") or ""), url)
        if not href:
            continue
        if "hub" in rels and href not in hubs and len(hubs) < MAX_HUBS:
            hubs.append(href)
        if "self" in rels and self_url is None:
            self_url = href
    return tuple(hubs), self_url


def _entry(item: Any, url: str) -> UpstreamEntry:
    content_html = None
    content_base = None
    contents = item.get("content") or []
    # Prefer an HTML body when several are given (Atom allows alternatives).
    contents = sorted(contents, key=lambda c: "html" not in (c.get("type") or ""))
    if contents:
        content_html = _as_html(contents[0].get("value"), contents[0].get("type"))
        content_base = contents[0].get("base")
    summary = item.get("summary_detail") or {}
    summary_html = _as_html(item.get("summary"), summary.get("type"))
    if contents and item.get("summary") == contents[0].get("value"):
        summary_html = None  # feedparser copies a lone Atom content into summary
    link = safe_url(item.get("link") or "", url)
    tags = []
    for tag in (item.get("tags") or [])[: MAX_CATEGORIES * 2]:
        term = to_text((tag.get("label") or tag.get("term") or "")[:MAX_RAW_NAME], 200)
        if term and term not in tags:
            tags.append(term)
    return UpstreamEntry(
        id=_stripped(item.get("id")),
        link=link,
        title=_text(item.get("title"), item.get("title_detail")),
        summary_html=summary_html,
        content_html=content_html,
        authors=_authors(item.get("authors"), item.get("author")),
        categories=tuple(tags),
        published=_time(_own(item, "published_parsed")),
        updated=_time(_own(item, "updated_parsed")),
        base_url=_base(content_base or summary.get("base"), link, url),
    )


def _base(declared: str | None, link: str | None, url: str) -> str:
    """Where relative URLs in an entry's HTML point.

    An xml:base (RFC 3986 §5.1.2 via XML Base) is authoritative; without one,
    feedparser reports the feed's URL, but relative links in a post are
    written relative to the post's page, so the entry's link is the better guess.
    """
    explicit = safe_url(declared or "", url)
    if explicit and explicit != url:
        return explicit
    return link or url


# RSS 2.0 <author> is "email (Name)"; many feeds write "Name <email>".
_EMAIL_THEN_NAME = re.compile(r"\s*[^\s()<>]+@[^\s()<>]+\s*\((?P<name>[^()]*)\)\s*")
_NAME_THEN_EMAIL = re.compile(r"\s*(?P<name>[^<>]*?)\s*<\s*[^\s<>]+@[^\s<>]+\s*>\s*")
_EMAIL = re.compile(r"[^\s()<>]+@[^\s()<>]+")


def _name_from_byline(raw: str) -> str:
    """The person's name in an RSS author string, never the e-mail address.

    feedparser's own split only knows top-level domains of two to four
    letters, so ``desk@wire.example (Lena Hart)`` would come out as a name of
    ``ple (Lena Hart``; the byline is read here instead.
    """
    for pattern in (_EMAIL_THEN_NAME, _NAME_THEN_EMAIL):
        match = pattern.fullmatch(raw)
        if match:
            return match["name"]
    return _EMAIL.sub("", raw)


def _authors(raw: Any, byline: Any = None) -> tuple[Author, ...]:
    people = [p for p in raw or [] if isinstance(p, dict)]
    if isinstance(byline, str) and "@" in byline and len(people) <= 1:
        byline = byline[:MAX_RAW_NAME]
        # One RSS <author> element: read "email (Name)" ourselves.
        href = people[0].get("href") if people else None
        people = [{"name": _name_from_byline(byline), "href": href}]
    authors: list[Author] = []
    for person in people:
        # An address never becomes part of a published name.
        raw_name = (person.get("name") or "")[:MAX_RAW_NAME]
        name = to_text(_EMAIL.sub("", raw_name), 200).strip(" ,;()")
        if name and all(a.name != name for a in authors):
            authors.append(Author(name, safe_url(person.get("href") or "")))
    return tuple(authors)


def _text(value: str | None, detail: Any) -> str | None:
    """A title as plain text: markup stripped unless the feed said it is text."""
    if not value or not isinstance(value, str):
        return None
    value = value[:MAX_RAW_TITLE]  # cut before any markup is read
    kind = (detail or {}).get("type") or "text/html"
    text = " ".join(value.split())[:1000] if kind == "text/plain" else to_text(value, 1000)
    return text or None


def _as_html(value: str | None, kind: str | None) -> str | None:
    if not value or not value.strip():
        return None
    if kind == "text/plain":
        return html.escape(value[:MAX_BODY_HTML]).replace("\n\n", "<br><br>")
    return cut_html(value)


def _own(parsed: Any, key: str) -> Any:
    """Read a key without feedparser's deprecated updated→published fallback."""
    return dict.get(parsed, key)


def _stripped(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _time(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return bounded_datetime(datetime(*parsed[:6], tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def entry_key(entry: UpstreamEntry) -> str:
    """A stable de-duplication key: the id, else the link, else a content hash."""
    if entry.id:
        return entry.id
    if entry.link:
        return entry.link
    digest = hashlib.sha256()
    for part in (entry.title, entry.summary_html, entry.content_html):
        digest.update((part or "").encode("utf-8", "replace") + b"\x00")
    return f"sha256:{digest.hexdigest()}"
