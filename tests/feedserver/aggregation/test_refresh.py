"""Storing upstream entries: attribution, de-duplication, edits in place, sanitizing, dates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from feedserver.aggregation.poller import poll_once
from feedserver.models import Article, ArticleAuthor, Author, ScopeVersion, Source
from tests.factories import make_author, make_section, make_source
from tests.feedserver.aggregation_support import (
    Item,
    articles_of,
    numbered,
    rss,
    settings_for,
    source_row,
)


@pytest.fixture
def upstream(httpserver):
    return httpserver


def add_source(db, url, **kw):
    with db.session() as s:
        kw.setdefault("section", make_section(s, slug="world", name="World"))
        return make_source(s, feed_url=url, **kw).id


def poll(db, upstream):
    return poll_once(db, settings_for(upstream.port))


def versions(db) -> dict[str, int]:
    with db.session() as s:
        return {sv.key: sv.version for sv in s.scalars(select(ScopeVersion))}


def test_first_poll_stores_entries_with_attribution(db, upstream):
    items = numbered(3)
    items[0].author = "Jane Doe"
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml", headers={"ETag": '"v1"'}
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    stats = poll(db, upstream)
    assert (stats.sources, stats.added, stats.errors) == (1, 3, 0)
    arts = articles_of(db, sid)
    assert [a.title for a in arts] == ["Story 0", "Story 1", "Story 2"]
    assert {a.original_url for a in arts} == {
        f"https://upstream.example/story/{i}" for i in range(3)
    }
    assert all(a.section_id is not None and a.upstream_key and a.content_hash for a in arts)
    source = source_row(db, sid)
    assert source.last_status == 200 and source.error_count == 0 and source.last_error is None
    assert source.etag == '"v1"' and source.upstream_title == "Upstream Daily"
    assert source.home_url == "https://upstream.example/"
    assert source.next_fetch_at > datetime.now(UTC) + timedelta(minutes=10)
    with db.session() as s:
        jane = s.scalar(select(Author).where(Author.name == "Jane Doe"))
        assert jane.source_id == sid
        assert [b.author_id for b in s.get(type(arts[0]), arts[0].id).bylines] == [jane.id]


def test_unchanged_feed_rewrites_nothing_and_304_keeps_validators(db, upstream):
    upstream.expect_request("/feed.xml", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304, headers={"ETag": '"v1"'}
    )
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(numbered(2)), content_type="application/rss+xml", headers={"ETag": '"v1"'}
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    before = versions(db)
    with db.session() as s:
        s.get(type(source_row(db, sid)), sid).next_fetch_at = None
    stats = poll(db, upstream)
    assert stats.not_modified == 1 and stats.added == 0
    assert versions(db) == before
    source = source_row(db, sid)
    assert source.last_status == 304 and source.etag == '"v1"' and source.error_count == 0


def test_edited_entry_updates_its_article_in_place(db, upstream, client):
    items = numbered(2)
    upstream.expect_ordered_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    with db.session() as s:
        other = make_source(s, feed_url=None).id
    poll(db, upstream)
    before_articles = {a.upstream_key: a for a in articles_of(db, sid)}
    etag_before = client.get(f"/sources/{source_row(db, sid).slug}/feed.atom").headers["ETag"]
    before = versions(db)

    items[1].description = "<p>Corrected summary.</p>"
    items[1].title = "Story 1 (updated)"
    upstream.clear()
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    with db.session() as s:
        s.get(type(source_row(db, sid)), sid).next_fetch_at = None
    stats = poll(db, upstream)
    assert (stats.added, stats.updated) == (0, 1)
    after = {a.upstream_key: a for a in articles_of(db, sid)}
    edited, kept = after["story-1"], after["story-0"]
    assert (
        edited.uid == before_articles["story-1"].uid
        and edited.slug == before_articles["story-1"].slug
    )
    assert edited.title == "Story 1 (updated)" and "Corrected" in edited.body_html
    assert edited.updated_at > before_articles["story-1"].updated_at
    assert kept.updated_at == before_articles["story-0"].updated_at
    now = versions(db)
    assert now[f"source:{sid}"] > before[f"source:{sid}"]
    assert now.get(f"source:{other}") == before.get(f"source:{other}")
    etag_after = client.get(f"/sources/{source_row(db, sid).slug}/feed.atom").headers["ETag"]
    assert etag_after != etag_before


def _poll_again(db, upstream, sid, items):
    upstream.clear()
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    with db.session() as s:
        s.get(Source, sid).next_fetch_at = None
    return poll(db, upstream)


def test_an_entry_whose_guid_changed_but_not_its_link_stays_one_article(db, upstream):
    # A feed moved its guids (http → https, a new CMS): each entry, known by
    # its link, is the same article under its new key, not a second one.
    items = numbered(3)
    sid = add_source(db, upstream.url_for("/feed.xml"))
    _poll_again(db, upstream, sid, items)
    before = {a.original_url: (a.id, a.uid, a.slug) for a in articles_of(db, sid)}
    for item in items:
        item.guid = "https://upstream.example/guid/" + item.guid
    stats = _poll_again(db, upstream, sid, items)
    assert (stats.added, stats.updated) == (0, 3)
    after = articles_of(db, sid)
    assert {a.original_url: (a.id, a.uid, a.slug) for a in after} == before
    assert sorted(a.upstream_key for a in after) == sorted(i.guid for i in items)
    # and the next poll of the same document changes nothing
    assert (lambda st: (st.added, st.updated))(_poll_again(db, upstream, sid, items)) == (0, 0)


def test_a_newsroom_article_citing_an_entrys_link_is_never_taken_for_it(db, upstream):
    # The newsroom's own article attributed to the source, linking the same
    # original, is the newsroom's: an upstream entry is never matched to it.
    from tests.factories import make_article

    items = numbered(1)
    sid = add_source(db, upstream.url_for("/feed.xml"))
    _poll_again(db, upstream, sid, [])
    with db.session() as s:
        own = make_article(
            s, title="Our take", source_id=sid, original_url=items[0].link, upstream_key=None
        ).id
    stats = _poll_again(db, upstream, sid, items)
    assert (stats.added, stats.updated) == (1, 0)
    with db.session() as s:
        mine = s.get(Article, own)
        assert (mine.title, mine.upstream_key) == ("Our take", None)


def test_entries_sharing_one_link_are_never_merged_by_it(db, upstream):
    # Every item links the home page: a new guid is a new article, and one
    # whose old guid is still listed is never taken for it either.
    items = [
        Item(guid=f"g-{i}", title=f"Item {i}", link="https://upstream.example/") for i in range(2)
    ]
    sid = add_source(db, upstream.url_for("/feed.xml"))
    _poll_again(db, upstream, sid, items)
    items.append(Item(guid="g-2", title="Item 2", link="https://upstream.example/"))
    assert _poll_again(db, upstream, sid, items).added == 1
    solo = numbered(1, "solo")
    _poll_again(db, upstream, sid, items + solo)
    twin = Item(guid="solo-new", title="Twin", link=solo[0].link)
    stats = _poll_again(db, upstream, sid, items + solo + [twin])  # old guid still listed
    assert stats.added == 1
    assert len(articles_of(db, sid)) == 5


def test_duplicates_and_id_less_entries(db, upstream):
    items = [
        Item(guid="same", title="First copy"),
        Item(guid="same", title="Second copy"),
        Item(guid=None, link="https://upstream.example/by-link", title="Linked"),
        Item(guid=None, link=None, title="No id, no link", description="<p>Only text.</p>"),
        Item(guid=None, link=None, title="Another", description="<p>Other text.</p>"),
    ]
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    arts = articles_of(db, sid)
    assert [a.title for a in arts] == ["First copy", "Linked", "No id, no link", "Another"]
    assert len({a.upstream_key for a in arts}) == 4
    with db.session() as s:
        s.get(type(source_row(db, sid)), sid).next_fetch_at = None
    assert poll(db, upstream).added == 0  # keys are stable across polls
    assert len(articles_of(db, sid)) == 4


def test_hostile_html_is_sanitized_in_articles_and_our_feeds(db, upstream, client):
    hostile = (
        '<p onclick="steal()">Hi<script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><img src="/pic.png" onerror="boom()">'
        '<a href="/relative">rel</a><iframe src="https://evil.example/"></iframe></p>'
    )
    items = [
        Item(
            guid="h",
            title="<b>Bold</b> &amp; title",
            link="https://upstream.example/a/1",
            description=hostile,
        )
    ]
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    (art,) = articles_of(db, sid)
    for bad in ("script", "onclick", "onerror", "javascript:", "iframe", "alert"):
        assert bad not in art.body_html
    # Relative URLs are made absolute (against the entry's base, as feeds.upstream.parse gives it).
    assert re.search(r'src="https?://[^"/]+/pic\.png"', art.body_html)
    assert re.search(r'href="https?://[^"/]+/relative"', art.body_html)
    assert "<" not in art.title and "Bold" in art.title
    for path in (
        "/feed.rss",
        "/feed.atom",
        "/feed.json",
        f"/sources/{source_row(db, sid).slug}/feed.atom",
    ):
        body = client.get(path).get_data(as_text=True)
        assert "Bold" in body
        assert "alert" not in body and "onerror" not in body


def test_titles_and_dates(db, upstream):
    now = datetime.now(UTC)
    same = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    items = [
        Item(guid="future", title="From the future", pub_date=now + timedelta(days=30)),
        Item(
            guid="undated-1", title=None, description="<p>An entry with no title but a summary.</p>"
        ),
        Item(guid="undated-2", title=None, description=None),
        Item(guid="a", title="Same second A", pub_date=same),
        Item(guid="b", title="Same second B", pub_date=same),
    ]
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    arts = {a.upstream_key: a for a in articles_of(db, sid)}
    assert arts["future"].published_at <= datetime.now(UTC)
    assert arts["undated-1"].title.startswith("An entry with no title")
    assert arts["undated-2"].title == "Untitled"
    assert now - timedelta(minutes=1) < arts["undated-1"].published_at <= datetime.now(UTC)
    assert arts["a"].published_at.replace(microsecond=0) == same
    stamps = [max(a.updated_at, a.published_at) for a in arts.values()]
    assert len(set(stamps)) == len(stamps)
    assert len({a.slug for a in arts.values()}) == len(arts)


def test_placeholder_dates_before_1990_count_as_no_date(db, upstream, app):
    # "1900-01-01" (or a zero timestamp) is an upstream's placeholder: stored
    # as-is it sank the entry to the bottom and drew the W3C validator's
    # "Implausible date" in every feed carrying it.
    now = datetime.now(UTC)
    items = [
        Item(
            guid="placeholder", title="Placeholder date", pub_date=datetime(1900, 1, 1, tzinfo=UTC)
        ),
        Item(guid="epoch", title="Epoch date", pub_date=datetime(1970, 1, 1, tzinfo=UTC)),
        Item(guid="old", title="Old but real", pub_date=datetime(1999, 3, 1, tzinfo=UTC)),
    ]
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    arts = {a.upstream_key: a for a in articles_of(db, sid)}
    for key in ("placeholder", "epoch"):
        assert now - timedelta(minutes=1) < arts[key].published_at <= datetime.now(UTC)
        assert arts[key].updated_at >= arts[key].published_at
    assert arts["old"].published_at.replace(microsecond=0) == datetime(1999, 3, 1, tzinfo=UTC)
    body = app.test_client().get("/feed.rss").get_data(as_text=True)
    # In no date of the feed (a random guid may hold the digits "1900").
    dates = re.findall(r"<(?:pubDate|lastBuildDate|dc:date)>([^<]*)<", body)
    assert dates and not any("1900" in d or "1970" in d for d in dates), dates


def test_json_feed_with_escaped_nul_is_stored(db, upstream):
    # PostgreSQL refuses NUL in text: a JSON Feed that spells one ("\u0000")
    # made every poll of its source fail there.
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Wire\u0000",
        "items": [{"id": "n\u0000ul", "title": "Nul\u0000 title", "content_text": "b\u0000ody"}],
    }
    upstream.expect_request("/feed.json").respond_with_data(
        json.dumps(doc), content_type="application/feed+json"
    )
    sid = add_source(db, upstream.url_for("/feed.json"))
    stats = poll(db, upstream)
    assert (stats.added, stats.errors) == (1, 0)
    [art] = articles_of(db, sid)
    assert (art.title, art.body_html) == ("Nul title", "body")


def test_authors_are_per_source_and_never_staff(db, upstream):
    with db.session() as s:
        staff = make_author(s, name="Sam Smith", slug="sam-smith").id
    upstream.expect_request("/a.xml").respond_with_data(
        rss([Item(guid="1", author="Sam Smith")]), content_type="application/rss+xml"
    )
    upstream.expect_request("/b.xml").respond_with_data(
        rss([Item(guid="1", author="Sam Smith")], title="Other"), content_type="application/rss+xml"
    )
    a = add_source(db, upstream.url_for("/a.xml"))
    with db.session() as s:
        b = make_source(s, feed_url=upstream.url_for("/b.xml")).id
    poll(db, upstream)
    with db.session() as s:
        sams = list(s.scalars(select(Author).where(Author.name == "Sam Smith").order_by(Author.id)))
        assert [x.source_id for x in sams][0] is None
        assert sorted(x.source_id for x in sams[1:]) == sorted([a, b])
        assert sams[0].id == staff
    (art_a,) = articles_of(db, a)
    with db.session() as s:
        from feedserver.models import Article

        assert s.get(Article, art_a.id).authors[0].source_id == a


def test_titles_repeat_slugs_stay_unique(db, upstream):
    items = [Item(guid=str(i), title="Breaking news") for i in range(3)]
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    slugs = [a.slug for a in articles_of(db, sid)]
    assert slugs[0] == "breaking-news" and len(set(slugs)) == 3


def test_plain_text_titles_keep_what_looks_like_a_tag(db, upstream):
    atom = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Feed &lt;i&gt; x</title>'
        "<id>urn:x:feed</id><updated>2026-01-01T00:00:00Z</updated>"
        '<entry><title type="text">x &lt;b&gt; y</title><id>urn:x:1</id>'
        "<updated>2026-01-01T00:00:00Z</updated>"
        '<content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry>'
        '<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; html</title><id>urn:x:2</id>'
        "<updated>2026-01-01T00:00:00Z</updated></entry></feed>"
    )
    upstream.expect_request("/feed.xml").respond_with_data(
        atom, content_type="application/atom+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    arts = {a.upstream_key: a for a in articles_of(db, sid)}
    assert arts["urn:x:1"].title == "x <b> y"
    assert arts["urn:x:2"].title == "Bold html"
    assert source_row(db, sid).upstream_title == "Feed <i> x"


def scope_rows(db) -> dict[str, tuple[int, int]]:
    with db.session() as s:
        return {sv.key: (sv.version, sv.item_count) for sv in s.scalars(select(ScopeVersion))}


def true_counts(db) -> dict[str, int]:
    """Item counts computed from the rows (what the scope rows must say)."""
    with db.session() as s:
        counts = {"site": s.scalar(select(func.count(Article.id)))}
        for column, prefix in ((Article.section_id, "section"), (Article.source_id, "source")):
            for ident, n in s.execute(select(column, func.count()).group_by(column)):
                if ident is not None:
                    counts[f"{prefix}:{ident}"] = n
        for ident, n in s.execute(
            select(ArticleAuthor.author_id, func.count()).group_by(ArticleAuthor.author_id)
        ):
            counts[f"author:{ident}"] = n
    return counts


def etags(client, paths):
    return {p: client.get(p).headers["ETag"] for p in paths}


def test_bulk_insert_bumps_exactly_the_affected_feeds(db, upstream, client):
    with db.session() as s:
        science = make_section(s, slug="science", name="Science")
        staff = make_author(s, name="Staff Writer", slug="staff-writer")
        quiet = make_source(s, feed_url=None, section=science, slug="quiet").id
        staff_id = staff.id
    items = numbered(4)
    for i, item in enumerate(items):
        item.author = f"Reporter {i % 2}"
    # The first poll sets the source's upstream title, which the feeds of its
    # articles show; the second one only adds entries.
    upstream.expect_ordered_request("/feed.xml").respond_with_data(
        rss(items[2:]), content_type="application/rss+xml"
    )
    upstream.expect_ordered_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    assert poll(db, upstream).added == 2
    with db.session() as s:
        source = s.get(Source, sid)
        slug, source.next_fetch_at = source.slug, None
    paths = [
        "/feed.atom", "/sections/world/feed.atom", f"/sources/{slug}/feed.atom",
        "/sections/science/feed.atom", "/sources/quiet/feed.atom",
        "/authors/staff-writer/feed.atom",
    ]  # fmt: skip
    before_tags, before = etags(client, paths), scope_rows(db)
    stats = poll(db, upstream)
    assert (stats.added, stats.errors) == (2, 0)
    after_tags, after = etags(client, paths), scope_rows(db)
    with db.session() as s:
        section = s.get(Source, sid).section_id
        reporters = {a.name: a.id for a in s.scalars(select(Author).where(Author.source_id == sid))}
    assert set(reporters) == {"Reporter 0", "Reporter 1"}
    changed = {k for k in after if after[k][0] != before.get(k, (0, 0))[0]}
    assert changed == {
        "site", f"section:{section}", f"source:{sid}",
        *(f"author:{ident}" for ident in reporters.values()),
    }  # fmt: skip
    assert f"source:{quiet}" not in changed and f"author:{staff_id}" not in changed
    # Counts are right: each scope row says what a COUNT over the rows says.
    truth = true_counts(db)
    assert {k: after[k][1] for k in truth} == truth
    assert truth[f"source:{sid}"] == 4 and truth[f"author:{reporters['Reporter 0']}"] == 2
    for path in paths[:3]:
        assert after_tags[path] != before_tags[path], path
    assert {p: after_tags[p] for p in paths[3:]} == {p: before_tags[p] for p in paths[3:]}
    body = client.get(f"/sources/{slug}/feed.atom").get_data(as_text=True)
    assert body.count("<entry>") == 4 and "Reporter 1" in body


def test_repoll_of_the_same_body_is_idempotent(db, upstream, client):
    items = numbered(3)
    items[0].author = "Jane Doe"
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    slug = source_row(db, sid).slug
    before, tag, arts = (
        scope_rows(db),
        client.get(f"/sources/{slug}/feed.atom"),
        articles_of(db, sid),
    )
    for _ in range(2):  # no validators: a full 200 each time
        with db.session() as s:
            s.get(Source, sid).next_fetch_at = None
        stats = poll(db, upstream)
        assert (stats.added, stats.updated, stats.errors, stats.not_modified) == (0, 0, 0, 0)
    assert scope_rows(db) == before
    assert client.get(f"/sources/{slug}/feed.atom").headers["ETag"] == tag.headers["ETag"]
    again = articles_of(db, sid)
    assert [(a.id, a.slug, a.updated_at) for a in again] == [
        (a.id, a.slug, a.updated_at) for a in arts
    ]
    with db.session() as s:
        assert s.scalar(select(func.count(Author.id)).where(Author.source_id == sid)) == 1
        assert s.scalar(select(func.count()).select_from(ArticleAuthor)) == 1


def test_new_and_edited_entries_in_one_poll(db, upstream):
    items = numbered(2)
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    poll(db, upstream)
    items[0].title = "Story 0, corrected"
    items[0].author = "New Person"
    items = [Item(guid="story-9", title="Story 9", author="New Person"), *items]
    upstream.clear()
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    with db.session() as s:
        s.get(Source, sid).next_fetch_at = None
    stats = poll(db, upstream)
    assert (stats.added, stats.updated) == (1, 1)
    arts = {a.upstream_key: a for a in articles_of(db, sid)}
    assert arts["story-0"].title == "Story 0, corrected" and arts["story-9"].title == "Story 9"
    truth = true_counts(db)
    assert {k: v[1] for k, v in scope_rows(db).items() if k in truth} == truth
    with db.session() as s:
        (person,) = s.scalars(select(Author).where(Author.name == "New Person"))
        assert truth[f"author:{person.id}"] == 2


def test_values_no_column_can_hold_are_dropped_not_the_refresh(db, upstream):
    """An overlong link or author URL, or a NUL in an id, costs that value, not the entry.

    On PostgreSQL each failed the whole refresh (value too long for the
    column, or "cannot contain NUL"), so one such entry held back every later
    one of its source; SQLite stored a link cut short, which leads nowhere.
    """
    long_url = "https://upstream.example/" + "q" * 3000
    body = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:feed&#0;</id><title>Hostile</title><updated>2026-01-02T00:00:00Z</updated>"
        f"<link href='{long_url}'/>"
        "<entry><id>urn:g&#0;1</id><title>Null id</title><updated>2026-01-01T00:00:00Z</updated>"
        f"<link href='{long_url}'/><author><name>Ann Long</name><uri>{long_url}</uri></author>"
        "<content type='html'>&lt;p&gt;One.&lt;/p&gt;</content></entry>"
        "<entry><id>urn:g2</id><title>Plain</title><updated>2026-01-01T01:00:00Z</updated>"
        "<link href='https://upstream.example/2'/></entry></feed>"
    )
    upstream.expect_request("/feed.xml").respond_with_data(
        body, content_type="application/atom+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    stats = poll(db, upstream)
    assert (stats.added, stats.errors) == (2, 0)
    arts = {a.title: a for a in articles_of(db, sid)}
    assert arts["Null id"].upstream_key == "urn:g1"
    assert arts["Null id"].original_url is None  # not cut to a link that leads nowhere
    assert arts["Plain"].original_url == "https://upstream.example/2"
    source = source_row(db, sid)
    assert source.last_error is None and source.last_status == 200
    assert source.upstream_id == "urn:feed"
    assert "qqq" not in (source.home_url or "")  # the one it had is kept
    with db.session() as s:
        ann = s.scalar(select(Author).where(Author.name == "Ann Long"))
        assert ann is not None and ann.url is None


def test_a_database_error_is_recorded_without_the_statement(db, upstream, monkeypatch):
    """last_error is shown in the API and the admin: no SQL, no parameters."""
    from sqlalchemy.exc import DataError

    from feedserver.aggregation.store import articles as store_articles

    def refuse(*_args, **_kwargs):
        statement = "INSERT INTO articles (title) VALUES (?)"
        raise DataError(statement, ("secret text",), ValueError("too long"))

    monkeypatch.setattr(store_articles, "_insert", refuse)
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(numbered(1)), content_type="application/rss+xml"
    )
    sid = add_source(db, upstream.url_for("/feed.xml"))
    assert poll(db, upstream).errors == 1
    error = source_row(db, sid).last_error
    assert error is not None and "DataError" in error and "too long" in error
    assert "INSERT" not in error and "secret text" not in error
