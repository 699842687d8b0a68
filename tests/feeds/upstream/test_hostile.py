"""Hostile upstream values: each costs at most its own field, never the refresh.

One test (or table) per class of defect found in review; each failed before
the fix it covers (see /work/wt/notes/harden.md).
"""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from feeds.errors import ParseError
from feeds.httpdate import parse_http_date
from feeds.lenient import parse_count, parse_rfc3339, safe_etag
from feeds.model import Entry, Feed, Validators
from feeds.render import render_atom
from feeds.sanitize import to_text
from feeds.upstream.fetch import _conditional_headers
from feeds.upstream.guard import blocked_reason
from feeds.upstream.parse import MAX_AUTHORS, MAX_ENTRIES, parse_feed
from feeds.upstream.schedule import CacheHints, cache_hints, next_fetch, parse_retry_after

URL = "https://feeds.example.com/feed"
NOW = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        (" 42\n", 42),
        ("٣", None),  # Arabic-Indic three: str.isdigit() is True
        ("²", None),  # superscript two: isdigit() True, int() raises
        ("1_0", None),  # int() reads 10
        ("-1", None),
        ("+1", None),
        ("1e3", None),
        ("", None),
        ("9" * 5000, 100),  # clamped, and no 4,300-digit int() limit hit
        (None, None),
        (7, None),
    ],
)
def test_parse_count_reads_ascii_digits_only(raw: object, expected: int | None) -> None:
    assert parse_count(raw, 100) == expected


@pytest.mark.parametrize("value", ["²", "٣", "1_0", "\u0663600", "9" * 5000])
def test_hostile_numeric_headers_never_raise(value: str) -> None:
    hints = cache_hints(
        cache_control=f"max-age={value}", expires=None, age=value, retry_after=value, now=NOW
    )
    when = next_fetch(NOW, interval=timedelta(minutes=15), hints=hints)
    assert NOW < when < NOW + timedelta(days=400)
    retry = parse_retry_after(value, NOW)
    assert retry is None or retry > NOW


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 31 Dec 9999 23:59:59 -0500",
        "Sun, 06 Nov 1994 08:49:37 +9999",
        "\x00\x01",
        "Mon, 99 Foo 2024 99:99:99 GMT",
        "x" * 10000,
    ],
)
def test_http_dates_out_of_range_are_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_year_one_with_an_offset_does_not_raise() -> None:
    # email.utils reads a year below 100 as 20xx; anything but an exception will do.
    parsed = parse_http_date("Mon, 01 Jan 0001 00:00:00 +0100")
    assert parsed is None or parsed.tzinfo is not None


def test_expires_far_from_date_does_not_overflow() -> None:
    hints = cache_hints(
        cache_control=None,
        expires="Fri, 31 Dec 9998 23:59:59 GMT",
        age=None,
        retry_after=None,
        date="Mon, 01 Jan 0002 00:00:00 GMT",
        now=NOW,
    )
    assert next_fetch(NOW, interval=timedelta(minutes=15), hints=hints) > NOW


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "٢٠٢٠-01-01", "junk"]
)
def test_rfc3339_out_of_range_is_none(value: str) -> None:
    assert parse_rfc3339(value) is None


def test_max_age_is_a_floor_jitter_never_undercuts() -> None:
    """Cache-Control: max-age=7200 with a 15-minute interval: never before 2 h."""

    class Lowest:
        def uniform(self, a: float, b: float) -> float:
            return a

    hints = CacheHints(max_age=timedelta(hours=2))
    when = next_fetch(NOW, interval=timedelta(minutes=15), hints=hints, rng=Lowest())
    assert when - NOW >= timedelta(hours=2)


RSS_DATES = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<ttl>\xc2\xb2</ttl><pubDate>Mon, 01 Jan 0001 00:00:00 +0100</pubDate>
<item><title>one</title><guid>1</guid><pubDate>Mon, 01 Jan 0001 00:00:00 +0100</pubDate></item>
<item><title>two</title><guid>2</guid><pubDate>Fri, 31 Dec 9999 23:59:59 -0500</pubDate></item>
</channel></rss>"""

ATOM_DATES = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>t</title><id>x</id><updated>0001-01-01T00:00:00+01:00</updated>
<entry><id>1</id><title>a</title><updated>0001-01-01T00:00:00+05:00</updated></entry>
<entry><id>2</id><title>b</title><updated>9999-12-31T23:59:59-05:00</updated></entry></feed>"""


