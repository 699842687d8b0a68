"""Sources in the admin: health table, add by URL, refresh now, edit, delete, OPML in and out."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from feedserver.models import Article, Source
from tests.factories import make_article, make_section, make_source
from tests.feedserver.admin_support import (
    opml_document,
    rss_feed,
)

RSS = "application/rss+xml"


@pytest.fixture(autouse=True)
def upstream(httpserver, app_config):
    # autouse, so it runs before ``app`` is built from app_config.
    app_config["UPSTREAM_ALLOWLIST"] = f"127.0.0.1:{httpserver.port}"
    app_config["FETCH_TIMEOUT"] = 3
    return httpserver


def _url(httpserver, path: str) -> str:
    return f"http://127.0.0.1:{httpserver.port}{path}"


def _add(admin, url: str, section: str = ""):
    return admin.post("/admin/sources/add", data={"url": url, "section": section})


def test_add_a_feed_see_health_and_entries(admin, db, upstream):
    upstream.expect_request("/feed.xml").respond_with_data(
        rss_feed("Upstream Daily", [("a1", "First story"), ("a2", "Second story")]),
        content_type=RSS,
    )
    with db.session() as s:
        world = make_section(s, name="World").id
    response = _add(admin, _url(upstream, "/feed.xml"), str(world))
    assert response.status_code == 302, response.text
    detail = admin.get(response.headers["Location"]).text
    assert "The source “Upstream Daily” was added with 2 entries." in detail
    assert "status-ok" in detail
    listing = admin.get("/admin/sources/").text
    assert "Upstream Daily" in listing
    assert "200" in listing
    with db.session() as s:
        source = s.scalar(select(Source))
        assert source.section_id == world
        slug = source.slug
    feed = admin.get(f"/sources/{slug}/feed.atom").text
    assert "First story" in feed and "Second story" in feed


def test_add_by_html_page(admin, db, upstream):
    upstream.expect_request("/page.html").respond_with_data(
        '<html><head><link rel="alternate" type="application/rss+xml" href="/found.xml">'
        "</head><body>Hi</body></html>",
        content_type="text/html",
    )
    upstream.expect_request("/found.xml").respond_with_data(
        rss_feed("Found Feed", [("b1", "Found story")]), content_type=RSS
    )
    response = _add(admin, _url(upstream, "/page.html"))
    assert response.status_code == 302, response.text
    with db.session() as s:
        assert s.scalar(select(Source.feed_url)) == _url(upstream, "/found.xml")


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", "no spaces or control characters"),
        ("ftp://example.org/feed", "Give a full http:// or https:// address"),
        ("https://", "Give a full http:// or https:// address"),
        ("http://127.0.0.1:46501/<script>alert(1)</script>", "%3C for &lt;"),
        ("https://me:secret@example.org/feed", "Leave the user name and password out"),
        ("http://10.0.0.1/feed.xml", ""),
    ],
)
def test_add_refused_with_the_input_shown(admin, db, url, message):
    response = _add(admin, url)
    assert response.status_code == 422
    assert message in response.text
    if message:  # one message, the one that says what is wrong
        assert response.text.count('class="error-text"') == 1, response.text
    assert "form-errors" in response.text
    with db.session() as s:
        assert s.scalar(select(func.count(Source.id))) == 0


def test_add_not_a_feed(admin, db, upstream):
    upstream.expect_request("/nothing.html").respond_with_data(
        "<html><body>No feed here</body></html>", content_type="text/html"
    )
    response = _add(admin, _url(upstream, "/nothing.html"))
    assert response.status_code == 422
    assert _url(upstream, "/nothing.html") in response.text


def test_refresh_now_shows_what_came_back(admin, db, upstream):
    feed = rss_feed("Refreshing", [("c1", "Old story")])
    upstream.expect_request("/r.xml").respond_with_data(feed, content_type=RSS)
    location = _add(admin, _url(upstream, "/r.xml")).headers["Location"]
    ident = int(location.rstrip("/").split("/")[-1])
    upstream.clear()
    upstream.expect_request("/r.xml").respond_with_data(
        rss_feed("Refreshing", [("c1", "Old story"), ("c2", "New story")]), content_type=RSS
    )
    page = admin.post(f"/admin/sources/{ident}/refresh")
    assert page.status_code == 200
    assert "What came back" in page.text
    assert "1 new, 0 changed" in page.text
    upstream.clear()
    upstream.expect_request("/r.xml").respond_with_data("gone", status=500)
    failed = admin.post(f"/admin/sources/{ident}/refresh")
    assert "failed" in failed.text
    assert "status-failing" in failed.text
    dashboard = admin.get("/admin/").text
    assert "Refreshing" in dashboard  # among the latest errors
    assert "No source reports an error." not in dashboard


def test_edit_a_source(admin, db):
    with db.session() as s:
        section = make_section(s, name="Tech").id
        ident = make_source(s, name="Old name", feed_url="https://feeds.example/x.xml").id
    form = admin.get(f"/admin/sources/{ident}/edit")
    assert 'value="Old name"' in form.text
    response = admin.post(
        f"/admin/sources/{ident}/edit",
        data={"name": "New name", "section": str(section), "poll_interval": "600"},
    )
    assert response.status_code == 302
    with db.session() as s:
        source = s.get(Source, ident)
        assert (source.name, source.section_id, source.poll_interval, source.enabled) == (
            "New name",
            section,
            600,
            False,  # the box was not ticked
        )
    bad = admin.post(f"/admin/sources/{ident}/edit", data={"name": "", "poll_interval": "5"})
    assert bad.status_code == 422
    assert "This field is required." in bad.text
    assert "between 60" in bad.text or "at least 60" in bad.text


def test_names_taken_from_feeds_and_outlines_are_plain_text(admin, db, upstream):
    # A feed's title and an OPML outline's text are the upstream's writing:
    # markup in them (escaped once or twice) is taken out, not refused, so the
    # source can be edited later without renaming it first.
    upstream.expect_request("/t.xml").respond_with_data(
        rss_feed(
            "Upstream &lt;script&gt;alert(1)&lt;/script&gt; One &amp;amp;lt;b&amp;amp;gt;", []
        ),
        content_type=RSS,
    )
    assert _add(admin, _url(upstream, "/t.xml")).status_code == 302
    body = opml_document("https://new.example/feed.xml").replace(
        b'text="Feed 0"', b'text="Fourth &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; &amp;amp; more"'
    )
    imported = admin.post(
        "/admin/sources/import",
        data={"file": (io.BytesIO(body), "subs.opml"), "section": ""},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 200, imported.text
    with db.session() as s:
        names = sorted(s.scalars(select(Source.name)))
    assert names == ["Fourth bold & more", "Upstream alert(1) One"]


def test_an_unchanged_name_is_not_checked_again(admin, db):
    # A name stored before today's rules (markup in it) must not block an
    # edit of the interval; a new name is checked as ever.
    with db.session() as s:
        ident = make_source(s, name="Old <b>bold</b> name", feed_url="https://f.example/x.xml").id
    kept = admin.post(
        f"/admin/sources/{ident}/edit",
        data={"name": "Old <b>bold</b> name", "section": "", "poll_interval": "1200"},
    )
    assert kept.status_code == 302, kept.text
    with db.session() as s:
        assert (s.get(Source, ident).poll_interval, s.get(Source, ident).name) == (
            1200,
            "Old <b>bold</b> name",
        )
    renamed = admin.post(
        f"/admin/sources/{ident}/edit",
        data={"name": "New <i>name</i>", "section": "", "poll_interval": "600"},
    )
    assert renamed.status_code == 422
    assert "must be plain text, not HTML" in renamed.text
    with db.session() as s:
        assert s.get(Source, ident).poll_interval == 1200


def test_delete_asks_about_the_articles(admin, db):
    with db.session() as s:
        source = make_source(s, name="Wire", feed_url="https://feeds.example/w.xml")
        make_article(s, source=source, upstream_key="wire-1")  # aggregated from it
        ident = source.id
    page = admin.get(f"/admin/sources/{ident}/delete").text
    assert "has <strong>1</strong> article" in page
    assert admin.post(f"/admin/sources/{ident}/delete", data={}).status_code == 422
    kept = admin.post(f"/admin/sources/{ident}/delete", data={"articles": "disable"})
    assert kept.status_code == 302
    with db.session() as s:
        assert s.get(Source, ident).enabled is False
        assert s.scalar(select(func.count(Article.id))) == 1
    gone = admin.post(
        f"/admin/sources/{ident}/delete", data={"articles": "delete"}, follow_redirects=True
    )
    assert "was deleted with its 1 articles" in gone.text
    with db.session() as s:
        assert s.get(Source, ident) is None
        assert s.scalar(select(func.count(Article.id))) == 0


def test_opml_import_summary_and_export(admin, db, upstream):
    with db.session() as s:
        make_source(s, name="Known", feed_url="https://known.example/feed.xml")
        make_section(s, name="World", slug="world")
    body = opml_document(
        "https://new.example/feed.xml",
        "https://known.example/feed.xml",
        "http://10.1.2.3/private.xml",
        category="world",
    )
    response = admin.post(
        "/admin/sources/import",
        data={"file": (io.BytesIO(body), "subs.opml"), "section": ""},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.text
    assert "<strong>1</strong> added, <strong>1</strong> skipped, <strong>1</strong> refused" in (
        response.text
    )
    assert "already a source" in response.text
    assert "10.1.2.3" in response.text
    exported = admin.get("/admin/sources/export.opml")
    assert exported.status_code == 200
    assert exported.mimetype == "text/x-opml"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert b"https://new.example/feed.xml" in exported.data
    assert b"https://known.example/feed.xml" in exported.data


def test_opml_import_refuses_junk(admin):
    response = admin.post(
        "/admin/sources/import",
        data={"file": (io.BytesIO(b"<html>not opml"), "x.opml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "could not be imported" in response.text
    missing = admin.post("/admin/sources/import", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422
    assert "Choose an OPML file." in missing.text


def test_health_filter(admin, db):
    with db.session() as s:
        make_source(
            s, name="Broken", feed_url="https://b.example/f", error_count=3, last_error="boom"
        )
        make_source(s, name="Quiet", feed_url="https://q.example/f", enabled=False)
    failing = admin.get("/admin/sources/?health=failing").text
    assert "Broken" in failing and "Quiet" not in failing
    assert "Quiet" in admin.get("/admin/sources/?health=disabled").text
    dashboard = admin.get("/admin/").text
    assert "boom" in dashboard
