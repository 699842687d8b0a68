"""Hostile text, time zones and the value helpers, across all three formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from feeds.errors import RenderError
from feeds.model import Attribution, Author, Feed, Rendered
from feeds.render import render_atom, render_json, render_rss
from feeds.render.values import (
    as_utc,
    byline,
    clean_text,
    clean_url,
    distinct_instants,
    rfc3339,
)

RENDERERS: dict[str, Callable[[Feed], Rendered]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}

# Everything XML 1.0 cannot carry, plus the C1 controls it discourages.
FORBIDDEN = "\x00\x01\x08\x0b\x0c\x0e\x1f\x7f\x85\x9f\ufffe\uffff\ud800\udfff"
KEPT = "Tom & Jerry <b>bold</b> ]]> 'quoted' \"double\" Zoë 東京 🎆 \t tab"
HOSTILE = KEPT[:10] + FORBIDDEN + KEPT[10:]


@pytest.fixture
def hostile(feed: Feed) -> Feed:
    entry = replace(
        feed.entries[0],
        title=HOSTILE,
        summary=HOSTILE,
        content_html=f"<p>{HOSTILE.replace('&', '&amp;')}</p><pre>x ]]&gt; y ]]> z</pre>",
        authors=(Author(HOSTILE, "https://ledger.example.com/authors/x"), Author("Bo")),
    )
    return replace(feed, title=HOSTILE, description=HOSTILE, entries=(entry,))


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_hostile_text_stays_well_formed_and_intact_in_xml(hostile: Feed, fmt: str) -> None:
    body = RENDERERS[fmt](hostile).body
    text = body.decode("utf-8")
    assert not set(FORBIDDEN) & set(text)
    tree = etree.fromstring(body)  # raises if not well-formed
    title = tree.findtext("channel/title" if fmt == "rss" else "{http://www.w3.org/2005/Atom}title")
    assert title == KEPT
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    assert parsed.feed.title == KEPT
    assert parsed.entries[0].title == KEPT


def test_hostile_text_survives_rss_title_and_byline(hostile: Feed) -> None:
    item = etree.fromstring(render_rss(hostile).body).find("channel/item")
    assert item.findtext("title") == KEPT
    creator = item.findtext("{http://purl.org/dc/elements/1.1/}creator")
    assert creator == f"{KEPT} and Bo"


def test_hostile_text_survives_atom_content(hostile: Feed) -> None:
    atom = "{http://www.w3.org/2005/Atom}"
    entry = etree.fromstring(render_atom(hostile).body).find(f"{atom}entry")
    assert entry.findtext(f"{atom}title") == KEPT
    content = entry.findtext(f"{atom}content")
    assert content == f"<p>{KEPT.replace('&', '&amp;')}</p><pre>x ]]&gt; y ]]> z</pre>"


def test_hostile_text_in_json_encodes_as_utf8(hostile: Feed) -> None:
    body = render_json(hostile).body
    doc = json.loads(body.decode("utf-8"))  # lone surrogates would fail encode() already
    item = doc["items"][0]
    assert doc["title"] == item["title"] == item["summary"] == KEPT
    assert item["authors"][0]["name"] == KEPT


def test_naive_datetimes_are_read_as_utc(feed: Feed) -> None:
    naive = replace(
        feed,
        updated=feed.updated.replace(tzinfo=None),
        entries=tuple(
            replace(
                e,
                published=e.published.replace(tzinfo=None),
                updated=e.updated.replace(tzinfo=None),
            )
            for e in feed.entries
        ),
    )
    for render in RENDERERS.values():
        assert render(naive).body == render(feed).body


def test_other_zones_are_converted_to_utc(feed: Feed) -> None:
    plus_two = timezone(timedelta(hours=2))
    shifted = replace(
        feed,
        updated=feed.updated.astimezone(plus_two),
        entries=tuple(
            replace(
                e,
                published=e.published.astimezone(plus_two),
                updated=e.updated.astimezone(plus_two),
            )
            for e in feed.entries
        ),
    )
    for render in RENDERERS.values():
        assert render(shifted).body == render(feed).body


def test_output_does_not_depend_on_the_clock(feed: Feed) -> None:
    now_year = str(datetime.now(UTC).year).encode()
    for render in RENDERERS.values():
        # The sample is dated 2024; "now" would leak a later year in.
        assert now_year == b"2024" or now_year not in render(feed).body


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], ""),
        (["Ada Lovelace"], "Ada Lovelace"),
        (["Ada Lovelace", "Bo Chen"], "Ada Lovelace and Bo Chen"),
        (["A", "B", "C"], "A, B and C"),
        (["A", " ", "C"], "A and C"),
    ],
)
def test_byline(names: list[str], expected: str) -> None:
    assert byline(Author(n) for n in names) == expected


def test_clean_text_drops_only_what_xml_cannot_carry() -> None:
    assert clean_text(HOSTILE) == KEPT
    assert clean_text("line\nbreak\r\ttab") == "line\nbreak\r\ttab"


def test_clean_text_drops_the_replacement_character() -> None:
    # An upstream's "&#0;" or undecodable bytes arrive as U+FFFD, which the W3C
    # validator reports as "contains bad characters" (a warning §3 forbids).
    assert clean_text("caf\ufffd ok \ufffd") == "caf ok "


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.com/ok?a=b&c=d#f", "https://example.com/ok?a=b&c=d#f"),
        ("https://example.com/p%C3%A4th", "https://example.com/p%C3%A4th"),
        (
            "https://example.com/päth?a=1&b=<2>#frag",
            "https://example.com/p%C3%A4th?a=1&b=%3C2%3E#frag",
        ),
        ("http://127.0.0.1:8199/e2 with space", "http://127.0.0.1:8199/e2%20with%20space"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://user@bü.example:8080/p", "https://user@xn--b-eha.example:8080/p"),
        ('http://[::1]:80/a[1] {x}|^`\\"', "http://[::1]:80/a%5B1%5D%20%7Bx%7D%7C%5E%60%5C%22"),
        ("  https://example.com/\x00x  ", "https://example.com/x"),
    ],
)
def test_clean_url_leaves_only_uri_characters(raw: str, expected: str) -> None:
    assert clean_url(raw) == expected


def test_hrefs_from_outside_are_valid_uris_in_xml(feed: Feed) -> None:
    # An editor's original URL (Atom rel="via") and an upstream's feed URL
    # (RSS <source url>, Atom <source><link rel="self">) are written as URIs.
    odd = "https://example.com/päth?a=1&b=<2> c#frag"
    source = Attribution(
        title="Wire",
        link="https://wire.example/ä b",
        feed_url=odd,
        feed_id="tag:w,2024:f",
        updated=datetime(2024, 5, 1, tzinfo=UTC),
    )
    entry = replace(feed.entries[0], original_url=odd, source=source)
    for fmt in ("rss", "atom"):
        body = RENDERERS[fmt](replace(feed, entries=(entry,))).body
        links = {
            v
            for el in etree.fromstring(body).iter()
            for k, v in el.attrib.items()
            if k in ("href", "url")
        }
        assert "https://example.com/p%C3%A4th?a=1&b=%3C2%3E%20c#frag" in links
        assert "päth" not in body.decode("utf-8")
    atom = render_atom(replace(feed, entries=(entry,))).body.decode("utf-8")
    assert 'rel="via" href="https://example.com/p%C3%A4th?a=1&amp;b=%3C2%3E%20c#frag"' in atom
    assert 'href="https://wire.example/%C3%A4%20b"' in atom


def test_times() -> None:
    aware = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=-5)))
    assert as_utc(aware) == datetime(2024, 1, 2, 8, 4, 5, 678000, tzinfo=UTC)
    assert as_utc(datetime(2024, 1, 2, 3, 4, 5)).tzinfo is UTC
    assert rfc3339(aware) == "2024-01-02T08:04:05.678000Z"
    assert rfc3339(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"


def test_distinct_instants_keeps_unique_values_and_order() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    us = timedelta(microseconds=1)
    assert distinct_instants([t, t, t + us, t + 5 * us]) == [t, t + us, t + 2 * us, t + 5 * us]


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.text(min_size=1, max_size=8)),
        max_size=30,
        unique_by=lambda pair: pair[1],
    )
)
def test_distinct_instants_by_key_are_unique_close_and_the_keys_own(pairs) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    values = [base - timedelta(seconds=s) for s, _ in pairs]
    keys = [k for _, k in pairs]
    out = distinct_instants(values, keys)
    assert len(set(out)) == len(out)  # unique
    for value, moved in zip(values, out, strict=True):
        assert value <= moved < value + timedelta(milliseconds=2)  # a little later at most


@pytest.mark.parametrize("fmt", RENDERERS)
def test_an_entry_without_id_is_a_render_error(feed: Feed, fmt: str) -> None:
    broken = replace(feed, entries=(replace(feed.entries[0], id=" "),))
    with pytest.raises(RenderError) as caught:
        RENDERERS[fmt](broken)
    message = str(caught.value)
    assert message.startswith(f"render {feed.self_url}: {fmt}: ")
    assert "tidal-power-plant-opens has no id" in message


def test_rss_writes_lt_and_amp_as_hexadecimal_references(feed: Feed) -> None:
    # The RSS Profile's spelling; with "&lt;" the W3C validator warned on a
    # title such as "Why <em> matters" (found by the audit).
    entry = replace(feed.entries[0], title="Why <em> & AT&T matter")
    body = render_rss(replace(feed, entries=(entry,))).body
    assert b"<title>Why &#x3C;em&gt; &#x26; AT&#x26;T matter</title>" in body
    assert b"&lt;" not in body and b"&amp;" not in body
    assert etree.fromstring(body).find("channel/item").findtext("title") == "Why <em> & AT&T matter"


def test_clean_text_drops_every_noncharacter() -> None:
    # U+FDD0-U+FDEF and the last two code points of each of the 17 planes: a
    # reader's comment could carry them, and the validator calls them invalid.
    nonchars = [chr(c) for c in range(0xFDD0, 0xFDF0)]
    nonchars += [chr(plane << 16 | last) for plane in range(17) for last in (0xFFFE, 0xFFFF)]
    assert len(nonchars) == 66
    assert clean_text("a".join(nonchars)) == "a" * 65
    # Their neighbours are ordinary characters and stay.
    kept = "\ufdcf\ufdf0\U0001fffd\U00020000\U0010fffd"
    assert clean_text(kept) == kept
