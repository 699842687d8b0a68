"""JSON Feed 1.1 output: https://www.jsonfeed.org/version/1.1/"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from feeds.model import Author, Feed, Paging
from feeds.render import JSON_TYPE, render_json


def document(feed: Feed) -> dict[str, Any]:
    rendered = render_json(feed)
    assert rendered.media_type == JSON_TYPE == "application/feed+json; charset=utf-8"
    parsed = json.loads(rendered.body.decode("utf-8"))
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def doc(page: Callable[[str], Feed]) -> dict[str, Any]:
    return document(page("json"))


def test_top_level_fields(doc: dict[str, Any]) -> None:
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "World — The Daily Ledger"
    assert doc["home_page_url"] == "https://ledger.example.com/sections/world"
    assert doc["feed_url"] == "https://ledger.example.com/sections/world/feed.json?page=2"
    assert doc["description"] == "World news from The Daily Ledger"
    assert doc["language"] == "en"
    assert doc["next_url"] == "https://ledger.example.com/sections/world/feed.json?page=3"
    assert isinstance(doc["items"], list) and len(doc["items"]) == 4


def test_every_item_has_the_required_fields(doc: dict[str, Any]) -> None:
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"].startswith("urn:uuid:")
        # One of the two content fields is required by the spec.
        assert "content_html" in item or "content_text" in item


def test_no_next_url_on_the_last_page(page: Callable[[str], Feed]) -> None:
    feed = page("json")
    last = replace(feed, paging=Paging(first=feed.paging.first, previous=feed.paging.previous))
    assert "next_url" not in document(last)
    assert "next_url" not in document(replace(feed, paging=Paging()))


def test_item_fields(page: Callable[[str], Feed]) -> None:
    feed = page("json")
    item = document(feed)["items"][0]
    entry = feed.entries[0]
    assert item["id"] == entry.id
    assert item["url"] == entry.link
    assert item["title"] == entry.title
    assert item["summary"] == entry.summary
    assert item["content_html"] == entry.content_html
    assert item["date_published"] == "2024-05-14T09:30:12.345000Z"
    assert item["date_modified"] == "2024-05-14T11:02:07.500000Z"
    assert item["authors"] == [
        {"name": "Ada Lovelace", "url": "https://ledger.example.com/authors/ada-lovelace"},
        {"name": "Bo Chen", "url": "https://ledger.example.com/authors/bo-chen"},
    ]
    assert item["tags"] == ["World"]
    assert "external_url" not in item and "_source" not in item


def test_authors_in_byline_order_without_email(doc: dict[str, Any]) -> None:
    assert [a["name"] for a in doc["items"][2]["authors"]] == [
        "Zoë Ångström",
        "Ada Lovelace",
        "Bo Chen",
    ]
    assert doc["items"][1]["authors"] == [{"name": "Kenji Sato"}]
    assert "authors" not in doc["items"][3]
    assert "email" not in json.dumps(doc)


def test_attribution(doc: dict[str, Any]) -> None:
    item = doc["items"][1]
    assert item["external_url"] == "https://wire.example.org/2024/05/ferry-strike"
    assert item["_source"] == {
        "title": "Harbour Wire",
        "home_page_url": "https://wire.example.org/",
        "feed_url": "https://wire.example.org/feed.xml",
    }


def test_summary_stands_in_for_missing_content(feed: Feed) -> None:
    entry = replace(feed.entries[0], content_html=None)
    item = document(replace(feed, entries=(entry,)))["items"][0]
    assert item["content_text"] == entry.summary
    assert "content_html" not in item


def test_non_ascii_is_written_as_utf8_not_escapes(feed: Feed) -> None:
    body = render_json(feed).body
    assert "東京".encode() in body and "🎆".encode() in body
    assert b"\\u" not in body


def test_blank_author_names_are_left_out(feed: Feed) -> None:
    entry = replace(feed.entries[0], authors=(Author(" "), Author("Bo Chen", "")))
    assert document(replace(feed, entries=(entry,)))["items"][0]["authors"] == [{"name": "Bo Chen"}]


def test_an_item_with_no_text_still_says_something(feed: Feed) -> None:
    # JSON Feed 1.1: content_html or content_text must be present; an empty
    # string is present but says nothing (an enclosure-only upstream item).
    bare = replace(feed.entries[0], content_html=None, summary=None)
    item = document(replace(feed, entries=(bare,)))["items"][0]
    assert item["content_text"] == bare.title.strip() and bare.title.strip()
    untitled = replace(bare, title="")
    item = document(replace(feed, entries=(untitled,)))["items"][0]
    assert item["content_text"] == bare.link and "title" not in item
