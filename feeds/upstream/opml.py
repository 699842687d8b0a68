"""OPML subscription lists in and out (OPML 1.0 and 2.0: http://opml.org/spec2.opml).

Reading is defensive: lxml with no network, no DTD loading and no entity
resolution, after :func:`feeds.upstream.entities.check_doctype` has refused entity
declarations (XXE, entity bombs); element depth and outline count are bounded.

An outline with an ``xmlUrl`` is a feed; one without is a folder. A feed's
``category`` is the first entry of its own ``category`` attribute (OPML 2.0:
comma-separated, slash-delimited paths like ``/News/World`` — we take the last
segment, "World"), else the text of its nearest enclosing folder, which is how
most readers export their folders. URLs are returned as written (stripped);
vetting them is the caller's job (:func:`feeds.upstream.guard.check_url`).

Writing gives OPML 2.0 with one flat outline per feed, ``type="rss"``, and
the category attribute carrying the section, so an export imports back the
same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from feeds.errors import ParseError
from feeds.upstream.entities import check_doctype

MAX_OUTLINES = 50_000
MAX_DEPTH = 64
SUBJECT = "OPML document"


@dataclass(frozen=True, slots=True)
class Outline:
    """One feed of a subscription list."""

    xml_url: str
    title: str | None = None
    html_url: str | None = None
    category: str | None = None


def parse_opml(data: bytes, dropped: list[tuple[str, str]] | None = None) -> list[Outline]:
    """Read the feed outlines of an OPML document, in document order, de-duplicated.

    ``dropped`` collects (the outline's feed URL or title, why) for each
    outline left out that a reader might take for a feed: one with no
    ``xmlUrl`` and no outlines inside (not a folder), and a feed listed again.
    """
    if not data or not data.strip():
        raise ParseError(SUBJECT, "empty document")
    check_doctype(data, SUBJECT)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(SUBJECT, f"malformed XML ({exc})") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise ParseError(SUBJECT, f"not OPML: the root element is <{name}>")
    body = next((c for c in root if isinstance(c.tag, str) and _local(c) == "body"), None)
    if body is None:
        raise ParseError(SUBJECT, "not OPML: no <body> element")

    outlines: list[Outline] = []
    seen: set[str] = set()
    # Depth-first, iteratively: (element, enclosing folder name, depth).
    stack: list[tuple[etree._Element, str | None, int]] = [
        (child, None, 1) for child in reversed(list(body))
    ]
    while stack:
        element, folder, depth = stack.pop()
        if not isinstance(element.tag, str) or _local(element) != "outline":
            continue
        if depth > MAX_DEPTH:
            raise ParseError(SUBJECT, f"outlines nested deeper than {MAX_DEPTH} levels")
        attrs: dict[str, str] = {
            str(k).lower(): str(v) for k, v in element.attrib.items() if isinstance(v, str)
        }
        label = _clean(attrs.get("title")) or _clean(attrs.get("text"))
        xml_url = _clean(attrs.get("xmlurl"))
        if dropped is not None:
            if xml_url and xml_url in seen:
                dropped.append((xml_url, "listed more than once in the file"))
            elif not xml_url and not any(
                isinstance(c.tag, str) and _local(c) == "outline" for c in element
            ):
                dropped.append((label or "(an outline with no title)", "no feed address (xmlUrl)"))
        if xml_url and xml_url not in seen:
            seen.add(xml_url)
            outlines.append(
                Outline(
                    xml_url=xml_url,
                    title=label,
                    html_url=_clean(attrs.get("htmlurl")),
                    category=_category(attrs.get("category")) or folder,
                )
            )
            if len(outlines) > MAX_OUTLINES:
                raise ParseError(SUBJECT, f"more than {MAX_OUTLINES} feeds")
        inner = folder if xml_url else (label or folder)
        stack.extend((child, inner, depth + 1) for child in reversed(list(element)))
    return outlines


def render_opml(
    outlines: Iterable[Outline], *, title: str, created: datetime | None = None
) -> bytes:
    """Write an OPML 2.0 subscription list (UTF-8, with an XML declaration)."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    when = (created or datetime.now(UTC)).astimezone(UTC)
    etree.SubElement(head, "dateCreated").text = format_datetime(when, usegmt=True)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    for outline in outlines:
        name = outline.title or outline.xml_url
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": outline.xml_url}
        if outline.html_url:
            attrs["htmlUrl"] = outline.html_url
        if outline.category:
            attrs["category"] = category_tag(outline.category)
        etree.SubElement(body, "outline", {k: _xml_safe(v) for k, v in attrs.items()})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def category_tag(name: str) -> str:
    """A name as one OPML category: without slashes (OPML 2.0 §category) or commas, which split it.

    An import finds the section again by this form of its name ("News, Views"
    is exported as "News Views").
    """
    return " ".join(name.replace(",", " ").replace("/", " ").split())


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname.lower()


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


def _category(value: str | None) -> str | None:
    """The last path segment of the first category of an OPML category attribute."""
    if not value:
        return None
    first = value.split(",")[0]
    if "<" in first:  # "<b>News</b>" is markup, not the path ["<b>News<", "b>"]: kept whole
        return first.strip() or None
    segments = [s.strip() for s in first.split("/") if s.strip()]
    return segments[-1] if segments else None


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry at all (lxml would refuse them)."""
    return "".join(
        c
        for c in text
        if c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
    )
