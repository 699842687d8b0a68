"""feeds.upstream.tombstones: every at:deleted-entry, safely, or none at all."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.model import Feed, Tombstone
from feeds.render import render_atom, render_rss
from feeds.upstream.parse import parse_feed
from feeds.upstream.tombstones import MAX_TOMBSTONES, read_tombstones

NS = 'xmlns:at="http://purl.org/atompub/tombstones/1.0"'
WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def atom(inner: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}<feed xmlns="http://www.w3.org/2005/Atom" {NS}>'
        f"<id>x</id><title>t</title><updated>2026-05-01T12:00:00Z</updated>{inner}</feed>"
    ).encode()


def rss(inner: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {NS}><channel><title>t</title>'
        f"<link>https://up.example/</link><description>d</description>{inner}"
        "<item><guid>a</guid><title>A</title></item></channel></rss>"
    ).encode()


def tomb(ref: str, when: str = "2026-05-01T12:00:00Z") -> str:
    return f'<at:deleted-entry ref="{ref}" when="{when}"/>'


def test_reads_every_tombstone_where_feedparser_keeps_one():
    body = atom(tomb("a") + tomb("b", "2026-05-01T14:00:00+02:00") + tomb("c", "soon"))
    assert read_tombstones(body) == [("a", WHEN), ("b", WHEN), ("c", None)]
    assert parse_feed(body, "https://up.example/feed").deleted == (
        ("a", WHEN),
        ("b", WHEN),
        ("c", None),
    )


def test_rss_channel_tombstones():
    assert read_tombstones(rss(tomb("urn:x:1"))) == [("urn:x:1", WHEN)]
    assert parse_feed(rss(tomb("urn:x:1")), "https://up.example/").deleted == (("urn:x:1", WHEN),)


def test_ignores_misplaced_empty_duplicate_and_oversized_refs():
    inner = (
        "<entry><id>e</id><title>e</title><updated>2026-05-01T12:00:00Z</updated>"
        f"<summary>{tomb('in-entry')}</summary></entry>"
        + tomb("")
        + tomb("   ")
        + tomb("dup")
        + tomb("dup", "2027-01-01T00:00:00Z")
        + tomb("x" * 5000)
        + tomb("naive", "2026-05-01T12:00:00")
    )
    assert read_tombstones(atom(inner)) == [("dup", WHEN), ("naive", None)]


def test_no_namespace_no_tombstones_and_no_parse():
    body = atom('<deleted-entry ref="a" when="2026-05-01T12:00:00Z"/>')
    assert read_tombstones(body) == []
    assert parse_feed(body, "https://up.example/").deleted == ()


def test_malformed_documents_yield_none():
    assert read_tombstones(atom(tomb("a")).replace(b"</feed>", b"")) == []
    assert read_tombstones(b"\x00\xff" + NS.encode()) == []


def test_entities_are_neither_resolved_nor_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    prolog = f'<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    found = read_tombstones(atom(tomb("&xxe;"), prolog))
    assert all("TOP-SECRET" not in ref for ref, _ in found)


def test_count_is_bounded():
    body = atom("".join(tomb(f"r{i}") for i in range(MAX_TOMBSTONES + 50)))
    found = read_tombstones(body)
    assert len(found) == MAX_TOMBSTONES and found[0][0] == "r0"


refs = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=80,
).filter(lambda s: s.strip() == s and s)


@settings(max_examples=60, deadline=None)
@given(st.lists(refs, min_size=1, max_size=5, unique=True))
def test_what_we_render_we_read_back(tombstone_refs):
    """Our own Atom and RSS tombstones survive a round trip through the reader."""
    feed = Feed(
        id="https://site.example/feed.atom",
        title="T",
        description="D",
        link="https://site.example/",
        self_url="https://site.example/feed.atom",
        updated=WHEN,
        tombstones=tuple(Tombstone(ref, WHEN, "https://site.example/a") for ref in tombstone_refs),
    )
    for render in (render_atom, render_rss):
        assert read_tombstones(render(feed).body) == [(ref, WHEN) for ref in tombstone_refs]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_never_raises_on_arbitrary_bytes(junk):
    body = b"<feed " + NS.encode() + b">" + junk
    assert isinstance(read_tombstones(body), list)
