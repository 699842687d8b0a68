"""/api/sources: add by feed or page URL, refusals with nothing stored, edit, refresh, OPML."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from feedserver.models import Article, Author, Section, Source
from tests.factories import make_section
from tests.feedserver.aggregation_support import Item, numbered, rss

RSS = "application/rss+xml"


@pytest.fixture(autouse=True)
def upstream(httpserver, app_config):
    # autouse: runs before ``app`` is built from app_config.
    app_config["UPSTREAM_ALLOWLIST"] = f"127.0.0.1:{httpserver.port}"
    app_config["FETCH_TIMEOUT"] = 3
    app_config["BASE_URL"] = "https://news.example"
    return httpserver


@pytest.fixture
def world(db):
    with db.session() as s:
        make_section(s, slug="world", name="World")


def counts(db) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m)) for m in (Source, Article, Author)
        )  # type: ignore[return-value]


def test_add_by_feed_url_fetches_and_stores(client, db, upstream, auth, world):
    items = numbered(3)
    items[0].author = "Jo Writer"
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items, title="Upstream Daily"), content_type=RSS, headers={"ETag": '"e1"'}
    )
    url = upstream.url_for("/feed.xml")
    r = client.post("/api/sources", json={"url": url, "section": "world"}, headers=auth)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["name"] == "Upstream Daily" and body["slug"] == "upstream-daily"
    assert body["url"] == "https://news.example/sources/upstream-daily"
    assert body["feed_url"] == url and body["home_url"] == "https://upstream.example/"
    assert body["section"]["slug"] == "world" and body["enabled"] is True
    assert body["last_status"] == 200 and body["error_count"] == 0 and body["last_error"] is None
    assert body["etag"] == '"e1"' and body["article_count"] == 3
    assert body["last_fetch_at"].endswith("Z") and body["next_fetch_at"].endswith("Z")
    assert r.headers["Location"].endswith(f"/api/sources/{body['id']}")
    # Its entries are in the site, section, author and source feeds, attributed.
    feed = client.get("/sections/world/feed.atom").get_data(as_text=True)
    assert "Story 0" in feed and "<source>" in feed and "Upstream Daily" in feed
    assert 'rel="via" href="https://upstream.example/story/0"' in feed
    assert "Story 2" in client.get("/feed.rss").get_data(as_text=True)
    assert "Story 1" in client.get("/sources/upstream-daily/feed.json").get_data(as_text=True)
    with db.session() as s:
        jo = s.scalar(select(Author).where(Author.name == "Jo Writer"))
    assert "Story 0" in client.get(f"/authors/{jo.slug}/feed.rss").get_data(as_text=True)
    # Again: 409, nothing more stored.
    before = counts(db)
    again = client.post("/api/sources", json={"url": url}, headers=auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "source_exists"
    assert counts(db) == before


def test_entries_that_cannot_be_stored_add_the_source_with_the_error(
    client, db, upstream, auth, world, monkeypatch
):
    """Storing a new source's entries failed (a database refusal): 201, the error on it, no 500."""
    from sqlalchemy.exc import DataError

    from feedserver.aggregation.store import articles as store_articles

    def refuse(*_args, **_kwargs):
        raise DataError("INSERT INTO articles …", ("upstream text",), ValueError("value too long"))

    monkeypatch.setattr(store_articles, "_insert", refuse)
    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(2)), content_type=RSS)
    url = upstream.url_for("/feed.xml")
    r = client.post("/api/sources", json={"url": url, "section": "world"}, headers=auth)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["feed_url"] == url and body["section"]["slug"] == "world"
    assert body["article_count"] == 0 and body["error_count"] == 1
    assert body["last_status"] == 200  # the upstream did answer
    assert "value too long" in body["last_error"] and "INSERT" not in body["last_error"]
    assert counts(db) == (1, 0, 0)
    monkeypatch.undo()  # the next poll stores them
    refreshed = client.post(f"/api/sources/{body['id']}/refresh", headers=auth)
    assert refreshed.status_code == 200 and refreshed.json["article_count"] == 2
    assert refreshed.json["last_error"] is None and refreshed.json["error_count"] == 0


