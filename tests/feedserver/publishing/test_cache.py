"""The render cache and the one writer of feed answers (publishing.cache), directly."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import brotli

from feedserver.publishing.cache import (
    STATUS_304,
    CachedFeed,
    FeedAnswer,
    FeedCache,
    FeedVersion,
    feed_answer,
)

WHEN = datetime(2026, 11, 24, 10, 0, 0, 123_456, tzinfo=UTC)
VERSION = FeedVersion(etag="abc123", last_modified=WHEN, max_age=300)
ATOM = "application/atom+xml; charset=utf-8"


def test_variants_are_made_once_and_counted() -> None:
    feed = CachedFeed(b"<feed>" + b"x" * 1000 + b"</feed>", ATOM)
    assert feed.encoded("identity") is feed.body and feed.size == len(feed.body)
    zipped = feed.encoded("gzip")
    assert gzip.decompress(zipped) == feed.body and feed.encoded("gzip") is zipped
    assert brotli.decompress(feed.encoded("br")) == feed.body
    assert feed.size == len(feed.body) + len(zipped) + len(feed.encoded("br"))


def test_lru_is_bounded_by_bytes_and_keeps_what_was_used() -> None:
    cache = FeedCache(max_bytes=300)
    for n in range(3):
        cache.put(("k", n), CachedFeed(bytes(100), ATOM))
    assert cache.get(("k", 0)) is not None  # now the most recently used
    cache.put(("k", 3), CachedFeed(bytes(100), ATOM))
    assert cache.get(("k", 1)) is None  # the least recently used went
    assert all(cache.get(("k", n)) is not None for n in (0, 2, 3))
    # Order of use is now 0, 2, 3. A compressed variant of 3 pushes the total
    # over: the least recently used go until it fits.
    cache.grew(("k", 3), 150)
    assert cache.get(("k", 0)) is None and cache.get(("k", 2)) is None
    assert cache.get(("k", 3)) is not None
    cache.grew(("gone",), 10_000)  # an entry dropped meanwhile: nothing to count
    cache.clear()
    assert cache.get(("k", 3)) is None


def test_one_oversized_entry_is_still_kept() -> None:
    cache = FeedCache(max_bytes=10)
    cache.put(("big",), CachedFeed(bytes(100), ATOM))
    assert cache.get(("big",)) is not None


def test_a_200_answer_in_the_order_the_site_sends() -> None:
    feed = CachedFeed(b"<feed/>", ATOM)
    answer = feed_answer(VERSION, "identity", secure=False, feed=feed)
    assert answer.body == b"<feed/>"
    assert answer.headers200 == [
        ("ETag", '"abc123"'),
        ("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT"),
        ("Cache-Control", "public, max-age=300"),
        ("Vary", "Accept-Encoding"),
        ("Content-Type", ATOM),
        ("Content-Length", "7"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]


def test_a_coded_answer_over_https() -> None:
    feed = CachedFeed(b"<feed/>" * 50, ATOM)
    answer = feed_answer(VERSION, "gzip", secure=True, feed=feed)
    assert answer.tag == '"abc123-gzip"' and answer.body == feed.encoded("gzip")
    headers = dict(answer.headers200 or [])
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == str(len(answer.body))
    assert headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_304_has_no_representation_headers() -> None:
    answer = feed_answer(VERSION, "br", secure=False)
    assert isinstance(answer, FeedAnswer) and answer.body is None and answer.headers200 is None
    assert answer.headers304 == [
        ("ETag", '"abc123-br"'),
        ("Cache-Control", "public, max-age=300"),
        ("Vary", "Accept-Encoding"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    assert STATUS_304 == "304 NOT MODIFIED"


def test_not_modified_matches_any_coding_and_dates() -> None:
    answer = feed_answer(VERSION, "gzip", secure=False)
    assert answer.not_modified('"abc123-gzip"', None)
    assert answer.not_modified('"abc123"', None)  # the identity tag names the same content
    assert answer.not_modified('W/"abc123-br"', None)
    assert not answer.not_modified('"other"', "Tue, 24 Nov 2026 10:00:00 GMT")
    assert answer.not_modified(None, "Tue, 24 Nov 2026 10:00:00 GMT")
    assert not answer.not_modified(None, "Tue, 24 Nov 2026 09:59:59 GMT")
    assert not answer.not_modified(None, "garbage")
