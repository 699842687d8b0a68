"""RFC 6721 tombstones in each format: Atom and RSS at:deleted-entry, JSON Feed _deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import pytest
from lxml import etree

from feeds.errors import RenderError
from feeds.model import Entry, Feed, Tombstone
from feeds.render import render_atom, render_json, render_rss

AT = "http://purl.org/atompub/tombstones/1.0"
ATOM = "http://www.w3.org/2005/Atom"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 5, 2, 8, 30, 0, 250000, tzinfo=UTC)

FEED = Feed(
    id="https://site.example/feed.atom",
    title="Site",
    description="All of it",
    link="https://site.example/",
    self_url="https://site.example/feed.atom",
    updated=T1,
    entries=(
        Entry(
            id="urn:uuid:00000000-0000-4000-8000-000000000001",
            title="Still here",
            link="https://site.example/articles/here",
            published=T0,
            updated=T0,
        ),
    ),
    tombstones=(
        Tombstone(
            "urn:uuid:00000000-0000-4000-8000-000000000002", T1, "https://site.example/a/two"
        ),
        Tombstone("urn:uuid:00000000-0000-4000-8000-000000000003", T0),
    ),
)
EXPECTED = [
    ("urn:uuid:00000000-0000-4000-8000-000000000002", "2026-05-02T08:30:00.250000Z"),
    ("urn:uuid:00000000-0000-4000-8000-000000000003", "2026-05-01T12:00:00Z"),
]


def test_atom_deleted_entries_are_children_of_feed_with_a_related_link():
    root = etree.fromstring(render_atom(FEED).body)
    found = root.findall(f"{{{AT}}}deleted-entry")
    assert [(e.get("ref"), e.get("when")) for e in found] == EXPECTED
    assert [(link.get("rel"), link.get("href")) for link in found[0]] == [
        ("related", "https://site.example/a/two")
    ]
    assert found[0][0].tag == f"{{{ATOM}}}link" and len(found[1]) == 0


def test_rss_deleted_entries_are_children_of_channel_with_an_atom_link():
    channel = etree.fromstring(render_rss(FEED).body).find("channel")
    found = channel.findall(f"{{{AT}}}deleted-entry")
    assert [(e.get("ref"), e.get("when")) for e in found] == EXPECTED
    assert found[0][0].tag == f"{{{ATOM}}}link" and found[0][0].get("rel") == "related"


@pytest.mark.parametrize("render", [render_atom, render_rss])
def test_feedparser_reads_tombstoned_feeds_without_bozo(render):
    parsed = feedparser.parse(render(FEED).body)
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert [e.id for e in parsed.entries] == [FEED.entries[0].id]
    # rel="related" keeps the feed's own link its home page (alternate would not).
    assert parsed.feed.link == "https://site.example/"


def test_json_feed_deleted_extension():
    document = json.loads(render_json(FEED).body)
    assert document["_deleted"] == {"entries": [{"id": i, "deleted_at": w} for i, w in EXPECTED]}
    assert [item["id"] for item in document["items"]] == [FEED.entries[0].id]


@pytest.mark.parametrize("render", [render_atom, render_rss, render_json])
def test_without_tombstones_nothing_is_added(render):
    body = render(Feed(**{**_fields(FEED), "tombstones": ()})).body
    assert AT.encode() not in body and b"_deleted" not in body


@pytest.mark.parametrize("render", [render_atom, render_rss, render_json])
def test_a_tombstone_without_ref_is_a_render_error(render):
    broken = Feed(**{**_fields(FEED), "tombstones": (Tombstone("  ", T0),)})
    with pytest.raises(RenderError):
        render(broken)


def _fields(feed: Feed) -> dict[str, object]:
    return {name: getattr(feed, name) for name in feed.__slots__}