@pytest.mark.parametrize("body", [RSS_DATES, ATOM_DATES], ids=["rss", "atom"])
def test_feed_with_hostile_dates_and_ttl_parses(body: bytes) -> None:
    feed = parse_feed(body, URL)
    assert [(e.id or "")[-1:] for e in feed.entries] == ["1", "2"]
    assert feed.ttl_minutes is None
    for entry in feed.entries:
        for moment in (entry.published, entry.updated):
            assert moment is None or 1 < moment.year < 9999


JSON_WRONG_TYPES = [
    {"title": 5, "items": [{"id": 1, "title": ["x"], "url": 3, "tags": "abc"}]},
    {"items": [{"id": {"a": 1}, "authors": {"name": "x"}, "content_html": {"a": 1}}]},
    {"items": [{"id": 1e400, "author": {"name": 5}, "tags": [1, None, {}], "summary": 7}]},
    {"items": [{"id": True, "date_published": "0001-01-01T00:00:00+01:00"}]},
    {"items": [{"id": "x", "date_modified": 20240101, "content_text": ["a"]}]},
    {"items": [{"id": "x", "date_published": "\u0662\u0660\u0662\u0660-01-01T00:00:00Z"}]},
    {"items": [{"id": "x", "authors": [{"name": ["a"], "url": {}}, "Bob", None]}]},
    {"home_page_url": [], "feed_url": {}, "author": "me", "items": [5, None, "x", {"id": "y"}]},
]


@pytest.mark.parametrize("doc", JSON_WRONG_TYPES)
def test_json_feed_wrong_types_are_ignored(doc: dict[str, object]) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", **doc}
    feed = parse_feed(json.dumps(doc).encode(), URL)
    for entry in feed.entries:
        assert entry.id is None or isinstance(entry.id, str)
        assert entry.id not in ("inf", "True")
        assert all(len(tag) > 1 or tag.isalnum() for tag in entry.categories)
    tags = [t for e in feed.entries for t in e.categories]
    assert tags in ([], ["1"]) or "a" not in tags  # "abc" is not three tags


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ('"abc"', '"abc"'),
        ('W/"abc"', 'W/"abc"'),
        ("abc", "abc"),  # unquoted: sent back as it came
        ('"caf\u00e9"', None),  # non-ASCII: cannot go back into a header everywhere
        ('"a\r\nX-Evil: 1"', None),
        ('"' + "a" * 5000 + '"', None),
        ('"a"b"', None),
        ("", None),
    ],
)
def test_etag_is_made_safe_to_send_back(raw: str, sent: str | None) -> None:
    assert safe_etag(raw) == sent
    headers = _conditional_headers(Validators(etag=raw))
    assert headers.get("If-None-Match") == sent


@pytest.mark.parametrize("pattern", ["<a b='", "<!--", "<a", "</", "<?", "<![", "<a\n"])
def test_markup_in_titles_is_read_in_linear_time(pattern: str) -> None:
    """Python's HTMLParser was cubic on these (40k × "<a b='": minutes)."""
    for text in (pattern * 200_000, pattern * 100):
        started = time.monotonic()
        to_text(text, 1000)
        to_text(text[:20_000], None)
        assert time.monotonic() - started < 1.0, pattern


def test_huge_markup_title_in_a_feed_is_bounded() -> None:
    title = "&lt;a b='" * 100_000
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><guid>1</guid><author>a@b.c ({title})</author></item>"
        "</channel></rss>"
    ).encode()
    started = time.monotonic()
    feed = parse_feed(body, URL)
    assert time.monotonic() - started < 10
    assert len(feed.entries[0].title or "") <= 1000


@pytest.mark.parametrize(
    "field",
    [
        "<author>{x}</author>",
        "<author>{x}@</author>",
        "<dc:creator>{x}</dc:creator>",
        "<itunes:author>{x}</itunes:author>",
    ],
)
def test_long_author_strings_are_read_in_bounded_time(field: str) -> None:
    """feedparser's e-mail search in an author was quadratic: 120 kB took ten minutes."""
    run = "A" * 400_000
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>t</title>'
        f"<managingEditor>{run}</managingEditor><webMaster>{run}@</webMaster>"
        f"<item><title>x</title><guid>1</guid>{field.format(x=run)}</item>"
        "<item><title>y</title><guid>2</guid><author>desk@wire.example (Lena Hart)</author></item>"
        "</channel></rss>"
    ).encode("latin-1")
    started = time.monotonic()
    feed = parse_feed(body, URL)
    assert time.monotonic() - started < 10
    long_one, plain = sorted(feed.entries, key=lambda e: e.id or "")
    assert all(len(a.name) <= 200 for a in long_one.authors)
    assert [a.name for a in plain.authors] == ["Lena Hart"]  # short ones read as ever


