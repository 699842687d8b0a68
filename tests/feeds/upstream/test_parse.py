"""feeds.upstream.parse over the fixture corpus in tests/data/upstream, plus hostile inputs.

Each fixture states what it expects in its header (an XML comment, or a
``_test`` member in JSON, which JSON Feed reserves for extensions):
``Expect:`` lines are Python expressions over ``feed``; ``Raises:`` is a
fragment of the ParseError message.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from feeds.errors import ParseError
from feeds.model import Author
from feeds.sanitize import clean_html
from feeds.upstream.jsonfeed import looks_like_json
from feeds.upstream.parse import entry_key, parse_feed

CORPUS = Path(__file__).parents[2] / "data" / "upstream"
FEED_URL = "https://feeds.example.com/news/feed.xml"
FIXTURES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".xml", ".json", ".html", ".txt"))
FIXTURES = [
    p for p in FIXTURES if p.name != "xss-vectors.txt" and not p.name.startswith("discover-")
]


def header(path: Path) -> tuple[str, list[str], str | None]:
    """(description, expectations, expected error fragment) of one fixture."""
    raw = path.read_bytes()
    if path.suffix == ".json":
        try:
            test = json.loads(raw)["_test"]
        except ValueError:  # a fixture of broken JSON keeps its header on line 1
            first_line = raw.split(b"\n")[0]
            test = json.loads(first_line[first_line.index(b":") + 1 :].rstrip(b", "))
        return test["description"], list(test.get("expect", [])), test.get("raises")
    declared = re.search(rb'encoding="([\w-]+)"', raw[:100])
    text = raw.decode(declared.group(1).decode() if declared else "utf-8")
    block = text[text.index("<!--") + 4 : text.index("-->")]
    fields: dict[str, list[str]] = {}
    for line in block.strip().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), []).append(value.strip())
    return fields["Description"][0], fields.get("Expect", []), (fields.get("Raises") or [None])[0]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(path: Path) -> None:
    description, expectations, raises = header(path)
    assert expectations or raises, f"{path.name} states no expectation"
    body = path.read_bytes()
    if raises:
        started = time.monotonic()
        with pytest.raises(ParseError) as caught:
            parse_feed(body, FEED_URL)
        assert raises in str(caught.value), description
        assert str(caught.value).startswith(f"parse {FEED_URL}: ")
        assert time.monotonic() - started < 1, "refusing must be quick"
        return
    feed = parse_feed(body, FEED_URL)
    scope = {
        "feed": feed,
        "datetime": datetime,
        "UTC": UTC,
        "Author": Author,
        "entry_key": entry_key,
        "clean_html": clean_html,
    }
    for expectation in expectations:
        assert eval(expectation, scope), f"{path.name}: {description}: {expectation}\n{feed!r}"


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf"])
def test_empty_documents(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty document|not an RSS"):
        parse_feed(body, FEED_URL)


def test_a_body_that_is_a_file_name_is_not_opened(tmp_path: Path) -> None:
    # Given bytes, feedparser would first try open(body); we hand it a stream.
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><title>SECRET-31337</title></channel></rss>')
    with pytest.raises(ParseError):
        parse_feed(str(secret).encode(), FEED_URL)


def test_external_dtd_and_its_entities_are_never_loaded(
    tmp_path: Path, httpserver_ipv4: HTTPServer
) -> None:
    """A DTD by file and by URL, declaring a file entity: no read, no request."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-31337")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "file://{secret}">')
    httpserver_ipv4.expect_request("/evil.dtd").respond_with_data(dtd.read_text())
    for system_id in (f"file://{dtd}", httpserver_ipv4.url_for("/evil.dtd")):
        body = (
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{system_id}">'
            '<rss version="2.0"><channel><title>t &leak;</title>'
            "<item><title>&leak;</title><description>&leak;</description></item>"
            "</channel></rss>"
        ).encode()
        feed = parse_feed(body, FEED_URL)
        assert "SECRET" not in repr(feed)
    assert httpserver_ipv4.log == []


