"""An article's comment feeds, moderation's effect on every feed, and e-mail privacy."""

from __future__ import annotations

import gzip
import re

import feedparser
import pytest

from tests.factories import make_article, make_author, make_comment, make_section, make_source
from tests.feedserver.comments_support import comments, post_comment, set_status

FEED_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}


@pytest.fixture
def story(db):
    """An article with two approved comments (one a reply) and one pending."""
    with db.session() as s:
        article = make_article(s, slug="story", title="A story")
        first = make_comment(
            s,
            article,
            author_name="First Reader",
            author_email="first@example.net",
            body="Early\n\nthoughts",
        )
        make_comment(
            s,
            article,
            author_name="Second Reader",
            author_email="second@example.net",
            author_url="https://second.example/",
            body="A reply",
            parent=first,
        )
        make_comment(
            s,
            article,
            author_name="Held Reader",
            author_email="held@example.net",
            body="Not yet",
            status="pending",
        )
        return {"id": article.id, "uid": article.uid}


@pytest.mark.parametrize("fmt", FEED_TYPES)
def test_comment_feed_lists_approved_comments_newest_first(client, story, fmt):
    response = client.get(f"/articles/story/comments.{fmt}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == FEED_TYPES[fmt]
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Comments on “A story” — The Test Gazette"
    assert [e.title for e in parsed.entries] == [
        "Reply by Second Reader to First Reader",
        "Comment by First Reader",
    ]
    reply, first = parsed.entries
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", first.id)
    assert first.id != reply.id
    assert re.fullmatch(r"http://localhost/articles/story#comment-\d+", first.link)
    assert first.author == "First Reader"
    html = first.content[0].value  # RSS: content:encoded (its description is plain text)
    assert html.strip() == "<p>Early</p>\n<p>thoughts</p>"
    assert first.published_parsed
    assert fmt == "rss" or first.updated_parsed
    body = response.get_data(as_text=True)
    assert "Not yet" not in body and "Held Reader" not in body
    assert "@example.net" not in body
    assert "https://second.example/" not in body  # the name only
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == f"http://localhost/articles/story/comments.{fmt}"
    assert links["first"] == links["last"] == links["self"]


def test_ids_are_permanent(client, db, story):
    before = feedparser.parse(client.get("/articles/story/comments.atom").data)
    with db.session() as s:
        from feedserver.models import Article

        article = s.get(Article, story["id"])
        article.slug = "story-renamed"
        article.title = "A renamed story"
    after = feedparser.parse(client.get("/articles/story-renamed/comments.atom").data)
    assert after.feed.id == before.feed.id
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    assert after.feed.title.startswith("Comments on “A renamed story”")
    assert all("/articles/story-renamed#comment-" in e.link for e in after.entries)
    old = client.get("/articles/story/comments.atom")
    assert old.status_code == 404 and b"story" in old.data


def test_editing_the_article_title_refreshes_its_comment_feed(client, db, story):
    path = "/articles/story/comments.atom"
    first = client.get(path)
    assert client.get(path).data == first.data  # kept, whichever layer keeps it
    with db.session() as s:
        from feedserver.models import Article

        s.get(Article, story["id"]).title = "A retitled story"
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert again.headers["ETag"] != first.headers["ETag"]
    assert "Comments on “A retitled story”" in again.get_data(as_text=True)


@pytest.mark.parametrize("fmt", FEED_TYPES)
def test_a_title_that_looks_like_markup_stays_out_of_the_description(client, db, story, fmt):
    # The validator allows "contains HTML" in a title, not in a description
    # or subtitle, which repeated the title (found by the audit).
    with db.session() as s:
        from feedserver.models import Article

        s.get(Article, story["id"]).title = "Why x<y & </b> matter"
    parsed = feedparser.parse(client.get(f"/articles/story/comments.{fmt}").data)
    assert parsed.feed.title.startswith("Comments on “Why x<y & </b> matter”")
    assert parsed.feed.subtitle == "Readers' comments on this article, newest first."


@pytest.mark.parametrize(
    "path",
    [
        "/articles/story/comments.json",
        "/articles/nope/comments.rss",
        "/articles/nope/comments.atom",
    ],
)
def test_no_json_and_unknown_article_is_404(client, story, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "<rss" not in response.get_data(as_text=True)


def test_conditional_get_and_compression(client, story):
    first = client.get("/articles/story/comments.atom")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Last-Modified"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    again = client.get("/articles/story/comments.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = client.get(
        "/articles/story/comments.rss",
        headers={"If-Modified-Since": first.headers["Last-Modified"]},
    )
    assert since.status_code == 304
    gz = client.get("/articles/story/comments.atom", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == first.data
    assert client.head("/articles/story/comments.atom").headers["ETag"] == etag


@pytest.fixture
def app_config(app_config):
    app_config["FEED_ITEMS"] = 2
    return app_config


def test_paging(client, db, story):
    with db.session() as s:
        from feedserver.models import Article

        article = s.get(Article, story["id"])
        for n in range(3):
            make_comment(s, article, body=f"More {n}")
    # Five approved comments, two a page.
    last = feedparser.parse(client.get("/articles/story/comments.atom?page=3").data)
    assert len(last.entries) == 1 and last.entries[0].title == "Comment by First Reader"
    links = {link.rel: link.href for link in last.feed.links}
    assert links["previous"].endswith("/articles/story/comments.atom?page=2")
    assert links["first"].endswith("/articles/story/comments.atom")
    assert "next" not in links
    middle = feedparser.parse(client.get("/articles/story/comments.rss?page=2").data)
    assert not middle.bozo and len(middle.entries) == 2
    links = {link.rel: link.href for link in middle.feed.links}
    assert links["next"].endswith("comments.rss?page=3")
    assert links["last"].endswith("comments.rss?page=3")
    assert client.get("/articles/story/comments.atom?page=4").status_code == 404
    assert client.get("/articles/story/comments.atom?page=x").status_code == 400


def _etags(client, paths):
    return {p: client.get(p).headers["ETag"] for p in paths}


def test_moderation_changes_page_feeds_and_etags(client, db, story, auth):
    held = comments(db)[2]
    paths = [
        "/articles/story/comments.atom",
        "/articles/story/comments.rss",
        "/feed.atom",
        "/feed.rss",
    ]
    before = _etags(client, paths)
    assert "Not yet" not in client.get("/articles/story").get_data(as_text=True)

    response = client.patch(f"/api/comments/{held.id}", json={"status": "approved"}, headers=auth)
    assert response.status_code == 200
    approved = _etags(client, paths)
    assert all(approved[p] != before[p] for p in paths)
    assert "Not yet" in client.get("/articles/story").get_data(as_text=True)
    feed = feedparser.parse(client.get("/articles/story/comments.atom").data)
    assert feed.entries[0].title == "Comment by Held Reader"
    site = client.get("/feed.rss").get_data(as_text=True)
    assert "<slash:comments>3</slash:comments>" in site

    client.patch(f"/api/comments/{held.id}", json={"status": "rejected"}, headers=auth)
    rejected = _etags(client, paths)
    assert all(rejected[p] != approved[p] for p in paths)
    assert "Not yet" not in client.get("/articles/story").get_data(as_text=True)
    assert "Held Reader" not in client.get("/articles/story/comments.atom").get_data(as_text=True)
    assert "<slash:comments>2</slash:comments>" in client.get("/feed.rss").get_data(as_text=True)


@pytest.mark.parametrize("status", ["rejected", "spam"])
def test_a_held_comment_turned_down_changes_no_feed(client, db, story, auth, status):
    held = comments(db)[2]
    paths = ["/articles/story/comments.atom", "/articles/story/comments.rss", "/feed.atom"]
    before = _etags(client, paths)
    response = client.patch(f"/api/comments/{held.id}", json={"status": status}, headers=auth)
    assert response.status_code == 200 and response.get_json()["status"] == status
    assert _etags(client, paths) == before


def test_a_reply_to_a_withdrawn_comment_no_longer_names_it(client, db, story, auth):
    first = comments(db)[0]
    response = client.patch(f"/api/comments/{first.id}", json={"status": "spam"}, headers=auth)
    assert response.status_code == 200
    for fmt in FEED_TYPES:
        feed = feedparser.parse(client.get(f"/articles/story/comments.{fmt}").data)
        # The page shows the reply on its own: so does the feed.
        assert [e.title for e in feed.entries] == ["Comment by Second Reader"]
        assert "First Reader" not in client.get(f"/articles/story/comments.{fmt}").get_data(
            as_text=True
        )


def test_a_new_pending_comment_changes_no_feed(client, db, story):
    paths = ["/articles/story/comments.atom", "/feed.atom"]
    before = _etags(client, paths)
    assert post_comment(client).status_code == 303
    assert _etags(client, paths) == before


# Markup-like but no tag: a name that is a tag is refused (test_form), since
# Atom <name> is plain text and the W3C validator warns of HTML in it.
HOSTILE_NAME = 'Eve "<script" & Co <3'
HOSTILE_BODY = '<b>bold</b> <script>alert(1)</script> http://evil.example/"><img src=x>'


@pytest.mark.parametrize("fmt", FEED_TYPES)
def test_markup_is_escaped_in_comment_feeds(client, db, story, fmt):
    assert post_comment(client, name=HOSTILE_NAME, comment=HOSTILE_BODY).status_code == 303
    set_status(db, comments(db)[-1].id, "approved")
    response = client.get(f"/articles/story/comments.{fmt}")
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo
    entry = parsed.entries[0]
    assert entry.author == HOSTILE_NAME  # text, not markup
    html = entry.content[0].value
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="http://evil.example/" rel="nofollow ugc noopener">' in html


# --- privacy: no commenter's e-mail anywhere the public can look -----------------

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.fixture
def site(db):
    """A small site whose every comment has a recognisable e-mail address."""
    with db.session() as s:
        world = make_section(s, slug="world", name="World")
        ada = make_author(s, slug="ada", name="Ada Lovelace")
        wire = make_source(s, slug="wire", name="Wire")
        one = make_article(
            s,
            slug="one",
            section=world,
            authors=[ada],
            source=wire,
            original_url="https://wire.example.org/1",
        )
        two = make_article(s, slug="two", section=world, authors=[ada])
        for article in (one, two):
            for status in ("approved", "pending", "spam", "rejected"):
                top = make_comment(
                    s,
                    article,
                    status=status,
                    author_url="https://r.example/",
                    author_email=f"secret-{status}-{article.slug}@private.example",
                )
                make_comment(
                    s,
                    article,
                    parent=top,
                    status="approved",
                    author_email=f"secret-reply-{status}@private.example",
                )


def test_no_commenter_email_is_published(client, site):
    paths = [
        "/",
        "/?page=1",
        "/articles/one",
        "/articles/two",
        "/sections/world",
        "/authors/ada",
        "/sources/wire",
        f"/articles/one?replytocom={1}",
    ]
    for kind, slug in [("", None), ("sections", "world"), ("authors", "ada"), ("sources", "wire")]:
        prefix = f"/{kind}/{slug}" if slug else ""
        paths += [f"{prefix}/feed.{fmt}" for fmt in ("rss", "atom", "json")]
    for slug in ("one", "two"):
        paths += [f"/articles/{slug}/comments.{fmt}" for fmt in ("rss", "atom")]
    paths += ["/feed/", "/feed/atom/"]
    seen = 0
    for path in paths:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert "private.example" not in body, path
        assert EMAIL.search(body) is None, (path, EMAIL.search(body))
        seen += 1
    # A failed submission shows the reader's own input back to them, and only that.
    response = post_comment(client, slug="one", email="mine@reader.example", comment="")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "mine@reader.example" in body and "private.example" not in body
    assert seen == len(paths)


def test_ip_address_is_never_stored(client, db, story):
    post_comment(client, ip="192.0.2.55", comment="From a known address")
    [row] = [c for c in comments(db) if c.body == "From a known address"]
    assert "192.0.2.55" not in (row.ip_hash or "")
    from feedserver.comments.text import ip_hash

    assert row.ip_hash == ip_hash("192.0.2.55", "test-secret-key")