def test_a_removed_source_added_again_stores_its_entries_again(client, db, upstream, auth, world):
    """On SQLite the new source took the removed one's id, and with it the tombstones
    of its entries: they were "deleted" and never stored again, with no error."""
    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(2)), content_type=RSS)
    url = upstream.url_for("/feed.xml")
    first = client.post("/api/sources", json={"url": url, "section": "world"}, headers=auth)
    assert first.status_code == 201 and first.json["article_count"] == 2
    assert client.delete(f"/api/sources/{first.json['id']}", headers=auth).status_code == 204
    again = client.post("/api/sources", json={"url": url, "section": "world"}, headers=auth)
    assert again.status_code == 201, again.json
    assert again.json["id"] != first.json["id"]
    assert again.json["article_count"] == 2 and again.json["last_error"] is None
    feed = client.get(f"/sources/{again.json['slug']}/feed.atom").get_data(as_text=True)
    assert "Story 0" in feed and "deleted-entry" not in feed  # none of another's tombstones


def test_a_source_removed_twice_at_once_is_removed_once(client, db, upstream, auth, world):
    """Both removals answered 204 and each wrote a tombstone per article: every
    at:deleted-entry came twice, and the doubles took the feeds' 100 places."""
    import threading

    from feedserver.aggregation.removal import remove_source
    from feedserver.models import ArticleTombstone

    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(3)), content_type=RSS)
    added = client.post(
        "/api/sources", json={"url": upstream.url_for("/feed.xml"), "section": "world"},
        headers=auth,
    )  # fmt: skip
    sid = added.json["id"]
    first = db.sessions()
    first.begin()
    assert remove_source(first, first.get(Source, sid)) == 3  # not yet committed
    answers = []
    second = threading.Thread(
        target=lambda: answers.append(client.delete(f"/api/sources/{sid}", headers=auth))
    )
    second.start()
    second.join(1.0)
    assert second.is_alive()  # waits for the first removal
    first.commit()
    first.close()
    second.join(30)
    assert answers and answers[0].status_code == 404, answers[0].json
    assert "removed meanwhile" in answers[0].json["error"]["message"]
    with db.session() as s:
        stones = s.scalars(select(ArticleTombstone.article_id)).all()
    assert len(stones) == 3 and len(set(stones)) == 3
    atom = client.get("/feed.atom").get_data(as_text=True)
    assert atom.count("<at:deleted-entry") == 3


def test_add_by_html_page_follows_autodiscovery(client, db, upstream, auth):
    page = (
        "<!doctype html><html><head><title>Blog</title>"
        '<link rel="alternate" type="application/rss+xml" title="Posts" href="/posts.xml">'
        "</head><body>Hello</body></html>"
    )
    upstream.expect_request("/blog/").respond_with_data(page, content_type="text/html")
    upstream.expect_request("/posts.xml").respond_with_data(
        rss(numbered(2), title="The Blog"), content_type=RSS
    )
    r = client.post("/api/sources", json={"url": upstream.url_for("/blog/")}, headers=auth)
    assert r.status_code == 201, r.json
    assert r.json["feed_url"] == upstream.url_for("/posts.xml")
    assert r.json["name"] == "The Blog" and r.json["article_count"] == 2