def test_utf16_cannot_smuggle_an_entity_declaration() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-16"?>'
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<rss version="2.0"><channel><title>&xxe;</title></channel></rss>'
    ).encode("utf-16")
    with pytest.raises(ParseError, match="XXE"):
        parse_feed(body, FEED_URL)


def test_utf16_feed_parses() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ünï</title></channel></rss>'
    assert parse_feed(body.encode("utf-16"), FEED_URL).title == "Ünï"


def test_entity_bombs_cost_neither_time_nor_memory() -> None:
    levels = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 30))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{levels}]>'
        '<rss version="2.0"><channel><title>&l29;</title></channel></rss>'
    ).encode()
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(ParseError):
        parse_feed(body, FEED_URL)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 5_000_000


def test_content_type_json_is_read_as_json_feed() -> None:
    body = b'  \n{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}'
    assert parse_feed(body, FEED_URL, "application/feed+json; charset=utf-8").format == "json11"
    assert parse_feed(body, FEED_URL, None).format == "json11"
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_feed(b'{"version": ', FEED_URL, "application/json")


@pytest.mark.parametrize("label", ["application/json", "application/feed+json; charset=utf-8"])
def test_an_xml_feed_labelled_json_is_read_as_xml(label) -> None:
    """Every other wrong label was looked past; this one gave "invalid JSON"."""
    body = (CORPUS / "rss20-basic.xml").read_bytes()
    assert parse_feed(b"\xef\xbb\xbf\n" + body, FEED_URL, label).title == "Harbour Wire"


def test_deeply_nested_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="invalid JSON|not a JSON Feed"):
        parse_feed(b"[" * 100_000 + b"]" * 100_000, FEED_URL, "application/json")


def test_misleading_content_type_does_not_stop_a_feed() -> None:
    body = (CORPUS / "rss20-basic.xml").read_bytes()
    assert parse_feed(body, FEED_URL, "text/html; charset=utf-8").title == "Harbour Wire"


def test_entry_key_prefers_id_then_link_then_content() -> None:
    feed = parse_feed((CORPUS / "rss20-missing-id-and-title.xml").read_bytes(), FEED_URL)
    first = entry_key(feed.entries[0])
    again = parse_feed((CORPUS / "rss20-missing-id-and-title.xml").read_bytes(), FEED_URL)
    assert entry_key(again.entries[0]) == first  # stable across parses


def test_a_guid_that_is_no_address_is_no_link() -> None:
    # isPermaLink defaults to true, so feedparser makes a guid the link and
    # resolves it: "12345" became https://host/12345, an original URL that
    # never was. An absolute URL or a path from the root is still a link.
    body = (
        b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
        b"<title>t</title><link>https://x.example/</link><description>d</description>"
        b"<item><title>a</title><guid>12345</guid></item>"
        b"<item><title>b</title><guid>https://x.example/posts/b</guid></item>"
        b"<item><title>c</title><guid>/posts/c</guid></item>"
        b"<item><title>d</title><guid>n-2</guid><link>https://x.example/d</link></item>"
        b"</channel></rss>"
    )
    links = {e.title: e.link for e in parse_feed(body, "https://up.example/feed.xml").entries}
    assert links == {
        "a": None,
        "b": "https://x.example/posts/b",
        "c": "https://up.example/posts/c",
        "d": "https://x.example/d",
    }


@pytest.mark.fuzz
@given(
    body=st.binary(max_size=40),
    label=st.none()
    | st.sampled_from(
        ["application/json", "application/feed+json", "text/html", "application/xml", ""]
    ),
)
def test_what_a_body_starts_with_decides_over_its_label(body, label):
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    verdict = looks_like_json(body, label)
    if first == b"<":
        assert verdict is False
    elif first == b"{":
        assert verdict is True
    else:
        assert verdict == (label or "").endswith("json")
