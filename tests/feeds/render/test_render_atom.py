"""Atom 1.0 output (RFC 4287) with RFC 5005 paging and RFC 4685 replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from lxml import etree

from feeds.model import Author, Feed, Paging
from feeds.render import ATOM_TYPE, render_atom

A = "http://www.w3.org/2005/Atom"
THR = "http://purl.org/syndication/thread/1.0"
NS = {"a": A, "thr": THR}


def root(feed: Feed) -> etree._Element:
    element = etree.fromstring(render_atom(feed).body)
    assert element.tag == f"{{{A}}}feed"
    return element


def entries(feed: Feed) -> list[etree._Element]:
    return root(feed).findall("a:entry", NS)


def links(element: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    return [(x.get("rel"), x.get("href"), x.get("type")) for x in element.findall("a:link", NS)]


def test_media_type(feed: Feed) -> None:
    assert render_atom(feed).media_type == ATOM_TYPE == "application/atom+xml; charset=utf-8"


def test_feed_metadata(page: Callable[[str], Feed]) -> None:
    feed = root(page("atom"))
    assert feed.findtext("a:id", namespaces=NS) == "https://ledger.example.com/sections/world/feed"
    assert feed.findtext("a:title", namespaces=NS) == "World — The Daily Ledger"
    assert feed.findtext("a:subtitle", namespaces=NS) == "World news from The Daily Ledger"
    assert feed.findtext("a:updated", namespaces=NS) == "2024-05-14T11:02:07.500000+00:00"
    assert feed.findtext("a:generator", namespaces=NS) == "feedserver"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_feed_links(page: Callable[[str], Feed]) -> None:
    base = "https://ledger.example.com/sections/world/feed"
    assert links(root(page("atom"))) == [
        ("self", f"{base}.atom?page=2", "application/atom+xml"),
        ("alternate", f"{base}.rss?page=2", "application/rss+xml"),
        ("alternate", f"{base}.json?page=2", "application/feed+json"),
        # The page last: newsboat takes the last alternate for the feed's site.
        ("alternate", "https://ledger.example.com/sections/world", "text/html"),
        ("hub", "https://ledger.example.com/websub", None),
        ("first", f"{base}.atom", None),
        ("previous", f"{base}.atom", None),
        ("next", f"{base}.atom?page=3", None),
        ("last", f"{base}.atom?page=7", None),
    ]


def test_alternate_types_stay_unique(feed: Feed) -> None:
    # RFC 4287 §4.1.1: no two alternates with the same type and hreflang.
    doubled = replace(
        feed,
        alternates=(
            ("application/rss+xml", "https://x.test/a.rss"),
            ("application/rss+xml", "https://x.test/b.rss"),
            ("text/html", "https://x.test/page"),
        ),
    )
    types = [t for rel, _, t in links(root(doubled)) if rel == "alternate"]
    assert types == ["application/rss+xml", "text/html"]


def test_no_paging_links_on_a_single_page(feed: Feed) -> None:
    rels = {rel for rel, _, _ in links(root(replace(feed, paging=Paging())))}
    assert rels.isdisjoint({"first", "previous", "next", "last"})


def test_entry_identity_links_and_dates(feed: Feed) -> None:
    entry = entries(feed)[0]
    assert entry.findtext("a:id", namespaces=NS) == "urn:uuid:6f1c1a2e-8f0b-4c61-9d55-0b8d2f0c7a11"
    assert entry.findtext("a:title", namespaces=NS) == "Tidal power plant opens in the north"
    # Sub-second precision is kept: it is what keeps `updated` unique.
    assert entry.findtext("a:published", namespaces=NS) == "2024-05-14T09:30:12.345000+00:00"
    assert entry.findtext("a:updated", namespaces=NS) == "2024-05-14T11:02:07.500000+00:00"
    assert links(entry) == [
        ("alternate", "https://ledger.example.com/articles/tidal-power-plant-opens", "text/html"),
        (
            "replies",
            "https://ledger.example.com/articles/tidal-power-plant-opens/comments.atom",
            "application/atom+xml",
        ),
    ]
    assert entry.find("a:link[@rel='replies']", NS).get(f"{{{THR}}}count") == "3"


def test_one_author_element_each_in_byline_order(feed: Feed) -> None:
    authors = entries(feed)[2].findall("a:author", NS)
    assert [a.findtext("a:name", namespaces=NS) for a in authors] == [
        "Zoë Ångström",
        "Ada Lovelace",
        "Bo Chen",
    ]
    assert authors[0].findtext("a:uri", namespaces=NS) == (
        "https://ledger.example.com/authors/zoe-angstrom"
    )
    assert b"<email>" not in render_atom(feed).body


def test_author_without_url_has_no_uri(feed: Feed) -> None:
    author = entries(feed)[1].find("a:author", NS)
    assert author.findtext("a:name", namespaces=NS) == "Kenji Sato"
    assert author.find("a:uri", NS) is None


def test_feed_author_stands_in_when_an_entry_has_none(feed: Feed) -> None:
    # RFC 4287 §4.1.1: every entry needs an author, its own or the feed's.
    assert root(feed).findtext("a:author/a:name", namespaces=NS) == "World — The Daily Ledger"
    everyone_signed = replace(feed, entries=feed.entries[:3])
    assert root(everyone_signed).find("a:author", NS) is None


def test_category_summary_and_html_content(feed: Feed) -> None:
    entry = entries(feed)[0]
    cat = entry.find("a:category", NS)
    assert dict(cat.attrib) == {
        "term": "world",
        "label": "World",
        "scheme": "https://ledger.example.com/sections/",
    }
    content = entry.find("a:content", NS)
    assert content.get("type") == "html"
    assert content.text == feed.entries[0].content_html
    summary = entries(feed)[2].find("a:summary", NS)
    assert summary.get("type") == "html"
    assert summary.text == "Fireworks, food stalls and 3 &lt; 4 crowds — a night out."


def test_source_and_via(feed: Feed) -> None:
    entry = entries(feed)[1]
    assert ("via", "https://wire.example.org/2024/05/ferry-strike", None) in links(entry)
    source = entry.find("a:source", NS)
    assert source.findtext("a:id", namespaces=NS) == "tag:wire.example.org,2019:feed"
    assert source.findtext("a:title", namespaces=NS) == "Harbour Wire"
    assert source.findtext("a:updated", namespaces=NS) == "2024-05-14T08:00:00+00:00"
    assert links(source) == [
        ("alternate", "https://wire.example.org/", None),
        ("self", "https://wire.example.org/feed.xml", None),
    ]
    assert entries(feed)[0].find("a:source", NS) is None


def test_replies_without_a_count_and_to_an_rss_comments_feed(feed: Feed) -> None:
    entry = replace(
        feed.entries[0],
        comments_feed_url="https://ledger.example.com/articles/x/comments.rss",
        comment_count=None,
    )
    link = entries(replace(feed, entries=(entry,)))[0].find("a:link[@rel='replies']", NS)
    assert link.get("type") == "application/rss+xml"
    assert f"{{{THR}}}count" not in link.attrib


def test_entries_never_share_an_updated_instant(feed: Feed) -> None:
    same = datetime(2024, 5, 14, 7, 45, tzinfo=UTC)
    tied = tuple(replace(e, updated=same) for e in feed.entries[:3])

    def stamps(entries_: tuple[Any, ...]) -> dict[str, str]:
        rendered = entries(replace(feed, entries=entries_))
        return {
            e.findtext("a:id", namespaces=NS): e.findtext("a:updated", namespaces=NS)
            for e in rendered
        }

    three = stamps(tied)
    assert len(set(three.values())) == 3  # no two alike
    for stamp in three.values():  # each within a millisecond after the shared instant
        moved = datetime.fromisoformat(stamp)
        assert same < moved <= same + timedelta(milliseconds=1)  # never before it was published
    # Each entry's instant is its own: another entry at the same time, or one
    # less, changes no other entry's (a reader would take that for an edit).
    assert stamps(tied[:2]) == {k: v for k, v in three.items() if k in stamps(tied[:2])}
    fourth = replace(
        feed.entries[0], id="urn:uuid:4e5b0e5e-0000-4000-8000-000000000004", updated=same
    )
    assert {k: v for k, v in stamps((*tied, fourth)).items() if k in three} == three


def test_empty_title_gets_a_placeholder(feed: Feed) -> None:
    entry = replace(feed.entries[0], title="  \x00 ", authors=(Author("A"),))
    assert entries(replace(feed, entries=(entry,)))[0].findtext("a:title", namespaces=NS) == (
        "Untitled"
    )


def test_feedparser_reads_it_cleanly(feed: Feed) -> None:
    parsed = feedparser.parse(render_atom(feed).body)
    assert parsed.bozo == 0
    assert parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == [e.id for e in feed.entries]
    assert [a.name for a in parsed.entries[0].authors] == ["Ada Lovelace", "Bo Chen"]
    assert parsed.entries[1].source.title == "Harbour Wire"
    assert parsed.feed.links[-1] == {
        "rel": "last",
        "href": "https://ledger.example.com/sections/world/feed.atom?page=7",
        "type": "text/html",  # feedparser's default, not ours
    }


def test_blank_author_names_do_not_count_as_a_byline(feed: Feed) -> None:
    entry = replace(feed.entries[0], authors=(Author(" \x00 "), Author("")))
    doc = root(replace(feed, entries=(entry,)))
    assert doc.find("a:entry/a:author", NS) is None
    assert doc.findtext("a:author/a:name", namespaces=NS) == "World — The Daily Ledger"


def test_the_pages_alternate_is_the_last_one(feed: Feed) -> None:
    """newsboat keeps a feed's last rel="alternate" as its site: it must be the HTML page."""
    with_formats = replace(
        feed,
        alternates=(
            ("application/rss+xml", feed.link + "feed.rss"),
            ("application/feed+json", feed.link + "feed.json"),
        ),
    )
    root = etree.fromstring(render_atom(with_formats).body)
    alternates = [link for link in root.findall("a:link", NS) if link.get("rel") == "alternate"]
    assert [link.get("type") for link in alternates] == [
        "application/rss+xml", "application/feed+json", "text/html",
    ]  # fmt: skip
    assert alternates[-1].get("href") == feed.link