@pytest.mark.parametrize("name", ["a\u0000b", "<script>x</script>", "\u0007bell"])
def test_a_name_that_is_no_plain_text_stores_nothing(client, db, auth, upstream, name):
    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(2)), content_type=RSS)
    url = upstream.url_for("/feed.xml")
    r = client.post("/api/sources", json={"url": url, "name": name}, headers=auth)
    assert r.status_code == 422 and r.json["error"]["fields"] == {"name": "invalid"}
    assert counts(db)[:2] == (0, 0)
    assert len(upstream.log) == 0  # refused before anything was fetched


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("http://10.0.0.1/feed", 422),
        ("http://169.254.169.254/latest/meta-data/", 422),
        ("http://127.0.0.1:1/feed", 422),
        ("ftp://example.com/feed", 400),
        ("not a url", 400),
        ("http://xn--/feed", 400),  # no valid IDNA host
        ("http://xn--ls8h.example./feed", 400),
        ("", 400),
        (42, 400),
    ],
)
def test_refused_urls_store_nothing(client, db, auth, url, status, upstream):
    r = client.post("/api/sources", json={"url": url}, headers=auth)
    assert r.status_code == status, r.json
    assert r.json["error"]["message"]
    assert counts(db)[:2] == (0, 0)
    assert len(upstream.log) == 0  # nothing reached even the allowed server


def test_non_feeds_and_unreachable_store_nothing(client, db, upstream, auth):
    upstream.expect_request("/page").respond_with_data(
        "<html><head><title>No feed</title></head><body>x</body></html>", content_type="text/html"
    )
    upstream.expect_request("/missing").respond_with_data("gone", status=404)
    upstream.expect_request("/text").respond_with_data("just text", content_type="text/plain")
    for path, code in (
        ("/page", "not_a_feed"),
        ("/missing", "unreachable"),
        ("/text", "not_a_feed"),
    ):
        r = client.post("/api/sources", json={"url": upstream.url_for(path)}, headers=auth)
        assert r.status_code == 422 and r.json["error"]["code"] == code, r.json
        assert upstream.url_for(path) in r.json["error"]["message"]
    assert counts(db) == (0, 0, 0)


def test_api_errors(client, db, upstream, auth):
    assert client.get("/api/sources").status_code == 401
    assert client.get("/api/sources").headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/sources", data="url=x", headers=auth).status_code == 415
    r = client.post("/api/sources", data="{", headers=auth, content_type="application/json")
    assert r.status_code == 400
    assert client.post("/api/sources", json={}, headers=auth).status_code == 400
    # An unknown field is a 422 naming it, as for every other object.
    r = client.post("/api/sources", json={"url": "x", "bogus": 1}, headers=auth)
    assert r.status_code == 422 and r.json["error"]["fields"] == {
        "bogus": "is not a field of this request"
    }
    for missing in (
        client.get("/api/sources/999", headers=auth),
        client.get("/api/sources/99999999999999", headers=auth),
        client.post("/api/sources/999/refresh", headers=auth),
    ):
        assert missing.status_code == 404
        assert missing.json["error"]["code"] == "not_found"
        assert missing.json["error"]["message"].startswith("No source with id 99")
    bad_page = client.get("/api/sources?page=0", headers=auth)
    assert bad_page.status_code == 400 and bad_page.json["error"] == {
        "code": "bad_request",
        "message": "page must be a whole number from 1 to 1000000, not '0'.",
    }
    r = client.post(
        "/api/sources", json={"url": upstream.url_for("/f"), "section": "nope"}, headers=auth
    )
    assert r.status_code == 422 and counts(db)[0] == 0


