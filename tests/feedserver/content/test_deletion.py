"""Deleting an article keeps an RFC 6721 tombstone: every path, every format, validators, retention."""

from __future__ import annotations

import json
from datetime import timedelta

import feedparser
import pytest
from lxml import etree
from sqlalchemy import func, select, update

from feedserver.content.deletion import delete_article, purge_tombstones
from feedserver.models import Article, ArticleTombstone, TombstoneScope, utcnow
from tests.factories import make_article, make_author, make_comment, make_section, make_source

AT = "http://purl.org/atompub/tombstones/1.0"
ATOM = "http://www.w3.org/2005/Atom"
BASE = "http://localhost"
SCOPES = ("/", "/sections/world/", "/authors/ada/", "/authors/bo/", "/sources/wire/")
UNRELATED = ("/sections/science/", "/authors/cy/", "/sources/other/")


@pytest.fixture
def world(db):
    """A doomed article in world/ada+bo/wire, and articles in every unrelated scope."""
    with db.session() as s:
        world, science = make_section(s, slug="world"), make_section(s, slug="science")
        ada, bo, cy = (make_author(s, slug=n) for n in ("ada", "bo", "cy"))
        wire, other = make_source(s, slug="wire"), make_source(s, slug="other")
        doomed = make_article(
            s, slug="doomed", title="Doomed story", section=world, authors=[ada, bo], source=wire
        )
        make_comment(s, doomed, status="approved")
        make_article(s, slug="kept", title="Kept story", section=world, authors=[ada])
        make_article(s, slug="elsewhere", section=science, authors=[cy], source=other)
        return {"id": doomed.id, "ref": f"urn:uuid:{doomed.uid}"}


def feed(client, scope, fmt):
    return client.get(f"{scope}feed.{fmt}" if scope != "/" else f"/feed.{fmt}")


def etags(client, scopes):
    return {
        (s, f): feed(client, s, f).headers["ETag"] for s in scopes for f in ("atom", "rss", "json")
    }


def atom_tombstones(body: bytes) -> list[tuple[str, str, list[str]]]:
    root = etree.fromstring(body)
    return [
        (el.get("ref"), el.get("when"), [link.get("href") for link in el.iter(f"{{{ATOM}}}link")])
        for el in root.iter(f"{{{AT}}}deleted-entry")
    ]


def assert_carried(client, scope, ref):
    """Every format of the scope's feed names the deleted entry, and parses cleanly."""
    atom, rss, js = (feed(client, scope, f) for f in ("atom", "rss", "json"))
    [(got_ref, when, links)] = atom_tombstones(atom.data)
    assert got_ref == ref and when.endswith("Z")
    assert links == [f"{BASE}/articles/doomed"]
    channel = etree.fromstring(rss.data).find("channel")
    [element] = channel.findall(f"{{{AT}}}deleted-entry")
    assert element.get("ref") == ref and element.get("when") == when
    assert [(link.get("rel"), link.get("href")) for link in element] == [
        ("related", f"{BASE}/articles/doomed")
    ]
    assert json.loads(js.data)["_deleted"] == {"entries": [{"id": ref, "deleted_at": when}]}
    for response in (atom, rss):
        parsed = feedparser.parse(response.data)
        assert parsed.bozo is False, parsed.get("bozo_exception")
        assert ref not in {e.get("id") for e in parsed.entries}
        # rel="related", not "alternate": the feed's own link is still its page.
        assert parsed.feed.link.startswith(BASE) and "doomed" not in parsed.feed.link


def test_api_delete_tombstones_every_scope_feed_and_only_those(api, world):
    before = etags(api.client, SCOPES + UNRELATED)
    response = api.delete(f"/api/articles/{world['id']}")
    assert response.status_code == 204 and response.data == b""
    after = etags(api.client, SCOPES + UNRELATED)
    for scope in SCOPES:
        assert_carried(api.client, scope, world["ref"])
        for fmt in ("atom", "rss", "json"):
            assert before[scope, fmt] != after[scope, fmt], (scope, fmt)
    for scope in UNRELATED:
        for fmt in ("atom", "rss", "json"):
            assert before[scope, fmt] == after[scope, fmt], (scope, fmt)
        assert b"deleted-entry" not in feed(api.client, scope, "atom").data
        assert "_deleted" not in feed(api.client, scope, "json").json
    # The API answers 410 with JSON, the same for PATCH and a second DELETE.
    for method in ("get", "patch", "delete"):
        kw = {"json": {"title": "x"}} if method == "patch" else {}
        gone = getattr(api, method)(f"/api/articles/{world['id']}", **kw)
        assert gone.status_code == 410, method
        assert gone.json["error"]["code"] == "gone"
        assert "Doomed story" in gone.json["error"]["message"]
        assert gone.json["error"]["deleted_at"].endswith("Z")
    assert api.get("/api/articles/999999").status_code == 404


