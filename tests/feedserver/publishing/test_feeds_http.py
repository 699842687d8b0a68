"""Feed endpoints over HTTP: scopes, formats, validators, 304, compression."""

from __future__ import annotations

import gzip
import json

import brotli
import feedparser
import pytest


def parse(response):
    """Parse a feed as a reader would: feedparser for XML, JSON Feed by its spec.

    feedparser 6 reads no JSON Feed, so that format is checked against the
    spec's required fields and mapped to the same shape.
    """
    if "json" not in response.headers["Content-Type"]:
        return feedparser.parse(response.data)
    doc = json.loads(response.data)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and isinstance(doc["items"], list)
    for item in doc["items"]:
        assert isinstance(item["id"], str)
        assert "content_html" in item or "content_text" in item
    return feedparser.FeedParserDict(
        bozo=0,
        feed=doc,
        entries=[feedparser.FeedParserDict(link=i["url"], **i) for i in doc["items"]],
    )


FORMATS = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


SLUGS = {"sections": "world", "authors": "ada", "sources": "wire"}  # in the world fixture


@pytest.mark.parametrize("fmt", FORMATS)
def test_site_feed_lists_articles_newest_first(client, world, fmt):
    response = client.get(f"/feed.{fmt}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == FORMATS[fmt]
    parsed = parse(response)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.link.rsplit("/", 1)[1] for e in parsed.entries] == ["three", "two", "one"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["sections", "authors", "sources"])
def test_scope_feeds(client, world, kind, fmt):
    slug = SLUGS[kind]
    response = client.get(f"/{kind}/{slug}/feed.{fmt}")
    assert response.status_code == 200
    parsed = parse(response)
    assert not parsed.bozo
    expected = {"sections": 2, "authors": 2, "sources": 1}[kind]
    assert len(parsed.entries) == expected


@pytest.mark.parametrize(
    "path", ["/sections/nope/feed.rss", "/authors/nope/feed.atom", "/sources/nope/feed.json"]
)
def test_unknown_slug_is_404(client, world, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"nope" in response.data


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "99999999999", "%00", "１"])
def test_bad_page_is_400(client, world, page):
    response = client.get(f"/feed.atom?page={page}")
    assert response.status_code == 400
    # A NUL is refused in any query string, before the feed view reads its page.
    assert (b"NUL" if page == "%00" else b"page must be") in response.data


def test_page_past_the_end_is_404(client, world):
    past = client.get("/feed.atom?page=2")
    assert past.status_code == 404 and b"This feed has 1 page(s), not 2." in past.data


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", None),
        ("?page=1", "http://localhost/feed.atom"),
        ("?page=01", "http://localhost/feed.atom"),
        ("?utm_source=reader", "http://localhost/feed.atom"),
        ("?page=2", None),
        ("?page=002", "http://localhost/feed.atom?page=2"),
    ],
)
def test_other_spellings_of_a_page_name_its_canonical_url(app, client, world, query, canonical):
    """Content-Location names the URL rel="self" gives (W3C validator: SelfDoesntMatchLocation)."""
    app.config["FEED_ITEMS"] = 2  # the world's three articles make two pages
    for _ in range(2):  # the view's answer, then the kept one (the fast path)
        got = client.get("/feed.atom" + query)
        assert got.status_code == 200
        assert got.headers.get("Content-Location") == canonical
        self_link = parse(got).feed.links
        assert {link.href for link in self_link if link.rel == "self"} == {
            canonical or "http://localhost/feed.atom" + query
        }
        again = client.get("/feed.atom" + query, headers={"If-None-Match": got.headers["ETag"]})
        assert again.status_code == 304
        assert again.headers.get("Content-Location") == canonical


