"""A document cut short in transfer is refused, not read up to its half-written last entry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import ParseError
from feeds.upstream.parse import parse_feed, parse_feedparser

ITEMS = "".join(
    f"<item><title>Story {i}</title><guid>g{i}</guid>"
    f"<description>What happened in story {i}.</description></item>"
    for i in range(5)
)
RSS = (
    '<?xml version="1.0"?><!-- made by hand -->\n<rss version="2.0"><channel><title>T</title>'
    f"<link>https://up.example/</link>{ITEMS}</channel></rss>\n"
).encode()
ENTRIES = "".join(
    f"<entry><id>tag:up.example,2026:{i}</id><title>Report {i}</title>"
    f"<updated>2026-03-0{i + 1}T10:00:00Z</updated><summary>Text {i}</summary></entry>"
    for i in range(5)
)
ATOM = (
    '<?xml version="1.0" encoding="utf-8"?><a:feed xmlns:a="http://www.w3.org/2005/Atom">'
    f"<a:title>T</a:title><a:id>tag:up.example,2026:feed</a:id>{ENTRIES.replace('<', '<a:').replace('<a:/', '</a:')}"
    "</a:feed>"
).encode()


@pytest.mark.parametrize("doc", [RSS, ATOM], ids=["rss", "atom-prefixed"])
def test_whole_documents_and_trailing_junk_are_read(doc):
    for body in (doc, doc + b"<!-- cached 0.2s -->\n", doc + b"\nWarning: junk from PHP"):
        assert len(parse_feed(body, "https://up.example/feed").entries) == 5


@pytest.mark.parametrize("doc", [RSS, ATOM], ids=["rss", "atom-prefixed"])
@given(cut=st.integers(min_value=60, max_value=10_000))
def test_a_document_cut_anywhere_before_its_root_closes_is_refused(doc, cut):
    end = doc.rindex(b"</") - 1  # anywhere up to the last byte before the closing tag
    body = doc[: 60 + cut % (end - 60)]
    for parse in (parse_feed, parse_feedparser):
        with pytest.raises(ParseError, match="ends before its <"):
            parse(body, "https://up.example/feed")


def test_documents_of_other_roots_or_encodings_are_not_judged():
    utf16 = RSS.decode().replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>', 1)
    cut16 = utf16.encode("utf-16")[:-40]  # cut, but in UTF-16: left to the parsers
    try:
        parse_feed(cut16, "https://up.example/feed")
    except ParseError as exc:
        assert "ends before" not in str(exc)
