"""RSS 2.0 and Atom 1.0 through feedgen, with extensions for what it lacks.

Specifications:

- RSS 2.0: https://www.rssboard.org/rss-specification
- Atom 1.0: https://www.rfc-editor.org/rfc/rfc4287
- Paged feeds (first/previous/next/last): https://www.rfc-editor.org/rfc/rfc5005#section-3
- Atom threading (rel="replies", thr:count): https://www.rfc-editor.org/rfc/rfc4685
- Tombstones (at:deleted-entry): https://www.rfc-editor.org/rfc/rfc6721 — in
  Atom a child of ``feed``; RSS has no rule of its own, so the same element
  goes into ``channel`` (with an ``atom:link`` inside), where RSS 2.0 allows
  namespaced extension elements.
- WebSub discovery (atom:link rel="hub"): https://www.w3.org/TR/websub/#discovery
- RSS modules: Dublin Core https://www.dublincore.org/specifications/dublin-core/dces/ ,
  content https://web.resource.org/rss/1.0/modules/content/ ,
  wfw https://www.rssboard.org/comment-api ,
  slash https://web.resource.org/rss/1.0/modules/slash/

feedgen fills one ``FeedGenerator`` for both formats, but its setters couple
them (``summary()`` also writes the RSS description, ``source()`` writes an
Atom ``<source>`` without the ``id``/``updated`` the validator wants). So each
format gets its own generator, set up with only what that format takes, and
the rest is added by the extension classes below.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Literal

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.errors import RenderError
from feeds.model import Entry, Feed, Tombstone
from feeds.render.values import (
    as_utc,
    byline,
    clean_text,
    clean_url,
    distinct_instants,
    named,
    rfc3339,
)
from feeds.sanitize import to_text

Format = Literal["rss", "atom"]

RSS_MEDIA_TYPE = "application/rss+xml"
ATOM_MEDIA_TYPE = "application/atom+xml"

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
WFW_NS = "http://wellformedweb.org/CommentAPI/"
SLASH_NS = "http://purl.org/rss/1.0/modules/slash/"
THR_NS = "http://purl.org/syndication/thread/1.0"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"

# A title is required by Atom and by our readers' lists; an empty one would
# make feedgen refuse the entry, so it gets a placeholder instead.
UNTITLED = "Untitled"

# Characters of body text an RSS item without a summary gets as <description>.
RSS_DESCRIPTION_LENGTH = 300


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> None:
    element = etree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text


def _extra_feed_links(feed: Feed) -> list[tuple[str, str, str | None]]:
    """(rel, href, type) of the feed links feedgen does not write itself."""
    links: list[tuple[str, str, str | None]] = []
    # Atom forbids two rel="alternate" links with the same type (RFC 4287
    # §4.1.1); the HTML page is one already, and the document is rel="self".
    seen_types = {"text/html"}
    for media_type, url in feed.alternates:
        if url == feed.self_url or media_type in seen_types:
            continue
        seen_types.add(media_type)
        links.append(("alternate", clean_text(url), clean_text(media_type)))
    # WebSub §4: the hub a subscriber should subscribe at.
    links.extend(("hub", clean_text(hub), None) for hub in feed.hubs)
    paging = feed.paging
    for rel, href in (
        ("first", paging.first),
        ("previous", paging.previous),
        ("next", paging.next),
        ("last", paging.last),
    ):
        if href:
            links.append((rel, clean_url(href), None))
    return links


def _tombstones(parent: etree._Element, tombstones: tuple[Tombstone, ...], link_tag: str) -> None:
    """Append one ``at:deleted-entry`` per tombstone (RFC 6721 §2)."""
    for tombstone in tombstones:
        ref = clean_text(tombstone.ref).strip()
        if not ref:
            raise ValueError("a tombstone has no ref")
        element = etree.SubElement(
            parent,
            f"{{{TOMBSTONE_NS}}}deleted-entry",
            {"ref": ref, "when": rfc3339(tombstone.when)},
        )
        if tombstone.link:
            _sub(element, link_tag, rel="related", href=clean_url(tombstone.link))


def _via_links(entry: Entry) -> list[tuple[str, str | None]]:
    """(href, title) of an entry's rel="via" links: its original, then its story's articles.

    RFC 4287 §4.2.7 allows any number of links of one rel; each href once,
    so no two links of an entry are the same.
    """
    titled = [(clean_url(s.url), clean_text(s.name) or None) for s in entry.story_sources]
    names = dict(reversed(titled))
    candidates: list[tuple[str, str | None]] = []
    if entry.original_url:
        href = clean_url(entry.original_url)
        candidates.append((href, names.get(href)))
    links: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for href, title in candidates + titled:
        if href and href not in seen:
            seen.add(href)
            links.append((href, title))
    return links


# feedgen instantiates extensions itself, without arguments; the model object
# each one renders is handed over right after, through the attribute feedgen
# creates under the extension's registered name.


class _RssFeedExtension(BaseExtension):  # type: ignore[misc]
    """Channel-level atom:link alternates, RFC 5005 paging links and tombstones."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str, str | None]] = []
        self.tombstones: tuple[Tombstone, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        namespaces = {"dc": DC_NS, "wfw": WFW_NS, "slash": SLASH_NS}
        if self.tombstones:  # declared only where used: the validator warns of it
            namespaces["at"] = TOMBSTONE_NS
        return namespaces

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss[0]
        for rel, href, media_type in self.links:
            attrib = {"rel": rel, "href": href}
            if media_type:
                attrib["type"] = media_type
            _sub(channel, f"{{{ATOM_NS}}}link", **attrib)
        _tombstones(channel, self.tombstones, f"{{{ATOM_NS}}}link")
        return rss


class _RssEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """dc:creator byline, atom:updated, wfw:commentRss and slash:comments of one item."""

    def __init__(self) -> None:
        self.entry: Entry | None = None
        self.updated: datetime | None = None

    def extend_rss(self, item: etree._Element) -> etree._Element:
        entry = self.entry
        assert entry is not None
        # One dc:creator with the whole byline: readers keep only the last of
        # several, and RSS <author> requires an e-mail address we never emit.
        names = byline(entry.authors)
        if names:
            _sub(item, f"{{{DC_NS}}}creator", names)
        # RSS 2.0 has pubDate only; readers (feedparser's updated) take an
        # edit time from atom:updated, RFC 3339 as Atom defines it.
        _sub(item, f"{{{ATOM_NS}}}updated", as_utc(self.updated or entry.updated).isoformat())
        if entry.comments_feed_url:
            _sub(item, f"{{{WFW_NS}}}commentRss", clean_url(entry.comments_feed_url))
        # The original article (its <source> names the upstream feed, not the
        # article), then a story's other sources (INTERFACE §3 and §10).
        if entry.story_sources or entry.original_url:
            for href, title in _via_links(entry):
                attrib = {"rel": "via", "href": href}
                if title:
                    attrib["title"] = title
                _sub(item, f"{{{ATOM_NS}}}link", **attrib)
        if entry.comment_count is not None:
            _sub(item, f"{{{SLASH_NS}}}comments", str(entry.comment_count))
        return item


# feedgen builds Atom elements without a namespace and writes xmlns as a plain
# attribute of <feed>, so the elements added here carry no namespace either.


class _AtomFeedExtension(BaseExtension):  # type: ignore[misc]
    """Feed-level alternates, RFC 5005 paging links and tombstones."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str, str | None]] = []
        self.tombstones: tuple[Tombstone, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        namespaces = {"thr": THR_NS}
        if self.tombstones:
            namespaces["at"] = TOMBSTONE_NS
        return namespaces

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        last_alternate = None
        for rel, href, media_type in self.links:
            attrib = {"rel": rel, "href": href}
            if media_type:
                attrib["type"] = media_type
            _sub(feed, "link", **attrib)
            if rel == "alternate":
                last_alternate = feed[-1]
        if last_alternate is not None:
            # The page's own alternate after the other formats': newsboat keeps
            # the last rel="alternate" as the feed's site, which must be the page.
            page = next(
                (
                    child
                    for child in feed
                    if etree.QName(child).localname == "link"
                    and child.get("rel") == "alternate"
                    and child.get("type") == "text/html"
                ),
                None,
            )
            if page is not None:
                last_alternate.addnext(page)
        _tombstones(feed, self.tombstones, "link")
        return feed


class _AtomEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """rel="replies" (RFC 4685 §3) and a complete <source> (RFC 4287 §4.2.11)."""

    def __init__(self) -> None:
        self.entry: Entry | None = None

    def extend_atom(self, element: etree._Element) -> etree._Element:
        entry = self.entry
        assert entry is not None
        # feedgen 1.0 reads an entry link's rel and type back from the element
        # it has just created instead of from its data, so both are lost: the
        # article link is completed here and rel="via" is written here too.
        for link in element.iterfind("link"):
            if "rel" not in link.attrib:
                link.set("rel", "alternate")
                link.set("type", "text/html")
        for href, title in _via_links(entry):
            attrib = {"rel": "via", "href": href}
            if title:
                attrib["title"] = title
            _sub(element, "link", **attrib)
        if entry.comments_feed_url:
            url = clean_url(entry.comments_feed_url)
            attrib = {
                "rel": "replies",
                "type": RSS_MEDIA_TYPE if url.endswith(".rss") else ATOM_MEDIA_TYPE,
                "href": url,
            }
            if entry.comment_count is not None:
                attrib[f"{{{THR_NS}}}count"] = str(entry.comment_count)
            _sub(element, "link", **attrib)
        source = entry.source
        if source is not None:
            box = etree.SubElement(element, "source")
            _sub(box, "id", clean_text(source.feed_id))
            _sub(box, "title", clean_text(source.title))
            if source.link:
                _sub(box, "link", rel="alternate", href=clean_url(source.link))
            _sub(box, "link", rel="self", href=clean_url(source.feed_url))
            _sub(box, "updated", as_utc(source.updated).isoformat())
        return element


def _generator(feed: Feed, fmt: Format) -> Any:
    """A FeedGenerator with the channel/feed metadata of ``feed`` set."""
    media_type = RSS_MEDIA_TYPE if fmt == "rss" else ATOM_MEDIA_TYPE
    fg = FeedGenerator()
    if fmt == "rss":
        fg.register_extension("fs_rss", _RssFeedExtension, _RssEntryExtension, atom=False)
        fg.fs_rss.links = _extra_feed_links(feed)
        fg.fs_rss.tombstones = feed.tombstones
    else:
        fg.register_extension("fs_atom", _AtomFeedExtension, _AtomEntryExtension, rss=False)
        fg.fs_atom.links = _extra_feed_links(feed)
        fg.fs_atom.tombstones = feed.tombstones
    title = clean_text(feed.title).strip() or UNTITLED
    fg.id(clean_text(feed.id))
    fg.title(title)
    # RSS requires a non-empty channel description.
    fg.description(clean_text(feed.description).strip() or title)
    # feedgen takes the RSS <link> from the last feed link added, so the
    # page link goes after the self link.
    fg.link(href=clean_url(feed.self_url), rel="self", type=media_type)
    fg.link(href=clean_url(feed.link), rel="alternate", type="text/html")
    fg.language(clean_text(feed.language))
    fg.generator(clean_text(feed.generator))
    # Also the RSS lastBuildDate; feedgen's default would be "now".
    fg.updated(as_utc(feed.updated))
    if feed.icon and fmt == "atom":
        fg.icon(clean_text(feed.icon))
    if fmt == "atom" and not all(named(entry.authors) for entry in feed.entries):
        # RFC 4287 §4.1.1: a feed must name an author unless every entry does.
        fg.author(name=title, uri=clean_text(feed.link))
    return fg


def _add_entry(fg: Any, entry: Entry, fmt: Format, updated_at: datetime | None) -> None:
    fe = fg.add_entry(order="append")
    if fmt == "rss":
        fe.fs_rss.entry = entry
        fe.fs_rss.updated = updated_at
    else:
        fe.fs_atom.entry = entry
    entry_id = clean_text(entry.id).strip()
    if not entry_id:
        raise ValueError(f"entry {entry.link} has no id")
    # Sets the RSS guid with isPermaLink="false": our ids are URNs.
    fe.id(entry_id)
    fe.title(clean_text(entry.title).strip() or UNTITLED)
    # Also the RSS <link>; in Atom, the entry extension completes it.
    fe.link(href=clean_url(entry.link), rel="alternate", type="text/html")
    fe.published(as_utc(entry.published))
    fe.updated(as_utc(updated_at or entry.updated))
    for author in named(entry.authors):
        person = {"name": author.name}
        if author.url:
            person["uri"] = author.url
        fe.author(person)
    for category in entry.categories:
        cat = {"term": clean_text(category.term)}
        if category.label:
            cat["label"] = clean_text(category.label)
        if category.scheme:
            cat["scheme"] = clean_text(category.scheme)
        fe.category(cat)
    content = clean_text(entry.content_html or "").strip()
    if content:
        fe.content(content, type="html")
    summary_text = clean_text(entry.summary or "").strip()
    if not content and not summary_text and fmt == "atom":
        # An entry with a title but no text (a link post upstream): the W3C
        # validator warns (MissingTextualContent) on an Atom entry without
        # content or summary, so the title stands in as its summary.
        summary_text = clean_text(entry.title).strip() or UNTITLED
    if content and not summary_text and fmt == "rss":
        # feedgen writes content:encoded only beside a description; alone,
        # the body went into <description> and content:encoded was missing
        # (§3 wants the full body there). The body's opening text stands in.
        summary_text = to_text(content, RSS_DESCRIPTION_LENGTH) or clean_text(entry.title).strip()
    if summary_text:
        # Our summary is plain text. RSS readers take <description> as HTML,
        # so it is escaped once as HTML (and again as XML by lxml); Atom gets
        # the same with type="html", because a plain-text summary that merely
        # mentions "<b>" draws the validator's "contains HTML" warning.
        summary = html.escape(summary_text, quote=False)
        if fmt == "rss":
            fe.description(summary, isSummary=True)
        else:
            fe.summary(summary, type="html")
    if fmt == "rss":
        if entry.comments_url:
            fe.comments(clean_url(entry.comments_url))
        if entry.source is not None:
            fe.source(url=clean_url(entry.source.feed_url), title=clean_text(entry.source.title))


def _hex_references(body: bytes) -> bytes:
    """Write "<" and "&" in RSS text as hexadecimal character references.

    The RSS Best Practices Profile asks for ``&#x3C;`` and ``&#x26;`` in
    plain-text elements, and the W3C validator warns ("Encode "&" and "<" in
    plain text using hexadecimal character references") on a title such as
    "Why <em> matters" written with ``&lt;``. The XML is the same either way;
    lxml writes no CDATA here, so every ``&lt;``/``&amp;`` is such an escape.
    """
    return body.replace(b"&lt;", b"&#x3C;").replace(b"&amp;", b"&#x26;")


def render_xml(feed: Feed, fmt: Format) -> bytes:
    """Serialize ``feed`` as RSS 2.0 or Atom 1.0, UTF-8 with an XML declaration."""
    try:
        fg = _generator(feed, fmt)
        instants = distinct_instants(
            (entry.updated for entry in feed.entries), (entry.id for entry in feed.entries)
        )
        for entry, instant in zip(feed.entries, instants, strict=True):
            _add_entry(fg, entry, fmt, instant)
        if fmt == "atom":
            body = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
        else:
            body = _hex_references(fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True))
    except (ValueError, TypeError) as exc:
        raise RenderError(feed.self_url, f"{fmt}: {exc}") from exc
    assert isinstance(body, bytes)
    return body