def test_list_patch_refresh_delete(client, db, upstream, auth, world):
    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(2)), content_type=RSS)
    sid = client.post(
        "/api/sources", json={"url": upstream.url_for("/feed.xml")}, headers=auth
    ).json["id"]
    listing = client.get("/api/sources", headers=auth).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == sid

    r = client.patch(
        f"/api/sources/{sid}",
        json={"name": "Renamed", "section": "world", "poll_interval": 3600, "enabled": False},
        headers=auth,
    )
    assert r.status_code == 200, r.json
    assert (r.json["name"], r.json["section"]["slug"], r.json["poll_interval"], r.json["enabled"]) == (
        "Renamed", "world", 3600, False,
    )  # fmt: skip
    for bad in (
        {"poll_interval": 5},
        {"enabled": "yes"},
        {"name": ""},
        {"name": "Src \u0000 name"},  # was stored, and a 500 on PostgreSQL
        {"name": "Src \u0001"},
        {"name": "<b>Bold</b> source"},  # names are plain text, as section names are
        {"name": "Caf&eacute;"},
        {"name": 7},
        {"name": "x" * 201},
        {"section": "nope"},
        {"section": "a\u0000b"},
        {"what": 1},
    ):
        r = client.patch(f"/api/sources/{sid}", json=bad, headers=auth)
        assert r.status_code == 422, (bad, r.json)
        assert set(r.json["error"]["fields"]) <= set(bad) and r.json["error"]["message"]
    assert client.get(f"/api/sources/{sid}", headers=auth).json["name"] == "Renamed"

    upstream.clear()
    upstream.expect_request("/feed.xml").respond_with_data("oops", status=500)
    r = client.post(f"/api/sources/{sid}/refresh", headers=auth)
    assert r.status_code == 200
    assert r.json["last_status"] == 500 and r.json["error_count"] == 1
    assert r.json["last_error"].startswith(f"fetch {upstream.url_for('/feed.xml')}")

    assert client.delete(f"/api/sources/{sid}", headers=auth).status_code == 204
    assert counts(db) == (0, 0, 0)
    assert client.get(f"/api/sources/{sid}", headers=auth).status_code == 404


OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>Subs</title></head><body>
<outline text="World"><outline text="One" type="rss" xmlUrl="https://one.example/feed" htmlUrl="https://one.example/"/></outline>
<outline text="Two" type="rss" xmlUrl="https://two.example/rss" category="/News/World"/>
<outline text="Dup" type="rss" xmlUrl="https://two.example/rss"/>
<outline text="Private" type="rss" xmlUrl="http://10.1.2.3/feed"/>
<outline text="Nowhere" type="rss" xmlUrl="https://three.example/rss" category="Sport"/>
</body></opml>"""


def test_opml_import_export_round_trip(client, db, auth, world, upstream):
    r = client.post("/api/sources/import", data=OPML, headers=auth, content_type="text/x-opml")
    assert r.status_code == 200, r.json
    assert [s["feed_url"] for s in r.json["added"]] == [
        "https://one.example/feed",
        "https://two.example/rss",
        "https://three.example/rss",
    ]
    # A category that names no section creates it (a reader's export imports in one step).
    assert [s["section"]["slug"] for s in r.json["added"]] == ["world", "world", "sport"]
    sport = r.json["added"][2]["section"]["id"]
    assert r.json["created_sections"] == [{"id": sport, "slug": "sport", "name": "Sport"}]
    assert {x["url"] for x in r.json["refused"]} == {"http://10.1.2.3/feed"}
    assert len(upstream.log) == 0  # imported sources are fetched by the poller, not here

    exported = client.get("/api/sources/export", headers=auth)
    assert exported.status_code == 200 and exported.mimetype == "text/x-opml"
    assert b"https://one.example/feed" in exported.data

    for added in r.json["added"]:
        client.delete(f"/api/sources/{added['id']}", headers=auth)
    again = client.post(
        "/api/sources/import", data=exported.data, headers=auth, content_type="application/xml"
    )
    assert [s["section"]["slug"] for s in again.json["added"]] == ["world", "world", "sport"]
    assert again.json["created_sections"] == []  # they exist now
    dup = client.post(
        "/api/sources/import?section=world",
        data=exported.data,
        headers=auth,
        content_type="text/xml",
    )
    assert dup.json["added"] == [] and len(dup.json["skipped"]) == 3


def test_an_export_finds_its_sections_again_whatever_their_names(client, db, auth, upstream):
    # A comma or slash splits an OPML category, so "News, Views" is exported
    # as "News Views"; the import made a second section (news-views-2) of it.
    with db.session() as s:
        make_section(s, slug="news-views", name="News, Views")
        make_section(s, slug="left-right", name="Left/Right")
    opml = b"""<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="A" type="rss" xmlUrl="https://one.example/feed" category="News  Views"/>
