"""The fast path of :func:`feeds.upstream.parse.parse_feed`: feedparser-rs, where it agrees.

feedparser-rs (a Rust parser with feedparser's result shape) parses our bench
feed in ~0.3 ms where feedparser takes ~15 ms (bench/results/parser-evaluation.md).
It differs from feedparser on the corners feedparser's own corpus tests —
encodings other than UTF-8, xml:base, base64 and XHTML content, RSS 1.0/0.9x,
Atom 0.3, CDF, ill-formed XML, entity declarations — so it only gets the
plain documents: a **gate** on the bytes (:func:`plain_document`) before it,
and a **consistency check** after it (well-formed, one entry for each
``<item>``/``<entry>`` start tag, under its limits). Anything else returns
None and feedparser parses the document, exactly as before.

Its result is turned into the plain dicts :func:`feeds.upstream.parse._from_feedparser`
reads, with feedparser's field mapping where the two differ (RSS ``dc:date``
is feedparser's *updated*, not *published*). The bytes are always passed as
``bytes``: given a ``str`` that starts with ``http``, feedparser-rs would fetch it.
"""

from __future__ import annotations

import re
from typing import Any

# What sends a document to feedparser: features feedparser-rs reads
# differently (found on feedparser's corpus), or that need feedparser's
# encoding detection or loose parsing. Tag names are collected in one pass
# over the lower-cased bytes; a few attribute values and patterns are looked
# for separately (each starts with a literal, so the search is quick).
_TAG = re.compile(rb"<([!\w][\w:.-]*)")
_TAGS_REFUSED = frozenset(
    {b"!doctype", b"!entity", b"fullitem", b"body", b"summary", b"atom:updated", b"dc:author",
     b"media:category", b"rdf:rdf"}
)  # fmt: skip
_TAG_PREFIXES_REFUSED = (b"dcterms:", b"rdf:")
_CORE = frozenset({b"rss", b"channel", b"item", b"feed", b"entry"})
_ATTRIBUTES_REFUSED = (b"xml:base", b"base64", b"xhtml", b"purl.org/atom/ns")
_PATTERNS = (
    re.compile(rb"<description[^>]*>\s*<(?!!\[CDATA\[)"),  # naked markup in a description
    re.compile(rb"<category[^>]*>[^<]*<(?!/)"),  # elements inside a category
    re.compile(rb"\xc2[\x80-\x9f]"),  # C1 controls: feedparser reads them as windows-1252
    re.compile(rb"&#(?:1[2-5]\d|x[89][0-9a-f]);"),  # the same, as character references
)


def _refused_tag(name: bytes) -> bool:
    if name in _TAGS_REFUSED or name.startswith(_TAG_PREFIXES_REFUSED):
        return True
    return b":" in name and name.rsplit(b":", 1)[1] in _CORE  # a prefixed core element


