"""A story in listings and feeds: shown once by its lead, every source credited (§10)."""

from __future__ import annotations

import json

import feedparser
import pytest
from lxml import etree, html

from tests.feedserver.stories.stories_support import QUAKE, newsroom, quake_story, write

ATOM = "{http://www.w3.org/2005/Atom}"
VIA = {
    "https://a.example/quake-0",
    "https://b.example/quake-1",
    "https://c.example/quake-2",
}


@pytest.fixture
def story(db):
    ids = newsroom(db)
    return ids, quake_story(db, ids)


def _slugs(entries):
    return [e.link.rsplit("/", 1)[1] for e in entries]


@pytest.mark.parametrize("path", ["/feed.atom", "/sections/world/feed.atom"])
def test_atom_shows_the_story_once_with_one_via_link_per_article(client, story, path):
    body = client.get(path).data
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert _slugs(parsed.entries) == ["quake-0"]
    entry = etree.fromstring(body).find(f"{ATOM}entry")
    vias = [link.get("href") for link in entry.iterfind(f"{ATOM}link[@rel='via']")]
    assert sorted(vias) == sorted(VIA)  # each once, no duplicates
    titles = {link.get("title") for link in entry.iterfind(f"{ATOM}link[@rel='via']")}
    assert {"Agency Wire", "Daily Herald", "Gazette"} <= titles


def test_rss_credits_the_story_with_atom_via_links(client, story):
    body = client.get("/feed.rss").data
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert _slugs(parsed.entries) == ["quake-0"]
    item = etree.fromstring(body).find("channel/item")
    vias = [link.get("href") for link in item.iterfind(f"{ATOM}link[@rel='via']")]
    assert sorted(vias) == sorted(VIA)


def test_json_feed_carries_the_story_sources(client, story):
    doc = json.loads(client.get("/feed.json").data)
    assert [i["url"].rsplit("/", 1)[1] for i in doc["items"]] == ["quake-0"]
    assert doc["items"][0]["_story"] == {
        "sources": [
            {"name": "Agency Wire", "url": "https://a.example/quake-0"},
            {"name": "Daily Herald", "url": "https://b.example/quake-1"},
            {"name": "Gazette", "url": "https://c.example/quake-2"},
        ]
    }


def test_newsroom_article_is_credited_with_its_page_here(client, db):
    ids = newsroom(db)
    write(db, ids, "own", QUAKE[0], None)
    write(db, ids, "wire", QUAKE[1], "a", hours=1)
    doc = json.loads(client.get("/feed.json").data)
    assert doc["items"][0]["_story"]["sources"] == [
        {"name": "The Test Gazette", "url": "http://localhost/articles/own"},
        {"name": "Agency Wire", "url": "https://a.example/wire"},
    ]


@pytest.mark.parametrize("path", ["/sources/herald/feed.atom", "/authors/ada/feed.atom"])
def test_every_article_stays_in_its_source_and_author_feeds(client, story, path):
    parsed = feedparser.parse(client.get(path).data)
    assert not parsed.bozo
    expected = ["quake-1"] if "sources" in path else ["quake-2", "quake-1", "quake-0"]
    assert _slugs(parsed.entries) == expected


def test_validators_change_when_membership_changes(client, db):
    ids = newsroom(db)
    write(db, ids, "q0", QUAKE[0], "a")
    write(db, ids, "q1", QUAKE[1], "b", hours=1)
    before = {p: client.get(p).headers["ETag"] for p in ("/feed.atom", "/sections/world/feed.json")}
    write(db, ids, "q2", QUAKE[2], "c", hours=2)
    for path, etag in before.items():
        response = client.get(path, headers={"If-None-Match": etag})
        assert response.status_code == 200, path
        assert b"c.example/q2" in response.data


def test_home_and_article_pages_say_who_else_reported_it(client, story):
    page = html.fromstring(client.get("/").data)
    teasers = page.xpath("//article[contains(@class, 'teaser')]")
    assert len(teasers) == 1
    also = teasers[0].xpath(".//p[contains(@class, 'also-reported')]")[0]
    assert also.text_content().startswith("Also reported by")
    assert also.xpath(".//a/@href") == ["/articles/quake-1", "/articles/quake-2"]
    # Each article keeps its page, which lists the others.
    page = html.fromstring(client.get("/articles/quake-1").data)
    also = page.xpath("//p[contains(@class, 'story-sources')]")[0]
    assert also.xpath(".//a/@href") == ["/articles/quake-0", "/articles/quake-2"]
    assert "Agency Wire" in also.text_content() and "Gazette" in also.text_content()


def test_paging_counts_stories_not_articles(app, client, db):
    """25 stories of 3 articles each: 2 feed pages of 20 + 5, 3 listing pages of 10."""
    ids = newsroom(db)
    for n in range(25):
        for k, source in enumerate(("a", "b", "c")):
            title = f"Harbour{chr(97 + n % 26)}{n} flood Cityname{n} story"
            text = (
                f"{title} {('first', 'second', 'third')[k]}",
                f"Flood in Cityname{n} reported by {source}; Mayor{n} spoke.",
            )
            write(db, ids, f"s{n}-{k}", text, source, hours=n * 100 + k)
    seen: list[str] = []
    for page in (1, 2):
        parsed = feedparser.parse(client.get(f"/feed.atom?page={page}").data)
        assert not parsed.bozo
        seen += _slugs(parsed.entries)
        last = [link.href for link in parsed.feed.links if link.rel == "last"]
        assert last and last[0].endswith("page=2")
    assert client.get("/feed.atom?page=3").status_code == 404
    assert seen == [f"s{n}-0" for n in reversed(range(25))]
    listed: list[str] = []
    for page in (1, 2, 3):
        doc = html.fromstring(client.get(f"/sections/world?page={page}").data)
        listed += [
            h.rsplit("/", 1)[1]
            for h in doc.xpath(
                "//h2[@class='teaser-title']/a/@href | //h3[@class='teaser-title']/a/@href"
            )
        ]
    assert listed == seen
    assert client.get("/sections/world?page=4").status_code == 404