<outline text="B" type="rss" xmlUrl="https://two.example/rss" category="left right"/>
</body></opml>"""
    r = client.post("/api/sources/import", data=opml, headers=auth, content_type="text/x-opml")
    assert [s["section"]["slug"] for s in r.json["added"]] == ["news-views", "left-right"]
    assert r.json["created_sections"] == []
    exported = client.get("/api/sources/export", headers=auth).data
    assert b'category="News Views"' in exported and b'category="Left Right"' in exported
    for added in r.json["added"]:
        client.delete(f"/api/sources/{added['id']}", headers=auth)
    again = client.post(
        "/api/sources/import", data=exported, headers=auth, content_type="application/xml"
    )
    assert [s["section"]["slug"] for s in again.json["added"]] == ["news-views", "left-right"]
    assert again.json["created_sections"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"<opml><body><outline", 400),
        (b"<html><body/></html>", 422),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<opml><body><outline xmlUrl="https://a.example/&x;"/></body></opml>',
            422,
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<opml><body><outline text="&b;" xmlUrl="https://a.example/"/></body></opml>',
            422,
        ),
    ],
)
def test_bad_opml_stores_nothing(client, db, auth, body, status):
    r = client.post("/api/sources/import", data=body, headers=auth, content_type="text/x-opml")
    assert r.status_code == status, r.json
    assert counts(db)[0] == 0


def test_opml_import_needs_an_opml_type(client, auth):
    r = client.post("/api/sources/import", data=OPML, headers=auth, content_type="application/json")
    assert r.status_code == 415


def test_openapi_describes_every_source_path(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path, methods in {
        "/api/sources": {"get", "post"},
        "/api/sources/{id}": {"get", "patch", "delete"},
        "/api/sources/{id}/refresh": {"post"},
        "/api/sources/import": {"post"},
        "/api/sources/export": {"get"},
    }.items():
        assert methods <= set(paths[path]), path


def test_missing_title_feed_is_named_after_its_host(client, upstream, auth):
    upstream.expect_request("/f.xml").respond_with_data(
        rss([Item(guid="1")], title=""), content_type=RSS
    )
    r = client.post(
        "/api/sources", json={"url": upstream.url_for("/f.xml"), "name": "  "}, headers=auth
    )
    assert r.status_code == 201 and r.json["name"] in ("localhost", "127.0.0.1")


def test_an_import_that_meets_a_concurrent_one_runs_again(client, db, auth, world, monkeypatch):
    """A lost race at the unique indexes is run again whole (it then skips what the winner added)."""
    from sqlalchemy.exc import IntegrityError

    from feedserver.aggregation import sources as service

    real, calls = service._import_outlines, []

    def racing(*args, **kw):
        calls.append(1)
        if len(calls) == 1:  # the first try loses to "another worker"
            raise IntegrityError(
                "INSERT INTO sources ...", {}, Exception("UNIQUE constraint failed")
            )
        return real(*args, **kw)

    monkeypatch.setattr(service, "_import_outlines", racing)
    r = client.post("/api/sources/import", data=OPML, headers=auth, content_type="text/x-opml")
    assert r.status_code == 200, r.json
    assert len(calls) == 2 and len(r.json["added"]) == 3
    assert counts(db)[0] == 3


def test_an_import_that_keeps_losing_is_a_409_and_stores_nothing(client, db, auth, monkeypatch):
    from sqlalchemy.orm.exc import StaleDataError

    from feedserver.aggregation import sources as service

    def losing(*_args, **_kw):
        raise StaleDataError("rows changed meanwhile")

    monkeypatch.setattr(service, "_import_outlines", losing)
    r = client.post("/api/sources/import", data=OPML, headers=auth, content_type="text/x-opml")
    assert r.status_code == 409 and r.json["error"]["code"] == "import_conflict"
    assert "try again" in r.json["error"]["message"].lower()
    assert counts(db)[0] == 0


def test_a_skipped_outline_creates_no_section(client, db, auth, world):
    first = b"""<opml version="2.0"><body>
