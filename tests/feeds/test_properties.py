"""Property-based tests: arbitrary and adversarial input raises only our own errors, fast.

``make test`` runs a bounded number of examples (HYPOTHESIS_PROFILE=ci, the
default, set in tests/conftest.py); ``make fuzz`` runs the same properties
with many more examples (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.conditional import choose_encoding, not_modified
from feeds.errors import FeedError, ParseError
from feeds.httpdate import parse_http_date
from feeds.lenient import parse_count, parse_rfc3339, safe_etag
from feeds.sanitize import clean_html, safe_url, to_text
from feeds.upstream.discover import find_feed_links
from feeds.upstream.guard import Allowlist, blocked_reason, check_url
from feeds.upstream.opml import parse_opml
from feeds.upstream.parse import parse_feed
from feeds.upstream.schedule import cache_hints, next_fetch

P = ParamSpec("P")
R = TypeVar("R")
pytestmark = pytest.mark.fuzz
NOW = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)
URL = "https://feeds.example.com/feed"
# Seconds one example may take: generous for a shared 2-core machine, far
# below what the quadratic and cubic readers this guards against took.
BOUND = 5.0

# Pieces that have broken parsers before: markup starts, odd digits, dates at
# the ends of the calendar, encodings, entity declarations.
TOKENS = [
    "<", ">", "&", "&amp;", "&#x", "<!--", "-->", "<![CDATA[", "]]>", "<a b='", "</", "<?",
    "<!DOCTYPE x [", '<!ENTITY a "', "&a;", "]>", "٣", "²", "1_0", "0001", "9999", "+0100",
    "-2359", "T", "Z", ":", "\x00", "\ufeff", "http://", "[::1", "]", "%", "@", " ", "\n",
    "<title>", "</title>", "<item>", "</item>", "<entry>", "<ttl>", "<pubDate>",
]  # fmt: skip
fragments = st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=40).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def timed(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    started = time.monotonic()
    result = fn(*args, **kwargs)
    assert time.monotonic() - started < BOUND, getattr(fn, "__name__", "call")
    return result


def strings_of(value: object) -> list[str]:
    """Every string in a parsed feed (dataclasses, tuples), however deep."""
    import dataclasses

    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [text for item in value for text in strings_of(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [t for f in dataclasses.fields(value) for t in strings_of(getattr(value, f.name))]
    return []


@given(st.binary(max_size=2000))
def test_parse_feed_arbitrary_bytes(body: bytes) -> None:
    with contextlib.suppress(ParseError):
        timed(parse_feed, body, URL)


@given(fragments, fragments, fragments)
def test_parse_rss_with_hostile_fields(title: str, date: str, ttl: str) -> None:
    from xml.sax.saxutils import escape

    body = (
        f'<rss version="2.0"><channel><title>{escape(title)}</title><ttl>{escape(ttl)}</ttl>'
        f"<item><title>{escape(title)}</title><pubDate>{escape(date)}</pubDate>"
        f"<author>{escape(title)}</author><description>{escape(title)}</description>"
        "</item></channel></rss>"
    ).encode("utf-8", "replace")
    try:
        feed = timed(parse_feed, body, URL)
    except ParseError:
        return
    assert feed.ttl_minutes is None or feed.ttl_minutes >= 0
    assert not any("\x00" in text for text in strings_of(feed))  # PostgreSQL cannot store one


@given(st.dictionaries(st.sampled_from(["id", "title", "url", "tags", "authors", "author",
                                        "date_published", "date_modified", "content_html",
                                        "content_text", "summary", "external_url"]),
                       json_values))  # fmt: skip
def test_json_feed_items_of_any_type(item: dict[str, object]) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [item], "title": item.get("id")}
    try:
        feed = timed(parse_feed, json.dumps(doc).encode(), URL)
    except ParseError:
        return
    assert not any("\x00" in text for text in strings_of(feed))  # PostgreSQL cannot store one


@given(fragments, st.sampled_from(["utf-8", "utf-16", "utf-32", "cp037", "latin-1"]))
def test_parse_in_any_encoding(text: str, codec: str) -> None:
    doc = f'<?xml version="1.0" encoding="{codec}"?><rss version="2.0"><channel>{text}</channel></rss>'
    with contextlib.suppress(ParseError):
        timed(parse_feed, doc.encode(codec, "replace"), URL)


@given(st.text(max_size=300) | fragments)
def test_lenient_readers_never_raise(value: str) -> None:
    count = parse_count(value, 1000)
    assert count is None or 0 <= count <= 1000
    for parsed in (parse_http_date(value), parse_rfc3339(value)):
        assert parsed is None or (parsed.tzinfo is not None and 1 < parsed.year < 9999)
    etag = safe_etag(value)
    assert etag is None or (etag.isascii() and "\n" not in etag and len(etag) <= 512)


@given(fragments, fragments, fragments, fragments, st.integers(0, 40))
def test_schedule_never_raises_and_stays_bounded(
    cache_control: str, age: str, retry_after: str, expires: str, errors: int
) -> None:
    hints = cache_hints(
        cache_control=cache_control, expires=expires, age=age, retry_after=retry_after,
        date=expires, now=NOW,
    )  # fmt: skip
    when = next_fetch(NOW, interval=timedelta(minutes=15), hints=hints, errors=errors)
    assert NOW < when <= NOW + timedelta(days=400)
    if errors == 0 and hints.max_age is not None and hints.retry_after is None:
        assert when - NOW >= min(hints.max_age, timedelta(hours=12))


@given(fragments, fragments, st.text(max_size=50))
def test_conditional_requests_never_raise(inm: str, ims: str, accept: str) -> None:
    not_modified('"abc"', NOW, inm, None)
    not_modified('"abc"', NOW, None, ims)
    assert choose_encoding(accept) in ("br", "gzip", "identity")


@given(fragments | st.text(max_size=300))
def test_sanitizer_never_raises_and_never_emits_script(html: str) -> None:
    cleaned = timed(clean_html, html, "https://example.com/a/")
    assert "<script" not in cleaned.lower()
    assert "javascript:" not in cleaned.lower()
    text = timed(to_text, html, 100)
    assert len(text) <= 100
    safe_url(html, "https://example.com/")


@given(fragments | st.text(max_size=200))
def test_discovery_never_raises(html: str) -> None:
    for link in timed(find_feed_links, html.encode("utf-8", "replace"), "https://e.example/"):
        assert link.url.startswith(("http://", "https://"))


@given(st.integers(0, 2**32 - 1) | st.integers(0, 2**128 - 1))
def test_guard_judges_every_address(value: int) -> None:
    ip = ipaddress.IPv4Address(value) if value < 2**32 else ipaddress.IPv6Address(value)
    blocked_reason(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ipaddress.IPv6Address(0xFFFF00000000 | (value & 0xFFFFFFFF))
        translated = ipaddress.IPv6Address(0xFFFF0000000000000000 | (value & 0xFFFFFFFF))
        inner = ipaddress.IPv4Address(value & 0xFFFFFFFF)
        if blocked_reason(inner) is not None:
            assert blocked_reason(mapped) is not None
            assert blocked_reason(translated) is not None


@given(st.text(max_size=80) | fragments)
def test_check_url_raises_only_feed_errors(tail: str) -> None:
    for url in (tail, f"http://{tail}", f"https://[{tail}]/"):
        with contextlib.suppress(FeedError):
            check_url(url, Allowlist())


@given(fragments | st.text(max_size=200))
def test_opml_raises_only_parse_errors(text: str) -> None:
    for doc in (text, f"<opml><body>{text}</body></opml>", f'<outline xmlUrl="{text}"/>'):
        with contextlib.suppress(ParseError):
            timed(parse_opml, doc.encode("utf-8", "replace"))


@given(st.none() | st.text(max_size=300), st.none() | st.text(max_size=60))
def test_any_precondition_headers_are_judged_without_raising(if_match, if_unmodified_since):
    from feeds.conditional import precondition_failed

    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    failed = precondition_failed("abc123", when, if_match, if_unmodified_since)
    assert isinstance(failed, bool)
    if if_match is None and if_unmodified_since is None:
        assert not failed  # no precondition, nothing to fail
    if if_match is not None and if_match.strip() == "*":
        assert not failed  # the feed exists


@given(
    st.sampled_from(["", "-gzip", "-br"]),
    st.lists(st.from_regex(r'"[a-z0-9]{1,10}"', fullmatch=True), max_size=4),
)
def test_if_match_passes_for_any_coding_of_the_current_tag_among_others(suffix, others):
    from feeds.conditional import precondition_failed

    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    header = ", ".join([*others, f'"abc123{suffix}"'])
    assert not precondition_failed("abc123", when, header, None)
    assert precondition_failed("abc123", when, f'W/"abc123{suffix}"', None)  # weak: never


@given(st.integers(min_value=0, max_value=1500), st.sampled_from(["", "-gzip", "-br"]))
def test_the_current_tag_anywhere_in_a_long_if_none_match_list_is_a_304(before: int, suffix: str):
    """RFC 9110 §13.1.2: any listed tag that matches; a list of 1,000 (36 kB) was cut at 8 kB."""
    others = ", ".join(f'"stale-{i:06d}"' for i in range(before))
    header = f'{others}, "v42{suffix}"' if others else f'"v42{suffix}"'
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    assert not_modified('"v42"', stamp, header, None)
    assert not not_modified('"v43"', stamp, header, None)


@given(st.text(max_size=80) | st.from_regex(r"(urn|tag|https?):[ -~]{0,40}", fullmatch=True))
def test_a_feed_identifier_is_kept_whole_or_not_at_all(value: str) -> None:
    from feeds.render.values import feed_identifier

    kept = feed_identifier(value)
    assert kept is None or kept == value
    if kept is not None:  # an identifier is URI characters only, with its scheme
        assert kept.isascii() and " " not in kept and ":" in kept
