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
from html import unescape

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


# Tags are found with bounded regular expressions rather than html.parser:
# HTMLParser re-scans an unclosed construct from its start at every step, so
# a page of ``<a b='`` repeated took minutes for a few hundred kilobytes. A
# <link> or <base> tag longer than MAX_TAG is not one we want.
MAX_TAG = 4096
_TAG_START = re.compile(r"<(link|base)(?=[\s/>])", re.I)
_ATTRIBUTE = re.compile(r"""([^\s"'=<>/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_HIDDEN = (("<!--", "-->"), ("<script", "</script"))


def _visible(text: str) -> str:
    """``text`` without comments and scripts, in one pass (an unclosed one runs to the end).

    str.find, not a lazy regex: ``<!--.*?-->`` scans to the end from every
    unclosed ``<!--``, which is quadratic on a page of them.
    """
    lowered = text.lower()
    kept: list[str] = []
    pos = 0
    # Where each opener next occurs at or after pos; found again only once passed,
    # so the whole walk reads the text a bounded number of times.
    next_at = {opener: lowered.find(opener) for opener, _ in _HIDDEN}
    while True:
        for opener, _ in _HIDDEN:
            if 0 <= next_at[opener] < pos:
                next_at[opener] = lowered.find(opener, pos)
        found = [(next_at[o], o, c) for o, c in _HIDDEN if next_at[o] >= 0]
        if not found:
            kept.append(text[pos:])
            return " ".join(kept)
        start, _, closing = min(found)
        kept.append(text[pos:start])
        end = lowered.find(closing, start + 4)
        if end < 0:
            return " ".join(kept)
        pos = end + len(closing)


def _attributes(raw: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        name = match.group(1).lower()
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        values.setdefault(name, unescape(value))
    return values


def _collect(text: str) -> tuple[str | None, list[tuple[str, str, str | None]]]:
    """The first <base href> and every feed <link> of a page: (base, [(href, type, title)])."""
    base: str | None = None
    links: list[tuple[str, str, str | None]] = []
    visible = _visible(text)
    closing = -1
    for match in _TAG_START.finditer(visible):
        if closing < match.end():  # one forward scan for ">" serves every tag before it
            closing = visible.find(">", match.end())
            if closing < 0:
                break
        if closing - match.end() > MAX_TAG:
            continue
        values = _attributes(visible[match.end() : closing])
        if match.group(1).lower() == "base":
            if base is None and values.get("href"):
                base = values["href"]
            continue
        rel = values.get("rel", "").lower().split()
        media = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if "alternate" in rel and media in FEED_TYPES and href:
            links.append((href, media, " ".join(values.get("title", "").split()) or None))
    return base, links


def find_feed_links(body: bytes, url: str) -> list[FeedLink]:
    """Every feed an HTML page links to, absolute, in preference order."""
    declared_base, links = _collect(_decode(body[:MAX_BYTES]))
    base = safe_url(declared_base, url) if declared_base else None
    base = base or url
    found: list[FeedLink] = []
    seen: set[str] = set()
    for href, media, title in links:
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