ENTITY_DOC = """<?xml version="1.0" encoding="{enc}"?>
<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<rss version="2.0"><channel><title>&b;</title><item><title>x</title></item></channel></rss>"""


@pytest.mark.parametrize(
    ("enc", "codec", "bom"),
    [
        ("utf-16", "utf-16-le", b"\xff\xfe"),
        ("utf-16", "utf-16-be", b"\xfe\xff"),
        ("utf-16le", "utf-16-le", b""),
        ("utf-32", "utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32be", "utf-32-be", b""),
        ("cp037", "cp037", b""),  # EBCDIC: "<" is 0x4C
        ("cp500", "cp500", b""),
        ("utf-7", "utf-7", b""),
    ],
)
@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset={enc}", "text/xml"])
def test_entity_guard_works_in_every_encoding(
    enc: str, codec: str, bom: bytes, content_type: str | None
) -> None:
    body = bom + ENTITY_DOC.format(enc=enc).encode(codec)
    with pytest.raises(ParseError, match="entit"):
        parse_feed(body, URL, content_type.format(enc=enc) if content_type else None)


def test_plain_utf16_feed_still_parses() -> None:
    doc = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ünï</title>'
    doc += "<item><title>x</title><guid>1</guid></item></channel></rss>"
    feed = parse_feed(b"\xff\xfe" + doc.encode("utf-16-le"), URL)
    assert feed.title == "Ünï"


def test_entries_and_authors_per_poll_are_capped() -> None:
    items = "".join(
        f"<item><guid>{i}</guid><title>t{i}</title><author>x@y.z (Person {i})</author></item>"
        for i in range(MAX_ENTRIES + 300)
    )
    body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    feed = parse_feed(body, URL)
    assert len(feed.entries) == MAX_ENTRIES
    names = {a.name for e in feed.entries for a in e.authors}
    assert len(names) == MAX_AUTHORS
    assert (feed.entries[0].id or "").endswith("/0")


def test_json_feed_entries_are_capped_too() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": str(i), "authors": [{"name": f"P{i}"}]} for i in range(2000)],
    }
    feed = parse_feed(json.dumps(doc).encode(), URL)
    assert len(feed.entries) == MAX_ENTRIES
    assert len({a.name for e in feed.entries for a in e.authors}) == MAX_AUTHORS


