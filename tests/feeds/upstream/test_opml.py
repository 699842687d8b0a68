"""feeds.upstream.opml: reading subscription lists safely, writing OPML 2.0."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from feeds.errors import ParseError
from feeds.upstream.opml import Outline, parse_opml, render_opml

CORPUS = Path(__file__).parents[2] / "data" / "upstream"


def test_folders_categories_and_duplicates() -> None:
    outlines = parse_opml((CORPUS / "opml20-folders-and-categories.opml").read_bytes())
    assert outlines == [
        Outline(
            "https://wire.example.org/feed.xml",
            "Harbour Wire & Co",
            "https://wire.example.org/",
            "World",
        ),
        Outline("https://tagged.example.org/rss", "Tagged", None, "Football"),
        Outline("https://news.example.org/atom", "Direct in News", None, "News"),
        Outline("https://loose.example.org/feed", "Loose", None, None),
        Outline("https://tag.example.org/feed", "Tag only", None, "tech"),
    ]


def test_opml_1_0_flat_latin1() -> None:
    outlines = parse_opml((CORPUS / "opml10-flat.opml").read_bytes())
    assert [(o.title, o.xml_url, o.html_url) for o in outlines] == [
        ("Café news", "http://cafe.example.net/rss.xml", None),
        ("Second", "http://second.example.net/index.rdf", "http://second.example.net/"),
    ]


def test_round_trip() -> None:
    outlines = [
        Outline("https://a.example/feed", "A & <B>", "https://a.example/", "World"),
        Outline("https://b.example/rss?x=1&y=2", None, None, None),
        Outline("https://c.example/feed", "C\x00\x1b control", None, "News/Local, x"),
    ]
    written = render_opml(outlines, title="Exports", created=datetime(2024, 5, 14, tzinfo=UTC))
    assert written.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<opml version=\"2.0\">")
    assert b"<dateCreated>Tue, 14 May 2024 00:00:00 GMT</dateCreated>" in written
    back = parse_opml(written)
    assert back == [
        outlines[0],
        Outline("https://b.example/rss?x=1&y=2", "https://b.example/rss?x=1&y=2", None, None),
        Outline("https://c.example/feed", "C control", None, "News Local x"),
    ]


def test_empty_list_is_valid() -> None:
    assert parse_opml(render_opml([], title="Nothing")) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty document"),
        (b"<opml><body><outline", "malformed XML"),
        (b"not xml at all", "malformed XML"),
        (b'<rss version="2.0"><channel/></rss>', "not OPML: the root element is <rss>"),
        (b'<opml version="2.0"><head/></opml>', "no <body> element"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<opml version="2.0"><body><outline text="&x;" xmlUrl="https://x.example/"/></body></opml>',
            "XXE",
        ),
        (
            b'<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><opml><body>'
            b'<outline text="&c;" xmlUrl="https://x.example/"/></body></opml>',
            "entity-expansion",
        ),
        (
            b"<opml><body>" + b"<outline>" * 100 + b"</outline>" * 100 + b"</body></opml>",
            "nested deeper",
        ),
    ],
)
def test_bad_opml_is_a_parse_error(body: bytes, problem: str) -> None:
    started = time.monotonic()
    with pytest.raises(ParseError, match=problem) as caught:
        parse_opml(body)
    assert str(caught.value).startswith("parse OPML document: ")
    assert time.monotonic() - started < 1


def test_external_dtd_is_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.dtd"
    secret.write_text('<!ENTITY leak "SECRET-31337">')
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file://{secret}">'
        '<opml version="2.0"><body><outline text="t" xmlUrl="https://x.example/"/></body></opml>'
    ).encode()
    outlines = parse_opml(body)
    assert "SECRET" not in repr(outlines)


def test_undefined_entity_is_malformed() -> None:
    with pytest.raises(ParseError, match="malformed XML"):
        parse_opml(
            b'<opml><body><outline text="&leak;" xmlUrl="https://x.example/"/></body></opml>'
        )


def test_written_opml_is_well_formed_and_namespaced_right() -> None:
    written = render_opml([Outline("https://a.example/feed", "A")], title="T")
    root = etree.fromstring(written)
    outline = root.find("body/outline")
    assert outline is not None
    assert outline.attrib == {
        "type": "rss",
        "text": "A",
        "title": "A",
        "xmlUrl": "https://a.example/feed",
    }