def test_page_and_comment_feeds_answer_410(client, db, world):
    with db.session() as s:
        delete_article(s, s.get_one(Article, world["id"]))
    page = client.get("/articles/doomed")
    assert page.status_code == 410
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "This article was deleted" in text and "“Doomed story”" in text
    for fmt in ("rss", "atom"):
        response = client.get(f"/articles/doomed/comments.{fmt}")
        assert response.status_code == 410 and "Doomed story" in response.text
    posted = client.post("/articles/doomed/comments", data={"name": "A", "comment": "hi"})
    assert posted.status_code == 410
    assert client.get("/articles/never-was").status_code == 404
    assert client.get("/articles/kept").status_code == 200


def test_comment_feed_kept_by_the_fast_path_turns_410(client, db, world):
    assert client.get("/articles/doomed/comments.atom").status_code == 200
    assert client.get("/articles/doomed/comments.atom").status_code == 200  # a kept answer
    with db.session() as s:
        delete_article(s, s.get_one(Article, world["id"]))
    assert client.get("/articles/doomed/comments.atom").status_code == 410


def test_admin_delete_keeps_a_tombstone(admin, db, world):
    response = admin.post(f"/admin/articles/{world['id']}/delete", follow_redirects=True)
    assert "The article “Doomed story” was deleted." in response.text
    assert_carried(admin, "/sections/world/", world["ref"])
    with db.session() as s:
        tombstone = s.scalar(select(ArticleTombstone))
        assert (tombstone.entry_id, tombstone.slug) == (world["ref"], "doomed")
        assert sorted(s.scope_key for s in tombstone.scopes) == sorted(["site", *_keys(s, world)])


def _keys(session, world):
    from feedserver.models import Author, Section, Source

    section = session.scalar(select(Section.id).where(Section.slug == "world"))
    authors = session.scalars(select(Author.id).where(Author.slug.in_(["ada", "bo"])))
    source = session.scalar(select(Source.id).where(Source.slug == "wire"))
    return [f"section:{section}", *(f"author:{a}" for a in authors), f"source:{source}"]


def test_cli_delete_keeps_a_tombstone(runner, client, world):
    result = runner.invoke(args=["articles", "delete", str(world["id"])])
    assert result.exit_code == 0, result.output
    assert f"Deleted article {world['id']} ('Doomed story')" in result.output
    assert world["ref"] in result.output
    assert_carried(client, "/authors/bo/", world["ref"])
    again = runner.invoke(args=["articles", "delete", str(world["id"])])
    # The same answer as the API's 410: it was deleted (and when), not "no such id".
    assert again.exit_code == 1 and "“Doomed story” was deleted on" in again.output
    assert "No article" in runner.invoke(args=["articles", "delete", "999999"]).output
    for bad in ("0", "-3", "abc", str(2**31)):
        result = runner.invoke(args=["articles", "delete", bad])
        assert result.exit_code == 2 and "Traceback" not in result.output, bad


def test_tombstones_on_page_one_only(api, app, world):
    app.config["FEED_ITEMS"] = 1
    api.delete(f"/api/articles/{world['id']}")
    assert b"deleted-entry" in api.client.get("/sections/world/feed.atom").data
    page2 = api.client.get("/feed.atom?page=2")
    assert page2.status_code == 200 and b"deleted-entry" not in page2.data
    assert "_deleted" not in api.client.get("/feed.json?page=2").json


