"""Feed autodiscovery: the feeds an HTML page names in its ``<link>`` elements.

``<link rel="alternate" type="application/rss+xml|atom+xml|rdf+xml|feed+json|json"
href="…">`` (the RSS Advisory Board's autodiscovery spec,
https://www.rssboard.org/rss-autodiscovery, and JSON Feed §discovery).
Links are resolved against ``<base href>`` or the page's URL, kept only if
http(s), de-duplicated, and ordered as the page lists them — its author's
preference — except that comment feeds ("Comments on …", WordPress's
``/comments/feed/``) go last, since a page's own feed is what an admin adding
a site means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from feeds.sanitize import safe_url

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
    }
)
MAX_BYTES = 1024 * 1024  # the head is near the top; don't parse a huge page
_COMMENTS = re.compile(r"\bcomments?\b|/comments/feed", re.I)


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One autodiscovery link."""

    url: str
    type: str
    title: str | None = None


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[tuple[str, str, str | None]] = []  # (href, type, title)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "base"):
            return
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base":
            if self.base is None and values.get("href"):
                self.base = values["href"]
            return
        rel = values.get("rel", "").lower().split()
        media = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if "alternate" in rel and media in FEED_TYPES and href:
            self.links.append((href, media, " ".join(values.get("title", "").split()) or None))

    handle_startendtag = handle_starttag


def find_feed_links(body: bytes, url: str) -> list[FeedLink]:
    """Every feed an HTML page links to, absolute, in preference order."""
    collector = _LinkCollector()
    collector.feed(_decode(body[:MAX_BYTES]))
    collector.close()
    base = safe_url(collector.base, url) if collector.base else None
    base = base or url
    found: list[FeedLink] = []
    seen: set[str] = set()
    for href, media, title in collector.links:
        absolute = safe_url(href, base)
        if absolute is None or absolute in seen:
            continue
        seen.add(absolute)
        found.append(FeedLink(absolute, media, title))
    # sorted() is stable: document order within "own feeds" and "comment feeds".
    return sorted(found, key=lambda link: bool(_COMMENTS.search(f"{link.title} {link.url}")))


def discover_feeds(body: bytes, url: str, content_type: str | None = None) -> list[str]:
    """The feed URLs an HTML page names, best first; [] if it is not HTML."""
    if not is_html(body, content_type):
        return []
    return [link.url for link in find_feed_links(body, url)]


def is_html(body: bytes, content_type: str | None = None) -> bool:
    """Whether a fetched document is an HTML page (by its type, else by its start)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml"):
        return True
    if media and media not in ("text/plain", "application/octet-stream"):
        return False  # an XML or JSON type: a (broken) feed, not a page
    start = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head")) or b"<html" in start


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", "replace")
