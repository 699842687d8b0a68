"""The fast path of parse_feed (feedparser-rs behind a gate) gives what feedparser gives.

Every fixture, and generated RSS 2.0 / Atom 1.0 documents (hypothesis), must
parse to the same UpstreamFeed through ``parse_feed`` (fast path where the
gate lets it) as through ``parse_feedparser`` (feedparser alone); the gate
must send the corners feedparser-rs reads differently to feedparser.
bench/parser_eval.py runs the same comparison over feedparser's own corpus.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.errors import ParseError
from feeds.upstream import fastparse
from feeds.upstream.parse import MAX_ENTRIES, parse_feed, parse_feedparser

CORPUS = Path(__file__).parents[2] / "data" / "upstream"
URL = "https://feeds.example.com/feed.xml"
XML_FIXTURES = sorted(p for p in CORPUS.iterdir() if p.suffix == ".xml")


def both(body: bytes, content_type: str | None = None):
    try:
        reference = parse_feedparser(body, URL, content_type)
    except ParseError as exc:
        reference = ("refused", exc.problem)
    try:
        adopted = parse_feed(body, URL, content_type)
    except ParseError as exc:
        adopted = ("refused", exc.problem)
    return reference, adopted


@pytest.mark.parametrize("path", XML_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_parses_as_with_feedparser(path):
    reference, adopted = both(path.read_bytes())
    assert adopted == reference


def test_a_plain_feed_takes_the_fast_path():
    body = rss([("g1", "One", "<p>Hello</p>", "Ada", datetime(2024, 5, 1, tzinfo=UTC))])
    assert fastparse.parse_fast(body) is not None
    reference, adopted = both(body)
    assert adopted == reference and adopted.entries[0].title == "One"


@pytest.mark.parametrize(
    "body",
    [
        # other encodings, declared or by the HTTP charset below
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><item><title>caf\xe9</title></item></channel></rss>'.encode("latin-1"),
        '<rss version="2.0"><channel><item><title>café</title></item></channel></rss>'.encode("utf-16"),
        b'<rss version="2.0"><channel><item><title>caf\xe9</title></item></channel></rss>',
        # DOCTYPE, xml:base, base64, XHTML, RSS 1.0, Atom 0.3
        b'<!DOCTYPE rss><rss version="2.0"><channel><item><title>t</title></item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://a.example/"><updated>2024-01-01T00:00:00Z</updated></feed>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content><updated>2024-01-01T00:00:00Z</updated></entry><updated>2024-01-01T00:00:00Z</updated></feed>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><item><title>t</title></item></rdf:RDF>',
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title>t</title></entry></feed>',
        # ill-formed: feedparser's loose parser decides
        b'<rss version="2.0"><channel><item><title>a & b</title></item></channel></rss>',
        # naked markup, C1 controls, an <item> hidden in CDATA (count check)
        b'<rss version="2.0"><channel><item><description><p>x</p></description></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>don&#146;t</title></item></channel></rss>',
        b'<rss version="2.0"><channel><item><description><![CDATA[<item>]]></description></item></channel></rss>',
        # an Atom entry without <updated>: the two fill it differently
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:x:1</id><published>2024-01-01T00:00:00Z</published></entry></feed>',
        # a permalink guid that is not a URL: feedparser resolves it (audit)
        b'<rss version="2.0"><channel><item><guid>crane-1</guid><title>t</title><link>https://news.example.com/a</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><guid isPermaLink="true">crane-1</guid><title>t</title></item></channel></rss>',
        # entry links to loopback/private hosts, which feedparser-rs blanks (audit)
        b'<rss version="2.0"><channel><item><guid isPermaLink="false">g</guid><title>t</title><link>http://127.0.0.1:8080/post</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><guid isPermaLink="false">g</guid><title>t</title><link>http://localhost/post</link></item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><updated>2024-01-01T00:00:00Z</updated><entry><id>urn:x:1</id><title>t</title><link href="http://[::1]/post"/><updated>2024-01-01T00:00:00Z</updated></entry></feed>',
    ],
)  # fmt: skip
def test_the_gate_sends_the_corners_to_feedparser(body):
    assert fastparse.parse_fast(body) is None
    reference, adopted = both(body)
    assert adopted == reference


def test_an_entry_keeps_its_id_whichever_parser_reads_it():
    # A document that advertises a hub goes to feedparser; the id of a
    # non-URL permalink guid must not change with that (duplicates otherwise).
    plain = b'<rss version="2.0"><channel><title>t</title><link>https://news.example.com/</link><description>d</description><item><title>x</title><link>https://news.example.com/a</link><guid>crane-1</guid></item></channel></rss>'
    hub = plain.replace(
        b"<description>d</description>",
        b'<description>d</description><atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" href="https://hub.example.com/"/>',
    )
    ids = {parse_feed(body, URL).entries[0].id for body in (plain, hub)}
    assert len(ids) == 1
    # isPermaLink="false" keeps the fast path and the id as written.
    opaque = plain.replace(b"<guid>", b'<guid isPermaLink="false">')
    assert fastparse.parse_fast(opaque) is not None
    assert parse_feed(opaque, URL).entries[0].id == "crane-1"


def test_an_entry_link_to_a_loopback_host_is_kept():
    # Upstreams under test (and intranet feeds) link to 127.0.0.1:PORT; the
    # fast parser blanked those links, so articles lost their original URL.
    body = b'<rss version="2.0"><channel><item><guid isPermaLink="false">g</guid><title>t</title><link>http://127.0.0.1:8080/post</link></item></channel></rss>'
    assert parse_feed(body, URL).entries[0].link == "http://127.0.0.1:8080/post"


def test_a_non_utf8_http_charset_goes_to_feedparser():
    body = b'<rss version="2.0"><channel><item><title>t</title></item></channel></rss>'
    assert fastparse.parse_fast(body, "application/rss+xml; charset=utf-8") is not None
    assert fastparse.parse_fast(body, "application/rss+xml; charset=windows-1252") is None


def test_a_long_feed_goes_to_feedparser():
    item = "<item><guid>g{}</guid><title>t</title></item>"
    body = (
        '<rss version="2.0"><channel>'
        + "".join(item.format(i) for i in range(2001))
        + "</channel></rss>"
    ).encode()
    assert fastparse.parse_fast(body) is None
    # feedparser reads it; one poll keeps the first MAX_ENTRIES (feeds.upstream.parse).
    assert len(parse_feed(body, URL).entries) == MAX_ENTRIES


def test_a_url_body_is_never_fetched():
    # feedparser-rs fetches a *str* starting with http; we only ever pass bytes.
    with pytest.raises(ParseError):
        parse_feed(b"http://127.0.0.1:9/feed.xml", URL)


def rss(items, *, title="Upstream"):
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
    ]
    parts.append(f"<title>{escape(title)}</title><link>https://up.example/</link>")
    for guid, name, html, author, when in items:
        parts.append("<item>")
        if guid is not None:
            parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
        parts.append(
            f"<title>{escape(name)}</title><link>https://up.example/{escape(guid or 'x')}</link>"
        )
        parts.append(f"<description>{escape(html)}</description>")
        if author:
            parts.append(f"<dc:creator>{escape(author)}</dc:creator>")
        if when is not None:
            parts.append(f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def atom(items):
    parts = ['<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">',
             "<title>Up</title><id>urn:up</id><updated>2024-05-01T00:00:00Z</updated>"]  # fmt: skip
    for guid, name, html, author, when in items:
        stamp = (when or datetime(2024, 1, 1, tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(
            f'<entry><id>urn:x:{escape(guid or "none")}</id><title type="html">{escape(name)}</title>'
        )
        parts.append(
            f'<link href="https://up.example/{escape(guid or "x")}"/><updated>{stamp}</updated>'
        )
        parts.append(f'<content type="html">{escape(html)}</content>')
        if author:
            parts.append(f"<author><name>{escape(author)}</name></author>")
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode()


# Text an XML 1.0 document can hold (no surrogates, no C0/C1 controls).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)
HTML = st.one_of(TEXT, st.builds(lambda t: f"<p>{t}</p>", TEXT), st.just("<b>a</b> &amp; b"))
ITEM = st.tuples(
    st.one_of(st.none(), st.text("abc123-:", min_size=1, max_size=12)),
    TEXT, HTML, st.one_of(st.none(), TEXT),
    st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))),
)  # fmt: skip


# FASTPARSE_EXAMPLES=2000 for a longer hunt (make test keeps it short).
@settings(
    max_examples=int(os.environ.get("FASTPARSE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(ITEM, max_size=5), st.sampled_from([rss, atom]))
def test_generated_feeds_parse_as_with_feedparser(items, build):
    reference, adopted = both(build(items))
    assert adopted == reference