_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([\w.:-]+)[\"']", re.I)
_ROOT = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    rb"(?:<rss\s[^>]*version=[\"']2\.0[\"']|<feed\s[^>]*xmlns=[\"']http://www\.w3\.org/2005/Atom[\"'])",
    re.S,
)
_ENTRIES = re.compile(rb"<(?:item|entry)[\s>/]")
_UPDATED = re.compile(rb"<updated[\s>]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# An RSS <guid> that is a permalink (no isPermaLink="false"): feedparser resolves it.
_PERMALINK_GUID = re.compile(rb"<guid(?![^>]*isPermaLink\s*=\s*[\"']false)[\s>]", re.I)
MAX_ENTRIES = 2000  # longer feeds go to feedparser (feedparser-rs truncates at its limit)


def plain_document(body: bytes, content_type: str | None) -> bool:
    """True when the bytes are a UTF-8 RSS 2.0 or Atom 1.0 document without the hard corners."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if content_type and "charset" in content_type.lower():
        charset = content_type.lower().split("charset", 1)[1].strip(" =\"'").split(";")[0]
        if charset.strip("\"' ") not in ("utf-8", "utf8", "us-ascii"):
            return False
    declared = _DECLARED.match(body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        return False
    if not _ROOT.match(body[:4096]):
        return False
    lower = body.lower()
    if any(_refused_tag(name) for name in set(_TAG.findall(lower))):
        return False
    if any(a in lower for a in _ATTRIBUTES_REFUSED) or any(p.search(lower) for p in _PATTERNS):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_fast(body: bytes, content_type: str | None = None) -> tuple[dict[str, Any], str] | None:
    """feedparser's result shape (plain dicts) and version, or None: let feedparser parse it."""
    if not plain_document(body, content_type):
        return None
    try:
        import feedparser_rs
    except ImportError:  # an optional speed-up: feedparser alone is correct
        return None
    try:
        raw = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
    except Exception:  # its failure is not the document's: feedparser decides
        return None
    version = raw.version or ""
    if raw.bozo or version not in ("rss20", "atom10"):
        return None
    expected = len(_ENTRIES.findall(body))
    entries = raw.entries
    if len(entries) != expected or expected > MAX_ENTRIES:
        return None
    if any(link.href == "" for e in entries for link in e.links or []):
        # feedparser-rs blanks an entry link to a loopback or private host
        # (http://127.0.0.1:8080/post, http://localhost/…); feedparser keeps
        # it, and the article's original URL must not depend on the parser.
        return None
    rss = version == "rss20"
    try:
        shaped = [_entry(e, rss, body) for e in entries]
        feed = _feed(raw.feed, rss)
    except _Unsure:
        return None
    if not rss and len(_UPDATED.findall(body)) < len(shaped) + 1:
        return None  # an Atom entry without <updated>: the two fill it differently
    # feedparser-rs reports guidislink False for a permalink guid that is not
    # a URL ("crane-1"), which feedparser still resolves against the feed's
    # URL: without this, one entry's id changed with the parser that read it.
    permalink = rss and _PERMALINK_GUID.search(body) is not None
    for item, entry in zip(entries, shaped, strict=True):
        ident = entry["id"]
        if ident and (not rss or item.guidislink or permalink) and _odd_uri(ident):
            return None  # feedparser resolves relative ids and lower-cases schemes
    return {"feed": feed, "entries": shaped}, version


class _Unsure(Exception):
    """The two parsers may read this document differently: feedparser decides."""


def _s(value: Any) -> Any:
    """A string as feedparser gives it from a UTF-8 document.

    feedparser undoes a common mistake (UTF-8 bytes read as ISO-8859-1 and
    encoded again) on most strings: text that is all Latin-1 *and* whose
    Latin-1 bytes are UTF-8 is decoded once more ("Ä¡" becomes "ġ"), but not
    on all of them. Such text raises :class:`_Unsure`: feedparser reads it.
    """
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
    # feedparser does not undo it everywhere (an Atom author's "Â¡" stays as
    # written): text that looks like the mistake is read by feedparser itself.
    raise _Unsure


def _odd_uri(ident: str) -> bool:
    scheme = _SCHEME.match(ident)
    return scheme is None or scheme.group() != scheme.group().lower()


def _text(detail: Any) -> dict[str, Any] | None:
    if detail is None:
        return None
    # No base: xml:base is gated out, so the document's URL is every base
    # (feedparser reports that URL; parse._base then prefers the entry's link).
    return {"type": detail.type, "value": _s(detail.value), "base": None}


def _people(people: Any) -> list[dict[str, Any]]:
    return [{"name": _s(p.name), "href": _s(p.href), "email": _s(p.email)} for p in people or []]


def _feed(meta: Any, rss: bool) -> dict[str, Any]:
    ttl = meta.ttl
    return {
        "title": _s(meta.title),
        "title_detail": _title(meta.title_detail, rss),
        "link": _s(meta.link),
        "id": _s(meta.id),
        "authors": _people(meta.authors),
        "updated_parsed": meta.updated_parsed,
        "published_parsed": meta.published_parsed,
        "ttl": str(ttl) if ttl is not None else None,
    }


def _title(detail: Any, rss: bool) -> dict[str, Any] | None:
    """feedparser's title type: RSS titles are text unless they look like HTML (its own test)."""
    text = _text(detail)
    if text is not None and rss:
        from feedparser.mixin import _FeedParserMixin

        html = _FeedParserMixin.looks_like_html(text["value"] or "")
        text["type"] = "text/html" if html else "text/plain"
    return text


def _entry(item: Any, rss: bool, body: bytes) -> dict[str, Any]:
    published, updated = item.published_parsed, item.updated_parsed
    if rss:
        # feedparser: pubDate is *published*, dc:date *updated* (and the only
        # source of it here); feedparser-rs fills each from the other.
        updated = item.dc_date_parsed
        if updated is not None and published == updated and b"<pubDate" not in body:
            published = None
    authors = _people(item.authors)
    byline = _s(item.author)
    if not authors and byline and "@" not in byline:
        authors = [{"name": byline, "href": None, "email": None}]
    return {
        "id": _s(item.id),
        "link": _s(item.link),
        "title": _s(item.title),
        "title_detail": _title(item.title_detail, rss),
        "summary": _s(item.summary),
        "summary_detail": _text(item.summary_detail),
        "content": [_text(c) for c in item.content or []],
        "authors": authors,
        "author": byline,
        "tags": [{"term": _s(t.term), "label": _s(t.label)} for t in item.tags or []],
        "published_parsed": published,
        "updated_parsed": updated,
    }