def test_retention_expiry_removes_the_tombstone_and_changes_validators(api, app, db, world):
    api.delete(f"/api/articles/{world['id']}")
    atom = feed(api.client, "/sections/world/", "atom")
    assert b"deleted-entry" in atom.data
    unrelated = feed(api.client, "/sections/science/", "atom").headers["ETag"]
    # 31 days later, as far as the rows know.
    past = utcnow() - timedelta(days=31)
    with db.session() as s:
        s.execute(update(ArticleTombstone).values(deleted_at=past))
        s.execute(update(TombstoneScope).values(deleted_at=past))
    fast = app.extensions.get("feedserver.publishing.fastpath")
    if fast is not None:  # its clock too: a kept answer is good until the expiry
        fast.clock = lambda: utcnow() + timedelta(days=31)
    fresh = feed(api.client, "/sections/world/", "atom")
    assert b"deleted-entry" not in fresh.data
    assert fresh.headers["ETag"] != atom.headers["ETag"]
    assert fresh.headers["Last-Modified"] != atom.headers["Last-Modified"] or (
        fresh.headers["ETag"] != atom.headers["ETag"]
    )
    # The old validators no longer answer 304.
    conditional = api.client.get(
        "/sections/world/feed.atom", headers={"If-None-Match": atom.headers["ETag"]}
    )
    assert conditional.status_code == 200
    # Purged on read: the rows are gone, the page is an ordinary 404 again.
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ArticleTombstone)) == 0
        assert s.scalar(select(func.count()).select_from(TombstoneScope)) == 0
    assert api.client.get("/articles/doomed").status_code == 404
    assert api.get(f"/api/articles/{world['id']}").status_code == 404
    assert feed(api.client, "/sections/science/", "atom").headers["ETag"] == unrelated


def test_validators_carry_the_expiry_boundary(api, app, world):
    api.delete(f"/api/articles/{world['id']}")
    first = feed(api.client, "/", "atom").headers["ETag"]
    # A restart with a shorter retention: the next expiry moves, so must the ETag.
    app.config["TOMBSTONE_DAYS"] = 7
    fast = app.extensions.get("feedserver.publishing.fastpath")
    if fast is not None:
        fast.clear()  # a restarted worker keeps nothing
    assert feed(api.client, "/", "atom").headers["ETag"] != first


def test_purge_bumps_exactly_the_scopes_that_carried_it(db, world):
    from feedserver.models import ScopeVersion

    with db.session() as s:
        delete_article(s, s.get_one(Article, world["id"]), when=utcnow() - timedelta(days=40))
        delete_article(s, s.scalar(select(Article).where(Article.slug == "kept")))
    with db.session() as s:
        before = {v.key: v.version for v in s.scalars(select(ScopeVersion))}
        assert purge_tombstones(s, utcnow(), 30) == 1
        assert purge_tombstones(s, utcnow(), 30) == 0
    with db.session() as s:
        after = {v.key: v.version for v in s.scalars(select(ScopeVersion))}
        changed = {k for k in after if after[k] != before.get(k)}
        assert changed == {"site", *_keys(s, world)}
        assert s.scalars(select(ArticleTombstone.slug)).all() == ["kept"]


def test_poller_purge_runs_at_most_once_an_hour(db, world):
    from feedserver.aggregation.refresh import PollSettings
    from feedserver.aggregation.worker import Worker

    with db.session() as s:
        delete_article(s, s.get_one(Article, world["id"]), when=utcnow() - timedelta(days=2))
    worker = Worker(db, PollSettings(), tombstone_days=1)
    assert worker.purge_tombstones() == 1
    with db.session() as s:
        delete_article(
            s,
            s.scalar(select(Article).where(Article.slug == "kept")),
            when=utcnow() - timedelta(days=2),
        )
    assert worker.purge_tombstones() == 0  # too soon
    assert worker.purge_tombstones(every=0) == 1


def test_source_removal_tombstones_each_aggregated_article(client, db, world):
    from feedserver.aggregation.removal import remove_source
    from feedserver.models import Source

    with db.session() as s:  # the doomed article was aggregated from the wire
        s.get_one(Article, world["id"]).upstream_key = "https://wire.example/1"
    with db.session() as s:
        remove_source(s, s.scalar(select(Source).where(Source.slug == "wire")))
    refs = [ref for ref, _, _ in atom_tombstones(feed(client, "/", "atom").data)]
    assert refs == [world["ref"]]
    assert client.get("/sources/wire/feed.atom").status_code == 404
    assert client.get("/articles/doomed").status_code == 410


def test_a_new_article_is_not_given_a_tombstoned_address(api, db, world):
    api.delete(f"/api/articles/{world['id']}")
    created = api.post(
        "/api/articles",
        json={"title": "Doomed", "body_html": "<p>x</p>", "section": "world", "authors": ["ada"]},
    )
    assert created.status_code == 201 and created.json["slug"] == "doomed-2"
    assert api.client.get("/articles/doomed").status_code == 410
