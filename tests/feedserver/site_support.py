"""Shared by the site tests: parsing pages and a small newsroom of rows."""

from __future__ import annotations

import re

import lxml.html

from tests.factories import make_article, make_desk, make_source

HTML_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FEED_TYPES = {"application/atom+xml", "application/rss+xml", "application/feed+json"}


def get_page(client, path: str, status: int = 200):
    """GET an HTML page and parse it."""
    response = client.get(path)
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "text/html"
    return lxml.html.fromstring(response.data)


def text(element) -> str:
    return " ".join(element.text_content().split())


def one(doc, xpath: str):
    found = doc.xpath(xpath)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def feed_links(doc) -> dict[str, str]:
    """Map each autodiscovery href to its type."""
    return {
        link.get("href"): link.get("type")
        for link in doc.xpath('//head/link[@rel="alternate"]')
        if link.get("type") in FEED_TYPES
    }


def build_news(db) -> None:
    """Two sections, two authors, one source; four articles, newest last."""
    with db.session() as s:
        world, science, ada, bo = make_desk(s)
        wire = make_source(
            s, slug="wire", name="The Wire Service", home_url="https://www.wire.example.org/news"
        )
        make_article(
            s,
            slug="one",
            title="Harbour reopens",
            summary="Ships are back.",
            body_html='<p>The <em>harbour</em> <a href="https://port.example.org/">reopened</a>.</p>',
            section=world,
            authors=[ada],
        )
        make_article(
            s,
            slug="two",
            title="Engines of the future",
            summary="A look ahead.",
            body_html="<p>Engines <strong>everywhere</strong>.</p>",
            section=world,
            authors=[ada, bo],
            source=wire,
            original_url="https://wire.example.org/story/2",
        )
        make_article(
            s, slug="three", title="Tides and moons", section=science, authors=[bo], source=wire
        )
        make_article(
            s,
            slug="four",
            title="A paper on foxes",
            section=science,
            authors=[bo],
            original_url="https://journal.example.net/foxes",
        )
