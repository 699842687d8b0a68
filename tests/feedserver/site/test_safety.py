"""The public pages under stress: error pages, hostile text, private data, CSP, a11y."""

from __future__ import annotations

import lxml.html
import pytest
from sqlalchemy import select

from feedserver.models import Article
from tests.factories import make_article, make_author, make_comment, make_section, make_source
from tests.feedserver.site_support import (
    feed_links,
    get_page,
    one,
    text,
)


@pytest.mark.parametrize(
    "path", ["/articles/nope", "/sections/nope", "/authors/nope", "/sources/nope"]
)
def test_unknown_slug_is_a_404_page_in_the_site_look(client, news, path):
    doc = get_page(client, path, status=404)
    assert text(one(doc, "//h1")) == "We can’t find that page"
    assert "'nope'" in text(one(doc, '//*[@class="error-message"]'))
    assert text(one(doc, '//*[@class="site-title"]')) == "The Test Gazette"
    assert one(doc, '//nav[@aria-label="Sections"]').xpath('.//a[@href="/sections/world"]')
    assert one(doc, '//meta[@name="robots"]').get("content") == "noindex"
    assert feed_links(doc)["http://localhost/feed.atom"] == "application/atom+xml"


@pytest.mark.parametrize(
    "path",
    [
        "/articles/a%00b",
        "/sections/a%00b",
        "/sections/a%00b/feed.rss",
        "/authors/%00/feed.atom",
        "/sources/%00/feed.json",
        "/articles/%00/comments.rss",
        "/api/articles/%00",
    ],
)
def test_a_nul_in_an_address_is_a_404_on_every_backend(client, news, path):
    """PostgreSQL cannot compare text with a NUL: it was a 500 there, a 404 on SQLite."""
    response = client.get(path)
    assert response.status_code == 404
    assert "NUL" in response.get_data(as_text=True)
    assert "\x00" not in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["q=%00", "page=1&x=a%00", "%00=1"])
def test_a_nul_in_a_query_is_a_400(client, news, query):
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    assert client.get("/?q=plain").status_code == 200


def test_unknown_url_is_a_404_page(client, news):
    doc = get_page(client, "/no/such/page", status=404)
    assert "/no/such/page" in text(one(doc, '//*[@class="error-message"]'))
    assert doc.xpath('//a[@href="/"]')


HOSTILE = '<script>alert(1)</script> & "quotes"'


@pytest.fixture
def hostile(db):
    with db.session() as s:
        section = make_section(s, slug="bad", name="<i>Section</i>", description="<b>desc</b>")
        author = make_author(
            s,
            slug="mallory",
            name="<img src=x onerror=alert(2)>",
            bio="<script>alert(3)</script>",
            url="javascript:alert(4)",
        )
        source = make_source(
            s, slug="evil", name="<svg onload=alert(5)>", home_url="javascript:alert(6)"
        )
        make_article(
            s,
            slug="x",
            title=HOSTILE,
            summary="<script>alert(7)</script>",
            section=section,
            authors=[author],
            source=source,
            original_url="javascript:alert(8)",
        )


@pytest.mark.parametrize(
    "path", ["/", "/articles/x", "/sections/bad", "/authors/mallory", "/sources/evil"]
)
def test_hostile_names_and_titles_are_escaped(client, hostile, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert "javascript:" not in html
    doc = lxml.html.fromstring(response.data)
    assert not doc.xpath("//script | //img | //svg | //*[@onerror] | //*[@onload]")
    assert not doc.xpath('//a[starts-with(@href, "javascript")]')


def test_hostile_title_reads_back_as_text(client, hostile):
    response = client.get("/articles/x")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in response.get_data(
        as_text=True
    )
    doc = lxml.html.fromstring(response.data)
    assert text(one(doc, "//h1")) == HOSTILE
    assert one(doc, '//meta[@property="og:title"]').get("content").startswith(HOSTILE)
    # No link to the original (its URL is not http(s)): the source is credited
    # by its name, escaped, linking its page here.
    credit = one(doc, '//*[@class="original-source"]')
    assert text(credit) == "Original Source: <svg onload=alert(5)>"
    assert [a.get("href") for a in credit.xpath(".//a")] == ["/sources/evil"]


def test_commenter_email_never_appears_on_the_article_page(client, db, news):
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.slug == "one"))
        make_comment(
            s,
            article,
            author_name="Carol Reader",
            author_email="carol@private.example",
            body="Lovely harbour.",
            status="approved",
        )
        make_comment(s, article, author_email="dave@private.example", status="pending")
    html = client.get("/articles/one").get_data(as_text=True)
    assert "Harbour reopens" in html
    assert "carol@private.example" not in html and "dave@private.example" not in html
    assert "private.example" not in html
    for path in ("/", "/sections/world", "/authors/ada"):
        assert "private.example" not in client.get(path).get_data(as_text=True)


def test_listing_shows_comment_counts(client, db, news):
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.slug == "two"))
        make_comment(s, article)
        make_comment(s, article)
        make_comment(s, article, status="pending")
    doc = get_page(client, "/")
    count = one(doc, '//article[.//a[@href="/articles/two"]]//a[@class="comment-count"]')
    assert (text(count), count.get("href")) == ("2 comments", "/articles/two#comments")
    assert not doc.xpath('//article[.//a[@href="/articles/one"]]//*[@class="comment-count"]')


@pytest.mark.parametrize("path", ["/", "/articles/two", "/sections/world", "/nowhere"])
def test_pages_are_accessible_and_fit_the_csp(client, news, path):
    response = client.get(path)
    doc = lxml.html.fromstring(response.data)
    assert doc.get("lang") == "en"
    skip = doc.xpath('//body/a[@class="skip-link"]')[0]
    assert skip.get("href") == "#main" and one(doc, '//main[@id="main"]') is not None
    assert doc.xpath("//header") and doc.xpath("//footer") and doc.xpath("//main//h1")
    # The Content-Security-Policy forbids inline styles and scripts.
    assert not doc.xpath("//style | //*[@style] | //script[not(@src)]")
    assert doc.xpath('//head/link[@rel="stylesheet"]')[0].get("href") == "/static/site.css"


def test_stylesheet_and_icon_are_served(client):
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert b"prefers-color-scheme" in css.data and b"http" not in css.data  # nothing remote
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")