def test_etag_and_304(client, world):
    first = client.get("/sections/world/feed.atom")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert first.headers["Vary"] == "Accept-Encoding"
    again = client.get("/sections/world/feed.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = client.get("/sections/world/feed.atom", headers={"If-Modified-Since": last_modified})
    assert since.status_code == 304
    other = client.get("/sections/world/feed.atom", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.data == first.data


def test_if_modified_since_that_is_no_http_date_is_ignored(client, world):
    """RFC 9110 §13.1.3: MUST ignore a value that is not a valid HTTP-date, or has two members."""
    last_modified = client.get("/sections/world/feed.atom").headers["Last-Modified"]
    assert last_modified.endswith(" GMT")
    fine = client.get("/sections/world/feed.atom", headers={"If-Modified-Since": last_modified})
    assert fine.status_code == 304
    for value in (
        last_modified[:-4],  # no zone
        last_modified.replace("GMT", "+0000"),
        last_modified.replace("GMT", "gmt"),
        f"{last_modified}, {last_modified}",
    ):
        got = client.get("/sections/world/feed.atom", headers={"If-Modified-Since": value})
        assert got.status_code == 200 and got.data, value


def test_preconditions_that_fail_are_a_412(client, world):
    """RFC 9110 §13.1.1, §13.1.4, §13.2.2: If-Match first, else If-Unmodified-Since."""
    url = "/sections/world/feed.atom"
    first = client.get(url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    for _ in range(2):  # Flask, then with the answer kept by the fast path
        assert client.get(url).status_code == 200
        for headers in (
            {"If-Match": '"some-other-version"'},
            {"If-Match": f"W/{etag}"},  # weak tags never match If-Match
            {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
            {"If-Match": '"other"', "If-Unmodified-Since": last_modified},  # If-Match decides
        ):
            failed = client.get(url, headers=headers)
            assert failed.status_code == 412, headers
            assert failed.headers["ETag"] == etag and b"Precondition Failed" in failed.data
        for headers in (
            {"If-Match": etag},
            {"If-Match": f'"nope", {etag}'},
            {"If-Match": "*"},
            {"If-Unmodified-Since": last_modified},
            {"If-Unmodified-Since": "not a date"},  # ignored (§13.1.4)
            {"If-Match": etag, "If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
        ):
            passed = client.get(url, headers=headers)
            assert passed.status_code == 200 and passed.data == first.data, headers
    # A passed precondition and a current copy: the 304 still applies.
    both = client.get(url, headers={"If-Match": etag, "If-None-Match": etag})
    assert both.status_code == 304


def test_head_matches_get(client, world):
    get = client.get("/feed.rss")
    head = client.head("/feed.rss")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(get.data))


def test_compression_gzip_and_br(client, world):
    plain = client.get("/feed.json").data
    gz = client.get("/feed.json", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == plain
    br = client.get("/feed.json", headers={"Accept-Encoding": "gzip, br"})
    assert br.headers["Content-Encoding"] == "br"
    assert brotli.decompress(br.data) == plain
    assert len({gz.headers["ETag"], br.headers["ETag"]}) == 2
    # Any variant's tag revalidates any other.
    again = client.get("/feed.json", headers={"If-None-Match": gz.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/feed/", "/feed.rss"),
        ("/feed", "/feed.rss"),
        ("/feed/atom/", "/feed.atom"),
        ("/category/world/feed/", "/sections/world/feed.rss"),
        ("/category/world/feed/atom/", "/sections/world/feed.atom"),
        ("/author/ada/feed/", "/authors/ada/feed.rss"),
        ("/author/ada/feed/atom/", "/authors/ada/feed.atom"),
    ],
)
def test_wordpress_paths_redirect(client, old, new):
    response = client.get(old)
    assert response.status_code == 301
    assert response.headers["Location"].endswith(new)


@pytest.mark.parametrize(
    ("old", "status", "new"),
    [
        ("/feed/?paged=3", 301, "/feed.rss?page=3"),
        ("/category/world/feed/?page=2", 301, "/sections/world/feed.rss?page=2"),
        ("/feed/?paged=1", 301, "/feed.rss"),
        ("/feed/?paged=&page=2", 301, "/feed.rss?page=2"),
        ("/feed/?paged=" + "9" * 4301, 400, None),  # past int()'s digit limit: was a 500
        ("/feed/atom/?page=-1", 400, None),
        ("/author/ada/feed/?paged=x", 400, None),
        ("/category/%2e%2e/feed/", 404, None),  # was a 301 to /sections/../feed.rss
        ("/category/World/feed/atom/", 404, None),
    ],
)
def test_wordpress_paths_carry_their_page_or_refuse_it(client, old, status, new):
    response = client.get(old)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if new:
        assert response.headers["Location"].endswith(new)
    else:
        assert "Location" not in response.headers
        assert response.get_data(as_text=True).strip()  # a message says what was wrong


def test_a_new_empty_scopes_feed_dates_from_its_creation(api, client):
    # A section, author or source with no article yet, and a new article's
    # comments, have had no change but their creation: that is their feed's
    # time, not a made-up year 2000.
    from datetime import UTC, datetime, timedelta

    from werkzeug.http import parse_date

    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    section = api.post("/api/sections", json={"name": "Fresh desk"}).json
    author = api.post("/api/authors", json={"name": "Nova Reed"}).json
    article = api.post(
        "/api/articles",
        json={"title": "First words", "section": section["slug"], "authors": [author["slug"]]},
    ).json
    empty = api.post("/api/sections", json={"name": "Quiet desk"}).json
    paths = [
        f"/sections/{empty['slug']}/feed.atom",
        f"/sections/{empty['slug']}/feed.rss",
        f"/articles/{article['slug']}/comments.atom",
        f"/articles/{article['slug']}/comments.rss",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        stamp = parse_date(response.headers["Last-Modified"])
        assert before <= stamp <= datetime.now(UTC), (path, stamp)
        parsed = feedparser.parse(response.data)
        when = parsed.feed.get("updated_parsed")
        assert when is not None and when.tm_year == stamp.year, path
    quiet = json.loads(client.get(f"/sections/{empty['slug']}/feed.json").data)
    assert quiet["items"] == []


def test_a_write_committed_while_a_feed_is_read_never_pairs_the_old_etag_with_the_new_body(
    client, db, world, monkeypatch
):
    # The versions and the articles are separate reads: a commit in between
    # gave the newer body under the older strong ETag, and kept it under the
    # older version's key (found by an audit, on PostgreSQL).
    from feedserver.models import Article
    from feedserver.publishing import queries

    read_page = queries.articles_page
    writes = []

    def page_after_a_write(*args, **kwargs):
        if not writes:
            with db.session() as s:
                s.get(Article, world.articles["one"]).title = "Harbour reopens at dawn"
            writes.append(1)
        return read_page(*args, **kwargs)

    monkeypatch.setattr(queries, "articles_page", page_after_a_write)
    raced = client.get("/sections/world/feed.atom")
    assert raced.status_code == 200 and b"Harbour reopens at dawn" in raced.data
    assert "ETag" not in raced.headers and "Last-Modified" not in raced.headers
    assert raced.headers["Cache-Control"] == "no-cache"
    settled = client.get("/sections/world/feed.atom")
    assert b"Harbour reopens at dawn" in settled.data and settled.headers["ETag"].startswith('"')
    assert settled.headers["Cache-Control"].startswith("public, max-age=")
    assert (
        client.get(
            "/sections/world/feed.atom", headers={"If-None-Match": settled.headers["ETag"]}
        ).status_code
        == 304
    )