def test_past_the_cap_the_newest_entries_are_kept_whatever_the_order() -> None:
    """Neither RSS nor Atom orders entries: an oldest-first feed keeps its newest ones."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    count = MAX_ENTRIES + 100

    def item(i: int) -> str:
        when = (base + timedelta(hours=i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return f"<item><guid>n{i}</guid><title>t{i}</title><pubDate>{when}</pubDate></item>"

    undated = "<item><guid>undated</guid><title>no date</title></item>"
    for order in (range(count), range(count - 1, -1, -1)):
        items = undated + "".join(item(i) for i in order)
        body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
        feed = parse_feed(body, URL)
        ids = [(e.id or "").rsplit("/", 1)[-1] for e in feed.entries]
        assert len(ids) == MAX_ENTRIES
        assert set(ids) == {
            f"n{i}" for i in range(count - MAX_ENTRIES, count)
        }  # undated ranks last
        # ... and in the document's own order.
        assert ids == [i for i in (f"n{j}" for j in order) if i in set(ids)]


def test_nul_characters_never_leave_the_parser() -> None:
    """``&#0;`` is no XML character, but a tolerant parser reads it; PostgreSQL cannot store it."""
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f&#0;eed</id><title>T&#0;</title>'
        b"<entry><id>urn:g&#0;1</id><title>x&#0;y</title><link href='https://a.example/p&#0;'/>"
        b"<author><name>A&#0;da</name><uri>https://a.example/&#0;ada</uri></author>"
        b"<content type='html'>&lt;p&gt;b&#0;ody&lt;/p&gt;</content></entry></feed>"
    )
    feed = parse_feed(body, URL)
    assert feed.entries, "the document is read, not refused"
    entry = feed.entries[0]
    assert entry.id == "urn:g1" and feed.id == "urn:feed"
    assert [a.name for a in entry.authors] == ["Ada"]
    every = [feed.title, feed.id, feed.link, entry.title, entry.link, entry.content_html]
    every += [a.url for a in entry.authors]
    assert all("\x00" not in (value or "") for value in every)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J\u0000",
        "items": [{"id": "j\u00001", "content_html": "<p>x\u0000</p>"}],
    }
    json_feed = parse_feed(json.dumps(doc).encode(), URL)
    assert json_feed.title == "J" and json_feed.entries[0].id == "j1"
    assert "\x00" not in (json_feed.entries[0].content_html or "")


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:0:7f00:1",  # IPv4-translated loopback (RFC 2765)
        "::ffff:0:a00:1",
        "::ffff:0:808:808",  # translated, public inside: still not routable
        "2001:db8:1::5efe:7f00:1",
        "2a00:1450::200:5efe:a9fe:a9fe",  # ISATAP carrying 169.254.169.254
        "64:ff9b::a9fe:a9fe",
        "0:0:1::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::",
    ],
)
def test_guard_sees_every_ipv6_spelling_of_ipv4(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "64:ff9b::808:808", "2a00:1450::200e"])
def test_guard_still_allows_public_embeddings(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_atom_entry_without_text_gets_a_summary() -> None:
    moment = datetime(2024, 5, 14, tzinfo=UTC)
    entry = Entry(
        id="urn:uuid:1",
        title="Only a title",
        link="https://example.com/a",
        published=moment,
        updated=moment,
    )
    feed = Feed(
        id="urn:x",
        title="t",
        description="d",
        self_url="https://example.com/feed",
        link="https://example.com/",
        updated=moment,
        entries=(entry,),
    )
    root = etree.fromstring(render_atom(feed).body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    item = root.find("a:entry", ns)
    assert item is not None
    texts = item.findall("a:summary", ns) + item.findall("a:content", ns)
    assert texts and texts[0].text == "Only a title"


@pytest.mark.parametrize("url", ["https://[]/", "http://[::1", "http://[v1.x]/"])
def test_check_url_raises_only_feed_errors(url: str) -> None:
    from feeds.errors import FeedError
    from feeds.upstream.guard import Allowlist, check_url

    with pytest.raises(FeedError):
        check_url(url, Allowlist())


def test_json_feed_escapes_for_nul_and_surrogates_are_dropped_everywhere() -> None:
    # JSON may spell what XML cannot carry ("\u0000", a lone "\ud800"); found
    # by the audit as a source named "JSON upstream \x00 nul" — PostgreSQL
    # refuses such text, so the whole poll of that source failed.
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON\u0000 upstream\u0007 \ud800x",
        "items": [
            {
                "id": "a\u0000b",
                "url": "https://example.com/\u0000x",
                "title": "It\u0000em\u001b",
                "content_text": "c\u0000t\nline",
                "summary": "s\u0000um",
                "authors": [{"name": "N\u0000ame"}],
                "tags": ["t\u0000ag"],
            }
        ],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://example.com/f.json", "application/json")
    entry = feed.entries[0]
    assert feed.title == "JSON upstream x"
    assert (entry.id, entry.title, entry.link) == ("ab", "Item", "https://example.com/x")
    assert entry.content_html == "ct<br>line"
    assert entry.summary_html == "sum"
    assert [a.name for a in entry.authors] == ["Name"]
    assert entry.categories == ("tag",)


@pytest.mark.parametrize(
    "ref", [b"&#xD800;", b"&#xdfff;", b"&#55296;", b"&#x110000;", b"&#99999999;"]
)
def test_a_reference_to_no_character_is_read_as_a_replacement_character(ref):
    """XML forbids them; the tolerant parser used to fail the feed with an encoding error."""
    from feeds.upstream.parse import parse_feed, parse_feedparser

    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<link>https://up.example/</link><item><title>Before " + ref + b" after &#8217;</title>"
        b"<guid>g1</guid><description>Text</description></item></channel></rss>"
    )
    for parse in (parse_feed, parse_feedparser):
        feed = parse(body, "https://up.example/feed")
        assert feed.entries[0].title == "Before \ufffd after \u2019"
