"""Every feed advertises the hub (WebSub §4): Link headers on 200 and 304, in the body too."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from feeds.websub import hub_and_self

ATOM = "{http://www.w3.org/2005/Atom}"
FEEDS = [
    "/feed.rss",
    "/feed.atom",
    "/feed.json",
    "/sections/world/feed.rss",
    "/sections/world/feed.atom",
    "/authors/ada/feed.json",
    "/sources/wire/feed.atom",
]


def _hub_in_body(body: bytes, path: str) -> list[str]:
    if path.endswith(".json"):
        return [h["url"] for h in json.loads(body)["hubs"] if h["type"] == "WebSub"]
    root = etree.fromstring(body)
    return [e.get("href") for e in root.iter(f"{ATOM}link") if e.get("rel") == "hub"] + [
        e.get("href") for e in root.iter("link") if e.get("rel") == "hub"
    ]


def _comment_feeds(client):
    from sqlalchemy import select

    from feedserver.db import get_db
    from feedserver.models import Article

    with get_db(client.application).session() as s:
        slug = s.scalars(select(Article.slug)).first()
    return [f"/articles/{slug}/comments.rss", f"/articles/{slug}/comments.atom"]


@pytest.mark.parametrize("query", ["", "?page=1"])
def test_links_on_200_304_head_and_the_fast_path(client, news, query):
    for path in FEEDS + _comment_feeds(client):
        url = path + query
        first = client.get(url)
        assert first.status_code == 200, url
        hubs, self_url = hub_and_self(first.headers.getlist("Link"))
        assert hubs == ["http://localhost/websub"], url
        assert self_url == "http://localhost" + path  # page 1 is spelled without ?page=
        assert _hub_in_body(first.data, path) == ["http://localhost/websub"]
        again = client.get(url)  # the fast path's kept answer
        assert again.headers.getlist("Link") == first.headers.getlist("Link")
        cond = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert cond.status_code == 304
        assert cond.headers.getlist("Link") == first.headers.getlist("Link")
        head = client.head(url)
        assert head.headers.getlist("Link") == first.headers.getlist("Link")


def test_gzip_variant_and_later_pages_advertise_too(app, client, news):
    app.config["FEED_ITEMS"] = 1
    r = client.get("/feed.atom?page=2", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert hub_and_self(r.headers.getlist("Link")) == (
        ["http://localhost/websub"],
        "http://localhost/feed.atom?page=2",
    )


def test_external_hub_is_advertised_instead(app_config, tmp_path, monkeypatch, request):
    from feedserver import create_app
    from tests.feedserver.site_support import build_news

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "i2"))
    app = create_app({**app_config, "WEBSUB_HUB": "https://hub.example.net/"})
    from feedserver.db import get_db

    build_news(get_db(app))
    r = app.test_client().get("/feed.rss")
    assert hub_and_self(r.headers.getlist("Link"))[0] == ["https://hub.example.net/"]
    assert _hub_in_body(r.data, "/feed.rss") == ["https://hub.example.net/"]
    assert b"http://localhost/websub" not in r.data


def test_configured_base_url_is_used(app, client, news):
    app.config["BASE_URL"] = "https://news.example.com"
    r = client.get("/sections/world/feed.json")
    assert hub_and_self(r.headers.getlist("Link")) == (
        ["https://news.example.com/websub"],
        "https://news.example.com/sections/world/feed.json",
    )
