"""Requests an adversary controls: the Host, junk query strings, very deep pages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedserver.hosts import HostPin, sane_host
from tests.factories import make_article, make_section


@pytest.fixture
def world(db):
    with db.session() as s:
        section = make_section(s, slug="world")
        for n in range(3):
            make_article(s, slug=f"story-{n}", section=section)


def fast(app):
    return app.extensions["feedserver.publishing.fastpath"]


def test_a_foreign_host_is_never_kept_or_served_to_others(app, client, world):
    mine = client.get("/feed.atom")  # the first host seen is pinned: localhost
    assert mine.status_code == 200 and b"http://localhost/" in mine.data
    evil = client.get("/feed.atom", headers={"Host": "evil.example"})
    assert evil.status_code == 200 and b"evil.example" in evil.data
    assert evil.headers["Cache-Control"].startswith("private")
    entries = len(fast(app)._entries)
    for n in range(20):
        assert client.get("/feed.atom", headers={"Host": f"junk{n}.example"}).status_code == 200
    assert len(fast(app)._entries) == entries  # made-up hosts fill nothing
    again = client.get("/feed.atom")
    assert again.data == mine.data and b"evil.example" not in again.data
    assert again.headers["Cache-Control"].startswith("public")


def test_the_remembered_host_answer_is_the_pins(app, client, world):
    """The fast path remembers per Host value whether it is the pinned one: twice asked, same rule."""
    from feedserver.publishing.fastpath import MAX_HOSTS

    assert client.get("/feed.atom").status_code == 200  # pins localhost
    for _ in range(2):  # the second round is answered from what was remembered
        evil = client.get("/feed.atom", headers={"Host": "evil.example"})
        assert b"evil.example" in evil.data and evil.headers["Cache-Control"].startswith("private")
        mine = client.get(
            "/feed.atom", headers={"Host": "LOCALHOST."}
        )  # the pin, spelled otherwise
        assert b"http://localhost/" in mine.data and mine.headers["Cache-Control"].startswith(
            "public"
        )
    for n in range(MAX_HOSTS + 50):
        client.get("/feed.atom", headers={"Host": f"junk{n}.example"})
    assert len(fast(app)._hosts) == MAX_HOSTS
    assert (
        client.get("/feed.atom", headers={"Host": "junk9999.example"})
        .headers["Cache-Control"]
        .startswith("private")
    )


@pytest.mark.parametrize(
    "host", ["evil.example/x", "a b", "evil.example:99999", "[::1", "x@evil.example", "é.example"]
)
def test_a_malformed_host_is_a_400(client, world, host):
    response = client.get("/feed.atom", headers={"Host": host})
    assert response.status_code == 400
    assert b"evil" not in response.data or b"Host" in response.data


def test_with_base_url_the_host_plays_no_part(app_config, tmp_path, monkeypatch, db, world):
    from feedserver import create_app

    app_config["BASE_URL"] = "https://news.example.org"
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "i2"))
    app = create_app(app_config)
    client = app.test_client()
    one = client.get("/feed.atom", headers={"Host": "evil.example"})
    two = client.get("/feed.atom", headers={"Host": "other.example"})
    assert b"evil.example" not in one.data and b"https://news.example.org/" in one.data
    assert one.data == two.data
    assert len(fast(app)._entries) == 1


def test_forwarded_host_is_ignored_without_trusted_proxies(client, world):
    response = client.get("/feed.atom", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200 and b"evil.example" not in response.data


def test_junk_query_strings_create_no_entries(app, client, world):
    app.config["FEED_ITEMS"] = 2
    base = client.get("/feed.atom")
    client.get("/feed.atom?page=2")
    kept = len(fast(app)._entries)
    for n in range(30):
        junk = client.get(f"/feed.atom?utm_source={n}")
        assert junk.status_code == 200 and junk.data == base.data
    assert len(fast(app)._entries) == kept
    assert client.get("/feed.atom?page=2&x=1").status_code == 200
    assert len(fast(app)._entries) == kept


@pytest.mark.parametrize(
    "path",
    [
        "/feed.atom?page=600",  # 20 per page: past 10,000 items
        "/sections/world/feed.rss?page=99999",
        "/sections/world?page=1001",  # 10 per page
    ],
)
def test_deep_pages_are_a_clear_404(client, world, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"10,000" in response.data


def test_deep_api_pages_are_a_clear_404(client, world, api):
    response = api.get("/api/articles?page=101&per_page=100")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "page_too_deep"
    assert "10,000" in response.json["error"]["message"]
    assert api.get("/api/articles?page=100&per_page=100").status_code == 200


@pytest.fixture
def shallow(app, db):
    """Seven articles, three to a feed page, served to a depth of seven items."""
    app.config.update(FEED_ITEMS=3, PAGE_ITEMS=3, MAX_PAGE_DEPTH=7)
    with db.session() as s:
        section = make_section(s, slug="deep")
        for n in range(25):
            make_article(s, slug=f"deep-{n}", section=section)


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_paging_links_name_no_page_past_the_depth(client, shallow, fmt):
    # Depth 7 at 3 a page: pages 1-3 are served, page 4 is a 404. The links
    # said last=9 and next=4 from page 3, and readers that follow them met 404s.
    import re

    first = client.get(f"/feed.{fmt}").text
    third = client.get(f"/feed.{fmt}?page=3").text
    assert client.get(f"/feed.{fmt}?page=4").status_code == 404
    if fmt == "json":
        assert '"next_url"' in first and '"next_url"' not in third
    else:
        last = re.search(r'href="([^"]+)"[^>]*rel="last"|rel="last"[^>]*href="([^"]+)"', first)
        assert last and (last.group(1) or last.group(2)).endswith("?page=3")
        assert 'rel="next"' not in third and 'rel="previous"' in third
    assert client.get(f"/feed.{fmt}?page=3").status_code == 200


def test_listing_and_api_pages_stop_at_the_depth(app, client, shallow, api):
    page = client.get("/sections/deep?page=3")
    assert page.status_code == 200 and "?page=4" not in page.text
    assert client.get("/sections/deep?page=4").status_code == 404
    listing = api.get("/api/articles?per_page=3").json
    assert listing["total"] == 25 and listing["pages"] == 3
    assert api.get("/api/articles?per_page=3&page=3").status_code == 200
    assert api.get("/api/articles?per_page=3&page=4").status_code == 404
    # Every paged list of the API, the feed statistics and stories included.
    for fmt in ("rss", "atom", "json"):  # six feeds read: the statistics list six
        for path in ("/feed", "/sections/deep/feed"):
            assert client.get(f"{path}.{fmt}").status_code == 200
    assert api.get("/api/stats/feeds?per_page=100").json["total"] == 6
    app.config["MAX_PAGE_DEPTH"] = 3
    for path in (
        "/api/stats/feeds?per_page=1",
        "/api/stories?per_page=1",
        "/api/sections?per_page=1",
    ):
        body = api.get(path).json
        assert body["pages"] <= 3, (path, body["pages"])
        assert api.get(f"{path}&page={body['pages']}").status_code == 200


@pytest.mark.fuzz
@settings(max_examples=200)
@given(st.text(max_size=80))
def test_sane_host_is_total(host: str) -> None:
    if sane_host(host):
        assert "/" not in host and "@" not in host and " " not in host and host.isascii()
    pin = HostPin("")
    pin.may_cache(host)
    assert pin.cache_key_host(host) is not None


@pytest.mark.parametrize(
    ("path", "query", "location"),
    [
        ("//feed.rss", "", "/feed.rss"),
        ("///sections/world/feed.atom", "page=2", "/sections/world/feed.atom?page=2"),
        ("//", "", "/"),
        ("//evil.example/x", "", "/evil.example/x"),  # never a "//host" Location
        ("//caf\xc3\xa9", "", "/caf%C3%A9"),
    ],
)
def test_leading_double_slashes_redirect_to_the_one_address(app, world, path, query, location):
    """ "//feed.rss" was served as "/feed.rss", under an address its rel="self" does not name."""
    from werkzeug.test import EnvironBuilder

    env = EnvironBuilder(path="/", query_string=query).get_environ()
    env["PATH_INFO"] = path  # as a server passes it: decoded, latin-1
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    b"".join(app.wsgi_app(env, start_response))
    assert seen["status"].startswith("308")
    assert seen["headers"]["Location"] == location
