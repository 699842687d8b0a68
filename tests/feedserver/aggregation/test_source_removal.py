"""Removing a source: its aggregated articles go, the newsroom's own articles stay.

An article aggregated from a source (it has an ``upstream_key``) is that
source's work and cannot stay without it. A staff article that merely cites the
source is ours: it stays, no longer attributed (the source row is gone) but
still linking its original. Admin, API and CLI remove through one service.
"""

from __future__ import annotations

import feedparser
import pytest
from sqlalchemy import select

from feedserver.aggregation.removal import removal_counts, remove_source
from feedserver.models import Article, Author, Source
from feedserver.models.scopes import ScopeVersion
from tests.factories import make_article, make_author, make_section, make_source
from tests.feedserver.admin_support import make_user, sign_in


@pytest.fixture
def cited(db):
    """A source with two aggregated articles and one staff article citing it."""
    with db.session() as s:
        world = make_section(s, slug="world", name="World")
        staff = make_author(s, slug="ada", name="Ada Lovelace")
        upstream = make_author(s, slug="wire-desk", name="Wire Desk")
        wire = make_source(s, slug="wire", name="The Wire", feed_url="https://wire.example/f")
        upstream.source_id = wire.id
        for n in (1, 2):
            make_article(
                s, slug=f"wire-{n}", section=world, source=wire, authors=[upstream],
                upstream_key=f"urn:wire:{n}", original_url=f"https://wire.example/{n}",
            )  # fmt: skip
        make_article(
            s, slug="our-take", section=world, source=wire, authors=[staff],
            original_url="https://wire.example/1",
        )  # fmt: skip
        return wire.id


def _check_removed(db, ident):
    with db.session() as s:
        assert s.get(Source, ident) is None
        articles = {a.slug: (a.source_id, a.original_url) for a in s.scalars(select(Article))}
        assert articles == {"our-take": (None, "https://wire.example/1")}
        assert sorted(a.slug for a in s.scalars(select(Author))) == ["ada"]
        counts = dict(s.execute(select(ScopeVersion.key, ScopeVersion.item_count)).all())
    assert counts["site"] == 1 and counts[f"source:{ident}"] == 0


def test_the_service_keeps_staff_articles(db, cited):
    with db.session() as s:
        source = s.get(Source, cited)
        assert removal_counts(s, source) == (2, 1)
        assert remove_source(s, source) == 2
    _check_removed(db, cited)


def test_the_api_keeps_staff_articles(client, api, db, cited):
    assert client.get("/sources/wire/feed.atom").status_code == 200
    response = api.delete(f"/api/sources/{cited}")
    assert response.status_code == 204 and response.data == b""
    _check_removed(db, cited)
    page = client.get("/articles/our-take")
    assert page.status_code == 200 and "https://wire.example/1" in page.text
    # Gone, not missing: its tombstone is kept (INTERFACE §8).
    assert client.get("/articles/wire-1").status_code == 410
    feed = client.get("/feed.atom").text
    entries = [e.link for e in feedparser.parse(feed).entries]
    assert any(link.endswith("/our-take") for link in entries)
    assert not any(link.endswith("/wire-1") for link in entries) and "The Wire" not in feed
    assert 'ref="' in feed  # the removed article's tombstone (RFC 6721) takes its place


def test_the_cli_keeps_staff_articles(runner, db, cited):
    result = runner.invoke(args=["sources", "remove", str(cited)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "and its 2 articles? (1 staff articles that cite it stay)" in result.output
    assert f"Removed source {cited} and 2 articles." in result.output
    _check_removed(db, cited)


def test_the_admin_keeps_staff_articles(client, db, cited):
    make_user(db)
    assert sign_in(client).status_code == 302
    page = client.get(f"/admin/sources/{cited}/delete").text
    assert "has <strong>2</strong> articles" in page
    assert "1 of the newsroom's own article cites this source; it stays" in page
    done = client.post(
        f"/admin/sources/{cited}/delete", data={"articles": "delete"}, follow_redirects=True
    )
    assert "was deleted with its 2 articles" in done.text
    _check_removed(db, cited)