<outline text="A" xmlUrl="https://one.example/feed" category="Weather"/></body></opml>"""
    again = first.replace(b"Weather", b"Gardening")
    r = client.post("/api/sources/import", data=first, headers=auth, content_type="text/x-opml")
    assert r.status_code == 200 and [s["name"] for s in r.json["created_sections"]] == ["Weather"]
    r = client.post("/api/sources/import", data=again, headers=auth, content_type="text/x-opml")
    assert r.status_code == 200, r.json
    assert [x["url"] for x in r.json["skipped"]] == ["https://one.example/feed"]
    assert r.json["created_sections"] == []  # the outline was skipped: no section for it
    with db.session() as s:
        assert s.scalar(select(func.count(Section.id)).where(Section.name == "Gardening")) == 0


def test_a_shorter_poll_interval_brings_the_next_fetch_forward(client, db, upstream, auth):
    # The next fetch stayed on the old schedule (found by an audit).
    from datetime import datetime, timedelta

    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(1)), content_type=RSS)
    source = client.post("/api/sources", json={"url": upstream.url_for("/feed.xml")}, headers=auth)
    sid = source.json["id"]
    fetched = datetime.fromisoformat(source.json["last_fetch_at"])

    def next_fetch(**change):
        r = client.patch(f"/api/sources/{sid}", json=change, headers=auth)
        assert r.status_code == 200, r.json
        return datetime.fromisoformat(r.json["next_fetch_at"])

    far = next_fetch(poll_interval=7 * 86400)  # longer: the next fetch stays where it was
    assert far - fetched < timedelta(days=1)
    soon = next_fetch(poll_interval=300)
    assert soon < far and soon - fetched == timedelta(seconds=300)
    assert next_fetch(poll_interval=60) - fetched == timedelta(seconds=60)


def test_a_shorter_interval_never_fetches_before_the_upstreams_freshness_runs_out(
    client, db, upstream, auth
):
    from datetime import datetime, timedelta

    upstream.expect_request("/fresh.xml").respond_with_data(
        rss(numbered(1)), content_type=RSS, headers={"Cache-Control": "max-age=7200"}
    )
    source = client.post("/api/sources", json={"url": upstream.url_for("/fresh.xml")}, headers=auth)
    sid = source.json["id"]
    due = datetime.fromisoformat(source.json["next_fetch_at"])
    fetched = datetime.fromisoformat(source.json["last_fetch_at"])
    assert due - fetched >= timedelta(seconds=7200)
    moved = client.patch(f"/api/sources/{sid}", json={"poll_interval": 120}, headers=auth)
    assert (
        datetime.fromisoformat(moved.json["next_fetch_at"]) == due
    )  # the upstream's lifetime holds


def test_back_to_the_default_interval_brings_the_next_fetch_forward(client, db, upstream, auth):
    from datetime import datetime, timedelta

    upstream.expect_request("/feed.xml").respond_with_data(rss(numbered(1)), content_type=RSS)
    sid = client.post(
        "/api/sources", json={"url": upstream.url_for("/feed.xml")}, headers=auth
    ).json["id"]
    assert client.patch(f"/api/sources/{sid}", json={"poll_interval": 86400}, headers=auth).json
    client.post(f"/api/sources/{sid}/refresh", headers=auth)  # scheduled a day on
    refreshed = client.get(f"/api/sources/{sid}", headers=auth).json
    fetched = datetime.fromisoformat(refreshed["last_fetch_at"])
    assert datetime.fromisoformat(refreshed["next_fetch_at"]) - fetched > timedelta(hours=20)
    default = client.patch(f"/api/sources/{sid}", json={"poll_interval": None}, headers=auth).json
    assert datetime.fromisoformat(default["next_fetch_at"]) - fetched == timedelta(seconds=900)
