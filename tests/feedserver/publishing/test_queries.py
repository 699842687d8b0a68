"""The publishing queries (scopes, pages of articles, feeds), directly, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedserver.errors import NotFound
from feedserver.models import Article
from feedserver.publishing import queries as q

BASE = "https://news.example"


def test_a_sections_own_description_describes_its_feed(api, client, world):
    """The newsroom's words for a section, when written, are its feed's description too."""
    section = world.sections["world"]
    before = client.get("/sections/world/feed.atom")
    assert b"<subtitle>News from abroad.</subtitle>" in before.data  # the fixture's
    written = "Wars, treaties\nand summits,  from our correspondents."
    assert api.patch(f"/api/sections/{section}", json={"description": written}).status_code == 200
    one_line = "Wars, treaties and summits, from our correspondents."
    atom = client.get("/sections/world/feed.atom")
    assert atom.headers["ETag"] != before.headers["ETag"]  # the change reaches the feed at once
    assert f"<subtitle>{one_line}</subtitle>".encode() in atom.data
    assert (
        f"<description>{one_line}</description>".encode()
        in client.get("/sections/world/feed.rss").data
    )
    assert client.get("/sections/world/feed.json").get_json()["description"] == one_line


def test_scopes_by_slug(db, world):
    with db.session() as s:
        section = q.find_scope(s, "section", "world", "The Gazette")
        assert (section.kind, section.key, section.id, section.name) == (
            "section", f"section:{world.sections['world']}", world.sections["world"], "World",
        )  # fmt: skip
        assert section.description == "News from abroad."  # its own (the fixture's)
        assert q.find_scope(s, "author", "bo", "G").key == f"author:{world.authors['bo']}"
        assert q.find_scope(s, "section", "science", "G").description == (
            "The latest Science articles from G."  # none written: made up
        )
        assert q.find_scope(s, "source", "wire", "G").description == (
            "Articles on G attributed to The Wire Service."
        )
        with pytest.raises(NotFound, match="No section called 'nope'"):
            q.find_scope(s, "section", "nope", "G")
    assert q.site_scope("T", "t").key == "site"


def test_scope_state_counts_without_counting(db, world):
    with db.session() as s:
        site = q.scope_state(s, "site")
        assert site.item_count == 3 and site.pages(2) == 2 and site.pages(20) == 1
        assert site.last_change >= site.changed_at
        bo = q.scope_state(s, f"author:{world.authors['bo']}")
        assert bo.item_count == 2
        empty = q.scope_state(s, "section:999999")
        assert (empty.version, empty.item_count, empty.pages(20)) == (0, 0, 1)


@pytest.mark.parametrize(
    ("kind", "slug", "expected"),
    [
        ("site", None, ["three", "two", "one"]),
        ("section", "world", ["two", "one"]),
        ("author", "ada", ["two", "one"]),
        ("author", "bo", ["three", "two"]),
        ("source", "wire", ["two"]),
    ],
)
def test_articles_page_newest_first(db, world, kind, slug, expected):
    with db.session() as s:
        scope = q.site_scope("T", "t") if slug is None else q.find_scope(s, kind, slug, "T")
        assert [a.slug for a in q.articles_page(s, scope, 1, 20)] == expected
        assert [a.slug for a in q.articles_page(s, scope, 2, 1)] == expected[1:2]
        assert q.articles_page(s, scope, 9, 20) == []


def test_article_by_slug_and_what_its_page_shows(db, world):
    with db.session() as s:
        two = q.article_by_slug(s, "two")
        assert [a.slug for a in two.authors] == ["ada", "bo"]
        assert q.byline([a.name for a in two.authors]) == "Ada Lovelace and Bo Chen"
        assert q.source_host(two) == "wire.example.org"
        assert q.source_host(q.article_by_slug(s, "one")) is None
        with pytest.raises(NotFound):
            q.article_by_slug(s, "missing")
    assert q.byline(["A"]) == "A" and q.byline(["A", "B", "C"]) == "A, B and C"


def test_build_feed_describes_one_page(db, world):
    with db.session() as s:
        scope = q.find_scope(s, "section", "world", "The Gazette")
        state = q.scope_state(s, scope.key)
        articles = q.articles_page(s, scope, 1, 1)
        feed = q.build_feed(
            scope, state, articles, fmt="rss", page=1, per_page=1, base=BASE,
            site_title="The Gazette",
        )  # fmt: skip
        uid = s.scalar(select(Article.uid).where(Article.slug == "two"))
    assert feed.title == "World — The Gazette"
    assert feed.id == f"{BASE}/sections/world/feed.atom"
    assert feed.self_url == f"{BASE}/sections/world/feed.rss"
    assert feed.link == f"{BASE}/sections/world" and feed.updated == state.last_change
    assert feed.paging.next == f"{BASE}/sections/world/feed.rss?page=2"
    assert feed.paging.last == f"{BASE}/sections/world/feed.rss?page=2"
    assert feed.paging.previous is None
    (entry,) = feed.entries
    assert entry.id == f"urn:uuid:{uid}" and entry.link == f"{BASE}/articles/two"
    assert [a.name for a in entry.authors] == ["Ada Lovelace", "Bo Chen"]
    assert entry.original_url == "https://wire.example.org/story/2"
    assert entry.source is not None and entry.source.feed_url == "https://wire.example.org/feed.xml"
    assert entry.comments_feed_url == f"{BASE}/articles/two/comments.rss"
    assert [m for m, _ in feed.alternates] == ["application/atom+xml", "application/feed+json"]


def test_an_upstreams_own_title_and_id_are_made_fit_for_our_feeds(db, client):
    # What the upstream wrote as its feed's title and id goes into our Atom
    # <source> and RSS <source>: markup in the title is taken out, and an id
    # that is no identifier ("urn:uuid:" without a UUID) gives way to its URL.
    from lxml import etree

    from tests.factories import make_article, make_source

    with db.session() as s:
        source = make_source(
            s,
            name="Wire",
            feed_url="https://wire.example/feed.atom",
            upstream_id="urn:uuid:atom-feed-1",
            upstream_title="Wire <script>alert(1)</script> news",
        )
        make_article(s, source=source, upstream_key="w-1")
        good = make_source(
            s,
            name="Desk",
            feed_url="https://desk.example/feed.atom",
            upstream_id="tag:desk.example,2026:feed",
        )
        make_article(s, source=good, upstream_key="d-1")
    atom = etree.fromstring(client.get("/feed.atom").data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    boxes = {
        box.findtext("a:id", namespaces=ns): box.findtext("a:title", namespaces=ns)
        for box in atom.iterfind("a:entry/a:source", ns)
    }
    assert boxes == {
        "https://wire.example/feed.atom": "Wire alert(1) news",
        "tag:desk.example,2026:feed": "Desk",
    }
    rss = etree.fromstring(client.get("/feed.rss").data)
    assert sorted(el.text for el in rss.iterfind("channel/item/source")) == [
        "Desk",
        "Wire alert(1) news",
    ]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("https://up.example/feed", True),
        ("urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6", True),
        ("urn:isbn:0451450523", True),
        ("tag:up.example,2026-03:feed", True),
        ("urn:uuid:atom-feed-1", False),
        ("urn:xss-atom", False),
        ("urn:x:y", False),  # a namespace id of one character
        ("tag:up.example:feed", False),  # no date
        ("https://up.example/a b", False),
        # ids are compared character by character: only the canonical spelling
        ("http://example.com", False),  # no path: canonically "http://example.com/"
        ("http://example.com/", True),
        ("HTTP://EXAMPLE.COM/feed", False),
        ("http://Example.com/feed", False),
        ("http://example.com:80/feed", False),
        ("http://example.com:8080/feed", True),
        ("http://example.com/%7Efoo", False),  # "~" needs no escape
        ("http://example.com/%c3%a9", False),  # escapes in upper case
        ("http://example.com/%C3%A9", True),
        ("http://example.com/a/../b", False),
        ("http://example.com/%zz", False),
        ("http://user@example.com/feed", False),
        ("http:///nohost", False),
        ("javascript:alert(1)", False),
        ("feed-1", False),
        ("", False),
        (None, False),
    ],
)
def test_feed_identifiers(value, kept):
    from feeds.render.values import feed_identifier

    assert feed_identifier(value) == (value if kept else None)
