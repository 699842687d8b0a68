"""RSS 2.0 output: what each item and the channel must carry (INTERFACE §3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import feedparser
import pytest
from lxml import etree

from feeds.model import Author, Feed, Paging
from feeds.render import RSS_TYPE, render_rss

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
}


def channel(feed: Feed) -> etree._Element:
    root = etree.fromstring(render_rss(feed).body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    return root.find("channel")


def items(feed: Feed) -> list[etree._Element]:
    return channel(feed).findall("item")


@pytest.fixture
def rss(page: Callable[[str], Feed]) -> Feed:
    return page("rss")


def test_media_type_and_declaration(rss: Feed) -> None:
    rendered = render_rss(rss)
    assert rendered.media_type == RSS_TYPE == "application/rss+xml; charset=utf-8"
    assert rendered.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_channel_metadata(rss: Feed) -> None:
    ch = channel(rss)
    assert ch.findtext("title") == "World — The Daily Ledger"
    assert ch.findtext("link") == "https://ledger.example.com/sections/world"
    assert ch.findtext("description") == "World news from The Daily Ledger"
    assert ch.findtext("language") == "en"
    assert ch.findtext("generator") == "feedserver"
    assert ch.findtext("lastBuildDate") == "Tue, 14 May 2024 11:02:07 +0000"
    self_links = ch.findall("atom:link[@rel='self']", NS)
    assert [(x.get("href"), x.get("type")) for x in self_links] == [
        ("https://ledger.example.com/sections/world/feed.rss?page=2", "application/rss+xml")
    ]


def test_channel_alternates_and_paging_links(rss: Feed) -> None:
    links = [(x.get("rel"), x.get("href")) for x in channel(rss).findall("atom:link", NS)]
    base = "https://ledger.example.com/sections/world/feed"
    assert links == [
        ("self", f"{base}.rss?page=2"),
        ("alternate", f"{base}.atom?page=2"),
        ("alternate", f"{base}.json?page=2"),
        ("hub", "https://ledger.example.com/websub"),
        ("first", f"{base}.rss"),
        ("previous", f"{base}.rss"),
        ("next", f"{base}.rss?page=3"),
        ("last", f"{base}.rss?page=7"),
    ]


def test_no_paging_links_on_a_single_page(rss: Feed) -> None:
    rels = {x.get("rel") for x in channel(replace(rss, paging=Paging())).findall("atom:link", NS)}
    assert rels == {"self", "alternate", "hub"}


def test_first_page_has_no_previous(rss: Feed) -> None:
    first = replace(rss, paging=replace(rss.paging, previous=None))
    rels = [x.get("rel") for x in channel(first).findall("atom:link", NS)]
    assert "previous" not in rels and {"first", "next", "last"} <= set(rels)


def test_item_identity_link_and_dates(rss: Feed) -> None:
    item = items(rss)[0]
    guid = item.find("guid")
    assert guid.text == "urn:uuid:6f1c1a2e-8f0b-4c61-9d55-0b8d2f0c7a11"
    assert guid.get("isPermaLink") == "false"
    assert item.findtext("title") == "Tidal power plant opens in the north"
    assert item.findtext("link") == "https://ledger.example.com/articles/tidal-power-plant-opens"
    pub = item.findtext("pubDate")
    assert pub == "Tue, 14 May 2024 09:30:12 +0000"
    assert parsedate_to_datetime(pub) == rss.entries[0].published.replace(microsecond=0)


def test_items_keep_feed_order(rss: Feed) -> None:
    assert [i.findtext("guid") for i in items(rss)] == [e.id for e in rss.entries]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Ada Lovelace"], "Ada Lovelace"),
        (["Ada Lovelace", "Bo Chen"], "Ada Lovelace and Bo Chen"),
        (["A", "B", "C"], "A, B and C"),
        (["A", "B", "C", "D"], "A, B, C and D"),
    ],
)
def test_one_dc_creator_with_the_whole_byline(rss: Feed, names: list[str], expected: str) -> None:
    entry = replace(rss.entries[0], authors=tuple(Author(n) for n in names))
    item = items(replace(rss, entries=(entry,)))[0]
    assert [c.text for c in item.findall("dc:creator", NS)] == [expected]
    # RSS <author> must be an e-mail address; we have none to give.
    assert item.find("author") is None


def test_no_dc_creator_without_authors(rss: Feed) -> None:
    assert items(rss)[3].find("dc:creator", NS) is None


def test_category_summary_and_body(rss: Feed) -> None:
    item = items(rss)[0]
    cat = item.find("category")
    assert (cat.text, cat.get("domain")) == ("World", "https://ledger.example.com/sections/")
    assert item.findtext("description") == rss.entries[0].summary
    assert item.findtext("content:encoded", namespaces=NS) == rss.entries[0].content_html


def test_plain_text_summary_is_escaped_as_html(rss: Feed) -> None:
    # "3 < 4" must reach a reader as text, not as the start of a tag.
    assert items(rss)[2].findtext("description") == (
        "Fireworks, food stalls and 3 &lt; 4 crowds — a night out."
    )


def test_source_attribution(rss: Feed) -> None:
    source = items(rss)[1].find("source")
    assert source.get("url") == "https://wire.example.org/feed.xml"
    assert source.text == "Harbour Wire"
    assert items(rss)[0].find("source") is None


def test_comments(rss: Feed) -> None:
    item = items(rss)[0]
    assert item.findtext("comments") == (
        "https://ledger.example.com/articles/tidal-power-plant-opens#comments"
    )
    assert item.findtext("wfw:commentRss", namespaces=NS) == (
        "https://ledger.example.com/articles/tidal-power-plant-opens/comments.rss"
    )
    assert item.findtext("slash:comments", namespaces=NS) == "3"
    assert items(rss)[2].findtext("slash:comments", namespaces=NS) == "0"
    uncommented = items(rss)[1]
    assert uncommented.find("comments") is None
    assert uncommented.find("wfw:commentRss", NS) is None
    assert uncommented.find("slash:comments", NS) is None


def test_feedparser_reads_it_cleanly(rss: Feed) -> None:
    parsed = feedparser.parse(
        render_rss(rss).body, sanitize_html=False, resolve_relative_uris=False
    )
    assert parsed.bozo == 0
    assert parsed.version == "rss20"
    assert [e.id for e in parsed.entries] == [e.id for e in rss.entries]
    assert parsed.entries[0].author == "Ada Lovelace and Bo Chen"
    assert parsed.entries[2].author == "Zoë Ångström, Ada Lovelace and Bo Chen"
    assert parsed.entries[1].source.href == "https://wire.example.org/feed.xml"
    assert parsed.entries[0].content[0].value == rss.entries[0].content_html


def test_rss_items_carry_their_edit_time_as_atom_updated():
    """RSS has only pubDate; an edited item tells readers when through atom:updated."""
    import feedparser

    from feeds.model import Entry, Feed
    from feeds.render import render_rss

    published = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    edited = datetime(2026, 3, 2, 9, 30, 0, 250000, tzinfo=UTC)
    feed = Feed(
        id="https://news.example/feed.atom",
        title="T",
        description="D",
        link="https://news.example/",
        self_url="https://news.example/feed.rss",
        updated=edited,
        entries=(
            Entry(
                id="urn:uuid:0e7c2b1e-1d5f-4a43-9c1c-3f4b9a0e0001",
                title="Edited",
                link="https://news.example/articles/edited",
                published=published,
                updated=edited,
            ),
        ),
    )
    parsed = feedparser.parse(render_rss(feed).body)
    assert not parsed.bozo
    item = parsed.entries[0]
    assert item.published == "Sun, 01 Mar 2026 08:00:00 +0000"
    assert item.updated == "2026-03-02T09:30:00.250000+00:00"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ("<p>Full <b>body</b> &amp; more.</p><p>Second.</p>", "Full body &amp; more. Second."),
        ('<p><img src="https://ledger.example.com/a.png" alt=""></p>', "Tidal"),
    ],
)
def test_an_item_without_a_summary_keeps_its_body_in_content_encoded(
    rss: Feed, body: str, description: str
) -> None:
    # feedgen put a lone body into <description> and wrote no content:encoded
    # (found by the audit: an API article without a summary).
    entry = replace(rss.entries[0], summary=None, content_html=body)
    item = etree.fromstring(render_rss(replace(rss, entries=(entry,))).body).find("channel/item")
    assert item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") == body
    assert item.findtext("description").startswith(description)
    parsed = feedparser.parse(render_rss(replace(rss, entries=(entry,))).body).entries[0]
    assert parsed.content[0].value.startswith("<p>")  # feedparser reads content:encoded
