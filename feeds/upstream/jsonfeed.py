"""Read JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) by hand.

The top level must be an object with a JSON Feed ``version`` URL and an
``items`` array, or it is a :class:`~feeds.errors.ParseError`. Below that we
are lenient the way readers must be: a field of the wrong type counts as
missing, an item that is not an object is skipped.

Mapping: ``id`` (string, or number as published by some generators) → id;
``url`` (else ``external_url``) → link; ``title``; ``content_html``, else
``content_text`` escaped → content; ``summary`` (plain text in JSON Feed) →
escaped summary; ``date_published``/``date_modified`` (RFC 3339);
``authors`` (1.1) or ``author`` (1.0), else the feed's; ``tags``.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime
from typing import Any

from feeds.errors import ParseError
from feeds.lenient import parse_rfc3339
from feeds.model import Author, UpstreamEntry, UpstreamFeed
from feeds.sanitize import NONCHARACTERS, safe_url, to_text

MAX_ID = 2000  # characters of an item id kept
MAX_TAGS = 100  # tags or authors read per item
MAX_RAW_NAME = 2000  # characters of an author name read before markup is stripped
MAX_BODY = 256 * 1024  # characters of HTML body kept (feeds.upstream.parse.MAX_BODY_HTML)

VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """Whether to read ``body`` as JSON: it starts like an object, or is said to be JSON.

    What the body starts with wins over the label both ways: servers label
    feeds wrongly, and an XML document (``<``) is never JSON.
    """
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"<"):
        return first == b"{"
    media = (content_type or "").split(";")[0].strip().lower()
    return media.endswith(("/json", "+json"))


def parse_json_feed(body: bytes, url: str) -> UpstreamFeed:
    """Parse a JSON Feed document fetched from ``url``."""
    try:
        document = _scrub(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, f"invalid JSON ({str(exc)[:200]})") from None
    if not isinstance(document, dict):
        raise ParseError(url, "JSON, but not a JSON Feed (the top level is not an object)")
    version = _str(document.get("version"))
    fmt = VERSIONS.get((version or "").replace("http://", "https://", 1).rstrip("/"))
    if fmt is None:
        if version and version.startswith(("https://jsonfeed.org/", "http://jsonfeed.org/")):
            fmt = "json11"  # a future 1.x: read what we know
        else:
            raise ParseError(url, "JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "JSON Feed without an items array")

    feed_url = safe_url(_str(document.get("feed_url")) or "", url) or url
    feed_authors = _authors(document, feed_url)
    entries = tuple(_item(item, feed_url, feed_authors) for item in items if isinstance(item, dict))
    times = [t for e in entries if (t := e.updated or e.published) is not None]
    declared_self = safe_url(_str(document.get("feed_url")) or "", url)
    return UpstreamFeed(
        title=_plain(document.get("title")),
        link=safe_url(_str(document.get("home_page_url")) or "", feed_url),
        id=feed_url,  # JSON Feed has no feed id; its URL is the stable name
        updated=max(times, default=None),
        entries=entries,
        format=fmt,
        hubs=_hubs(document.get("hubs"), feed_url),
        self_url=declared_self,
    )


def _hubs(raw: Any, base: str) -> tuple[str, ...]:
    """JSON Feed ``hubs``: objects with ``type`` and ``url``; WebSub ones only.

    JSON Feed 1.1 names ``rssCloud`` and ``WebSub`` as types; the older name
    ``PubSubHubbub`` is the same protocol.
    """
    hubs: list[str] = []
    for hub in raw if isinstance(raw, list) else []:
        if not isinstance(hub, dict):
            continue
        kind = (_str(hub.get("type")) or "").strip().lower()
        url = safe_url(_str(hub.get("url")) or "", base)
        if kind in ("websub", "pubsubhubbub") and url and url not in hubs and len(hubs) < 8:
            hubs.append(url)
    return tuple(hubs)


def _item(item: dict[str, Any], base: str, feed_authors: tuple[Author, ...]) -> UpstreamEntry:
    raw_id = item.get("id")
    item_id: str | None = None
    if isinstance(raw_id, str):
        item_id = raw_id.strip()[:MAX_ID] or None
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool) and abs(raw_id) < 10**30:
        item_id = str(raw_id)
    elif isinstance(raw_id, float) and math.isfinite(raw_id) and raw_id.is_integer():
        item_id = str(int(raw_id)) if abs(raw_id) < 1e30 else None
    link = safe_url(_str(item.get("url")) or "", base)
    external = safe_url(_str(item.get("external_url")) or "", base)
    content = _str(item.get("content_html"))
    if content is not None and len(content) > MAX_BODY:
        end = content.rfind(">", 0, MAX_BODY)  # cut after a tag (see parse.cut_html)
        content = content[: end + 1] if end > MAX_BODY // 2 else content[:MAX_BODY]
    if content is None and (text := _str(item.get("content_text"))):
        content = html.escape(text[:MAX_BODY]).replace("\n", "<br>")
    summary = (_str(item.get("summary")) or "")[:MAX_BODY] or None
    tags: list[str] = []
    for tag in _list(item.get("tags"))[:MAX_TAGS]:
        if isinstance(tag, str) and (term := to_text(tag, 200)) and term not in tags:
            tags.append(term)
    published = _date(item.get("date_published"))
    return UpstreamEntry(
        id=item_id or None,
        link=link or external,
        title=_plain(item.get("title")),
        summary_html=html.escape(summary) if summary and summary.strip() else None,
        content_html=content if content and content.strip() else None,
        authors=_authors(item, base) or feed_authors,
        categories=tuple(tags),
        published=published,
        updated=_date(item.get("date_modified")) or None,
        base_url=link or base,
    )


def _authors(holder: dict[str, Any], base: str) -> tuple[Author, ...]:
    raw = holder.get("authors")
    if not isinstance(raw, list):
        single = holder.get("author")  # JSON Feed 1.0
        raw = [single] if isinstance(single, dict) else []
    authors: list[Author] = []
    for person in raw[:MAX_TAGS]:
        if not isinstance(person, dict):
            continue
        name = to_text((_str(person.get("name")) or "")[:MAX_RAW_NAME], 200)
        if name and all(a.name != name for a in authors):
            authors.append(Author(name, safe_url(_str(person.get("url")) or "", base)))
    return tuple(authors)


# What an XML parser would refuse, a JSON string may still spell with escapes
# ("\u0000", a lone "\ud800"): C0 controls but TAB/LF/CR, surrogates and the
# non-characters U+FFFE/U+FFFF. They are dropped from every string of the
# document at once, so no title, name, id or URL carries them into the
# database (PostgreSQL refuses NUL outright) or into our feeds.
_NOT_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff{NONCHARACTERS}]")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _NOT_TEXT.sub("", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    # A string is not a list of tags (iterating it would give its letters).
    return value if isinstance(value, list) else []


def _plain(value: Any) -> str | None:
    # JSON Feed titles are plain text; still collapse whitespace and bound them.
    text = " ".join(value[:4000].split())[:1000] if isinstance(value, str) else ""
    return text or None


def _date(value: Any) -> datetime | None:
    """Read an RFC 3339 date-time; None if absent, not one, or out of range.

    RFC 3339 requires an offset; a date without one is taken as UTC.
    """
    return parse_rfc3339(value)
