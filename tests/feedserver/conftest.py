"""Fixtures shared by the app-level test modules (on top of tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import (
    make_article,
    make_author,
    make_comment,
    make_desk,
    make_source,
)
from tests.feedserver.api_support import authorized, make_newsroom
from tests.feedserver.site_support import build_news


@pytest.fixture
def api(client, db):
    """The test client with a fresh admin's API token."""
    return authorized(client, db)


@pytest.fixture
def auth(api):
    """The Authorization header of a fresh admin's API token (for the plain client)."""
    return api.headers


@pytest.fixture
def newsroom(db):
    """Sections, authors and a source to write articles against (see api_support)."""
    return make_newsroom(db)


@pytest.fixture
def news(db):
    """Two sections, two authors, one source; four articles (see site_support)."""
    build_news(db)


@dataclass(frozen=True)
class World:
    """The ids of the ``world`` newsroom's rows (slugs are fixed: see the fixture)."""

    sections: dict[str, int]
    authors: dict[str, int]
    source: int
    articles: dict[str, int]
    comments: dict[str, int]


@pytest.fixture
def world(db) -> World:
    """A small, complete newsroom.

    Sections ``world`` and ``science``; staff authors ``ada`` and ``bo``; the
    source ``wire`` (with a feed URL and its upstream author ``wire-desk``);
    articles ``one`` (world, by ada), ``two`` (world, by ada and bo, aggregated
    from wire, with its original URL) and ``three`` (science, by bo); on
    ``one`` an approved comment, an approved reply to it and a pending comment.
    """
    with db.session() as s:
        world, science, ada, bo = make_desk(s)
        wire = make_source(
            s,
            slug="wire",
            name="The Wire Service",
            home_url="https://wire.example.org/",
            feed_url="https://wire.example.org/feed.xml",
        )
        desk = make_author(s, slug="wire-desk", name="Wire Desk", source_id=wire.id)
        one = make_article(s, slug="one", title="Harbour reopens", section=world, authors=[ada])
        two = make_article(
            s,
            slug="two",
            title="Engines of the future",
            section=world,
            authors=[ada, bo],
            source=wire,
            original_url="https://wire.example.org/story/2",
            upstream_key="urn:wire:2",
        )
        three = make_article(
            s, slug="three", title="Tides and moons", section=science, authors=[bo]
        )
        first = make_comment(s, one, author_name="Cy Reader", body="Good news for the port.")
        reply = make_comment(s, one, parent=first, author_name="Di Reader", body="Agreed.")
        held = make_comment(s, one, status="pending", author_name="Ed Spammer", body="Buy now")
        return World(
            sections={"world": world.id, "science": science.id},
            authors={"ada": ada.id, "bo": bo.id, "wire-desk": desk.id},
            source=wire.id,
            articles={"one": one.id, "two": two.id, "three": three.id},
            comments={"first": first.id, "reply": reply.id, "held": held.id},
        )
