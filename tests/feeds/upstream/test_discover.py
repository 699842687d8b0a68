"""feeds.upstream.discover: autodiscovery links from HTML pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.upstream.discover import FeedLink, discover_feeds, find_feed_links, is_html

CORPUS = Path(__file__).parents[2] / "data" / "upstream"


def test_wordpress_head_own_feed_first_comments_last() -> None:
    body = (CORPUS / "discover-wordpress.html").read_bytes()
    links = find_feed_links(body, "https://wire.example.org/2024/05/story/")
    assert links == [
        FeedLink("https://wire.example.org/feed/", "application/rss+xml", "Harbour Wire » Feed"),
        FeedLink("https://wire.example.org/2024/05/story/feed/atom/", "application/atom+xml", None),
        FeedLink(
            "https://wire.example.org/comments/feed/",
            "application/rss+xml",
            "Harbour Wire » Comments Feed",
        ),
    ]


def test_base_href_types_and_unsafe_links() -> None:
    body = (CORPUS / "discover-base-href.html").read_bytes()
    assert discover_feeds(body, "https://www.example.com/page", "text/html; charset=utf-8") == [
        "https://cdn.example.com/site/atom.xml",
        "https://cdn.example.com/site/feed.json",
        "https://cdn.example.com/legacy.json",
    ]


def test_not_html_gives_nothing() -> None:
    assert discover_feeds(b"<rss/>", "https://x.example/", "application/rss+xml") == []
    assert discover_feeds(b'{"a": 1}', "https://x.example/", "application/json") == []
    assert discover_feeds(b"", "https://x.example/", None) == []


def test_page_without_feeds() -> None:
    assert discover_feeds(b"<html><head></head></html>", "https://x.example/", None) == []


def test_malformed_html_and_odd_bytes_do_not_raise() -> None:
    body = b'<html><head><link rel=alternate type=application/rss+xml href=/f.xml>\xff\xfe<<< <a href="'
    assert discover_feeds(body, "https://x.example/a/b", "text/html") == ["https://x.example/f.xml"]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<!DOCTYPE html><html></html>", None, True),
        (b"  <html>", "text/plain", True),
        (b"<?xml version='1.0'?><rss/>", None, False),
        (b"<html>", "application/xhtml+xml", True),
        (b"<html>", "application/rss+xml", False),
        (b"<rss/>", "text/html", True),  # the server says so; discovery then finds nothing
    ],
)
def test_is_html(body: bytes, content_type: str | None, expected: bool) -> None:
    assert is_html(body, content_type) is expected
