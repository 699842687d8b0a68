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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import feedparser

from feeds.errors import ParseError
from feeds.model import Author, UpstreamEntry, UpstreamFeed
from feeds.sanitize import safe_url, to_text
from feeds.upstream.jsonfeed import looks_like_json, parse_json_feed
from feeds.upstream.tombstones import read_tombstones

_ENTITY = re.compile(rb"<!ENTITY\b", re.I)
# A harmless declaration: a name and one character reference, or a literal of
# a few characters without references (bounded amplification, no expansion).
_SAFE_ENTITY = re.compile(
    rb"""<!ENTITY\s+[\w.:-]+\s+("(?:[^"&%<]{0,8}|&\#x?[0-9a-f]{1,6};)"|'(?:[^'&%<]{0,8}|&\#x?[0-9a-f]{1,6};)')\s*>""",
    re.I,
)
_MAX_ENTITIES = 64
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> UpstreamFeed:
    """Parse a fetched document; ``url`` is where it came from (the base of its links)."""
    if not body or not body.strip():
        raise ParseError(url, "empty document")
    if looks_like_json(body, content_type):
        return parse_json_feed(body, url)
    check_doctype(body, url)
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
    feed = _from_feedparser(result, url, version or "unknown")
    # feedparser keeps only the last at:deleted-entry (RFC 6721); read them all.
    deleted = read_tombstones(body)
    return replace(feed, deleted=tuple(deleted)) if deleted else feed


def check_doctype(body: bytes, subject: str) -> None:
    """Refuse entity declarations that reach outside or expand (XXE, billion laughs).

    The whole document is scanned, not only its prolog, so no comment or
    padding can hide a declaration from us; a feed that merely *quotes* an
    unsafe declaration in CDATA is refused too, which we accept.
    """
    text = _ascii_compatible(body)
    declared = len(_ENTITY.findall(text))
    if not declared:
        return
    safe = len(_SAFE_ENTITY.findall(text))
    if declared != safe or declared > _MAX_ENTITIES:
        raise ParseError(
            subject,
            "DOCTYPE declares external, parameter, nested or long XML entities "
            "(refused: XXE or entity-expansion risk)",
        )


def _ascii_compatible(body: bytes) -> bytes:
    """The body in an encoding where "<!ENTITY" is ASCII (UTF-16/32 transcoded)."""
    if not (body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body[:4]):
        return body
    for codec in ("utf-32", "utf-16", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        if "<" in text[:64]:
            return text.encode("utf-8")
    return body.decode("utf-16", "replace").encode("utf-8")


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
    return UpstreamFeed(
        title=_text(info.get("title"), info.get("title_detail")),
        link=safe_url(info.get("link") or "", url),
        id=_stripped(info.get("id")),
        updated=_time(_own(info, "updated_parsed") or _own(info, "published_parsed")),
        entries=tuple(entries),
        format=version,
        ttl_minutes=int(ttl) if isinstance(ttl, str) and ttl.strip().isdigit() else None,
    )


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
    for tag in item.get("tags") or []:
        term = to_text(tag.get("label") or tag.get("term") or "", 200)
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
        # One RSS <author> element: read "email (Name)" ourselves.
        href = people[0].get("href") if people else None
        people = [{"name": _name_from_byline(byline), "href": href}]
    authors: list[Author] = []
    for person in people:
        # An address never becomes part of a published name.
        name = to_text(_EMAIL.sub("", person.get("name") or ""), 200).strip(" ,;()")
        if name and all(a.name != name for a in authors):
            authors.append(Author(name, safe_url(person.get("href") or "")))
    return tuple(authors)


def _text(value: str | None, detail: Any) -> str | None:
    """A title as plain text: markup stripped unless the feed said it is text."""
    if not value:
        return None
    kind = (detail or {}).get("type") or "text/html"
    text = " ".join(value.split())[:1000] if kind == "text/plain" else to_text(value, 1000)
    return text or None


def _as_html(value: str | None, kind: str | None) -> str | None:
    if not value or not value.strip():
        return None
    if kind == "text/plain":
        return html.escape(value).replace("\n\n", "<br><br>")
    return value


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
        return datetime(*parsed[:6], tzinfo=UTC)
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
