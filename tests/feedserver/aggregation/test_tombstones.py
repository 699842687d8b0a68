"""Upstream RFC 6721 tombstones, from a real HTTP upstream on 127.0.0.1 to our own feeds."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select

from feedserver.aggregation.poller import poll_once
from feedserver.content.deletion import delete_article
from feedserver.models import Article, ArticleTombstone, Source, utcnow
from tests.factories import make_section, make_source
from tests.feedserver.aggregation_support import articles_of, settings_for

AT = "http://purl.org/atompub/tombstones/1.0"
UP = "https://upstream.example"


def atom(entries: list[str], deleted: list[str] = ()) -> bytes:
    """An upstream Atom feed with these entry ids and at:deleted-entry refs."""
    body = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:at="http://purl.org/atompub/tombstones/1.0">',
        f"<id>{UP}/feed</id><title>Upstream</title><updated>2026-05-01T12:00:00Z</updated>",
        "<author><name>Up</name></author>",
    ]
    body += [
        f'<at:deleted-entry ref="{ref}" when="2026-05-01T12:00:00Z">'
        f'<link rel="related" href="{UP}/{ref}"/></at:deleted-entry>'
        for ref in deleted
    ]
    body += [
        f"<entry><id>{UP}/e/{ident}</id><title>Story {ident}</title>"
        f'<link href="{UP}/story/{ident}"/><updated>2026-05-01T10:00:00Z</updated>'
        f"<summary>About {ident}.</summary></entry>"
        for ident in entries
    ]
    return "".join([*body, "</feed>"]).encode()


def rss(items: list[str], deleted: list[str] = ()) -> bytes:
    tombs = "".join(
        f'<at:deleted-entry ref="{ref}" when="2026-05-01T12:00:00Z"/>' for ref in deleted
    )
    entries = "".join(
        f'<item><guid isPermaLink="false">{g}</guid><title>Item {g}</title></item>' for g in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0" xmlns:at="{AT}"><channel><title>R</title>'
        f"<link>{UP}/</link><description>d</description>{tombs}{entries}</channel></rss>"
    ).encode()


@pytest.fixture
def upstream(httpserver):
    return httpserver


def serve(upstream, body: bytes, kind: str = "atom") -> None:
    upstream.clear()
    upstream.expect_request("/feed").respond_with_data(body, content_type=f"application/{kind}+xml")


def add_source(db, url: str) -> int:
    with db.session() as s:
        return make_source(s, slug="up", feed_url=url, section=make_section(s, slug="world")).id


def poll(db, upstream):
    """Poll every source now, due or not."""
    with db.session() as s:
        for source in s.scalars(select(Source)):
            source.next_fetch_at = utcnow()
    stats = poll_once(db, settings_for(upstream.port))
    assert stats.errors == 0
    return stats


def keys(db, sid):
    return sorted(a.upstream_key for a in articles_of(db, sid))


def test_upstream_tombstone_deletes_through_the_service_and_we_publish_ours(db, client, upstream):
    serve(upstream, atom(["1", "2", "3"]))
    sid = add_source(db, upstream.url_for("/feed"))
    poll(db, upstream)
    assert keys(db, sid) == [f"{UP}/e/1", f"{UP}/e/2", f"{UP}/e/3"]
    [doomed] = [a for a in articles_of(db, sid) if a.upstream_key == f"{UP}/e/2"]
    before = client.get("/sources/up/feed.atom").headers["ETag"]
    # Entry 2 is retracted; entry 9 we never had; entry 3 is still listed, so its
    # tombstone is not believed.
    serve(upstream, atom(["1", "3"], deleted=[f"{UP}/e/2", f"{UP}/e/9", f"{UP}/e/3"]))
    poll(db, upstream)
    assert keys(db, sid) == [f"{UP}/e/1", f"{UP}/e/3"]
    with db.session() as s:
        [tombstone] = s.scalars(select(ArticleTombstone)).all()
        assert tombstone.entry_id == f"urn:uuid:{doomed.uid}"
        assert (tombstone.source_id, tombstone.upstream_key) == (sid, f"{UP}/e/2")
    # Our subscribers learn of it: every scope feed carries our own tombstone.
    for path in ("/feed.atom", "/sections/world/feed.atom", "/sources/up/feed.atom"):
        root = etree.fromstring(client.get(path).data)
        refs = [e.get("ref") for e in root.iter(f"{{{AT}}}deleted-entry")]
        assert refs == [f"urn:uuid:{doomed.uid}"], path
    assert client.get("/sources/up/feed.atom").headers["ETag"] != before
    assert client.get(f"/articles/{doomed.slug}").status_code == 410


def test_unknown_ref_tombstones_change_nothing(db, client, upstream):
    serve(upstream, atom(["1"]))
    sid = add_source(db, upstream.url_for("/feed"))
    poll(db, upstream)
    etag = client.get("/feed.atom").headers["ETag"]
    serve(upstream, atom(["1"], deleted=[f"{UP}/e/404", "urn:other:1", "1"]))
    poll(db, upstream)
    assert keys(db, sid) == [f"{UP}/e/1"]
    with db.session() as s:
        assert s.scalars(select(ArticleTombstone)).all() == []
    assert client.get("/feed.atom").headers["ETag"] == etag


def test_rss_tombstones_and_another_sources_ids_are_not_ours(db, upstream):
    serve(upstream, rss(["g1", "g2"]), "rss")
    sid = add_source(db, upstream.url_for("/feed"))
    with db.session() as s:  # another source with an article of the same upstream id
        other = make_source(s, slug="other")
        s.add(Article(slug="same-id", title="Same id", source=other, upstream_key="g1"))
    poll(db, upstream)
    serve(upstream, rss(["g2"], deleted=["g1"]), "rss")
    poll(db, upstream)
    assert keys(db, sid) == ["g2"]
    with db.session() as s:
        assert s.scalar(select(Article.slug).where(Article.upstream_key == "g1")) == "same-id"


def test_a_deleted_entry_is_not_stored_again_while_its_tombstone_is_kept(db, upstream):
    serve(upstream, atom(["1", "2"]))
    sid = add_source(db, upstream.url_for("/feed"))
    poll(db, upstream)
    with db.session() as s:  # an editor deletes an aggregated article
        article = s.scalar(select(Article).where(Article.upstream_key == f"{UP}/e/1"))
        delete_article(s, article)
    serve(upstream, atom(["1", "2", "3"]))
    poll(db, upstream)
    assert keys(db, sid) == [f"{UP}/e/2", f"{UP}/e/3"]


def test_a_polled_article_never_takes_a_kept_tombstones_address(db, client, upstream):
    """A second source carrying the same story took the deleted article's slug, so its
    address answered 200 with another article, and the feeds' at:deleted-entry linked
    there (README, Deletions: 410 while the tombstone is kept; found by an audit)."""
    serve(upstream, atom(["1"]))
    add_source(db, upstream.url_for("/feed"))
    poll(db, upstream)
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.upstream_key == f"{UP}/e/1"))
        slug = article.slug
        delete_article(s, article)
    assert client.get(f"/articles/{slug}").status_code == 410
    with db.session() as s:  # another source, the same entry: the same title
        make_source(s, slug="again", feed_url=upstream.url_for("/feed") + "?v=b",
                    section=s.scalar(select(Source)).section)  # fmt: skip
    poll(db, upstream)
    with db.session() as s:
        again = s.scalar(select(Article).where(Article.upstream_key == f"{UP}/e/1"))
    assert again is not None and again.slug != slug and again.slug.startswith(slug)
    assert client.get(f"/articles/{slug}").status_code == 410
    assert client.get(f"/articles/{again.slug}").status_code == 200


def test_a_tombstone_names_an_entry_whose_id_is_not_a_uri(db, upstream):
    # feedparser reads <id>item-42</id> resolved against the feed's address;
    # the publisher's tombstone says ref="item-42": it names that entry all the same.
    def relative(ids: list[str], deleted: list[str] = ()) -> bytes:
        body = (
            atom([], deleted)
            .decode()
            .replace(f'<link rel="related" href="{UP}/', '<link rel="related" href="/')
        )
        entries = "".join(
            f'<entry><id>{i}</id><title>Story {i}</title><link href="{UP}/story/{i}"/>'
            f"<updated>2026-05-01T10:00:00Z</updated><summary>About {i}.</summary></entry>"
            for i in ids
        )
        return body.replace("</feed>", entries + "</feed>").encode()

    serve(upstream, relative(["item-41", "item-42"]))
    sid = add_source(db, upstream.url_for("/feed"))
    poll(db, upstream)
    stored = keys(db, sid)
    assert stored == [upstream.url_for("/item-41"), upstream.url_for("/item-42")]
    serve(upstream, relative(["item-41"], deleted=["item-42"]))
    poll(db, upstream)
    assert keys(db, sid) == [upstream.url_for("/item-41")]
    with db.session() as s:
        [tombstone] = s.scalars(select(ArticleTombstone)).all()
        assert tombstone.upstream_key == upstream.url_for("/item-42")
    # …and it is not stored again on the next poll.
    serve(upstream, relative(["item-41", "item-42"]))
    poll(db, upstream)
    assert keys(db, sid) == [upstream.url_for("/item-41")]
