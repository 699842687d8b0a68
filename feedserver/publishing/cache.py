"""Rendered feeds kept in memory, and the one way a feed answer is written out.

A key names the scope, the format, the page, the base URL and the scope's
version (plus the global version): when any of those changes the key changes,
so an entry never needs invalidating — old ones simply age out of the LRU.
Compressed bodies are made once per entry, on first demand.

:func:`feed_answer` turns a page's :class:`FeedVersion` (its validators and
freshness) and, when rendered, its :class:`CachedFeed` into a
:class:`FeedAnswer`: the status lines, header lists and body of its 200 and
its 304 in one content-coding. The Flask view (publishing.views) sends from
it and hands it to the fast path (publishing.fastpath), which sends later
hits from the very same object — so both answer byte for byte alike by
construction. A header every feed answer carries is added here, once.

See RFC 9110 §8.8 (validators), §13 (conditional requests), §15.4.5 (304)
and RFC 9111 §5.2 (Cache-Control).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feeds.conditional import compress, not_modified, variant_etag
from feeds.httpdate import format_http_date
from feedserver.security import common_headers

STATUS_200 = "200 OK"
STATUS_304 = "304 NOT MODIFIED"  # werkzeug's reason phrase, kept so both paths agree

Headers = list[tuple[str, str]]


@dataclass(slots=True)
class CachedFeed:
    """One rendered feed page and its compressed variants."""

    body: bytes
    media_type: str
    variants: dict[str, bytes] = field(default_factory=dict)

    def encoded(self, encoding: str) -> bytes:
        if encoding == "identity":
            return self.body
        data = self.variants.get(encoding)
        if data is None:
            data = self.variants[encoding] = compress(self.body, encoding)
        return data

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(v) for v in self.variants.values())


class FeedCache:
    """A thread-safe LRU of rendered feeds bounded by total bytes."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[object, ...], CachedFeed] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> CachedFeed | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[object, ...], item: CachedFeed) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._items[key] = item
            self._bytes += item.size
            self._trim()

    def grew(self, key: tuple[object, ...], extra: int) -> None:
        """Account for a compressed variant added to an entry."""
        with self._lock:
            if key in self._items:
                self._bytes += extra
                self._trim()

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


@dataclass(frozen=True, slots=True)
class FeedVersion:
    """What the validators and caching headers of one feed page say."""

    etag: str  # opaque: without quotes or coding suffix
    last_modified: datetime
    max_age: int
    # When the body changes without a version bump (its oldest tombstone
    # expires, publishing.tombstones): the fast path keeps it until then.
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """One feed page's 200 and 304 in one content-coding, ready to send."""

    version: FeedVersion
    tag: str  # the quoted ETag of this coding's variant
    headers304: Headers
    body: bytes | None = None  # None: only the 304 is known (nothing rendered yet)
    headers200: Headers | None = None

    def not_modified(self, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """True when the client's copy is current (RFC 9110 §13.1.1, §13.1.3, §13.2.2)."""
        if if_none_match is not None and if_none_match == self.tag:
            return True  # the common case: a poller sends back exactly what we sent
        version = self.version
        return not_modified(version.etag, version.last_modified, if_none_match, if_modified_since)


def feed_answer(
    version: FeedVersion,
    encoding: str,
    *,
    secure: bool,
    feed: CachedFeed | None = None,
    links: Sequence[tuple[str, str]] = (),
    shared: bool = True,
) -> FeedAnswer:
    """Write out a feed page's answers: the 304 always, the 200 when ``feed`` is rendered.

    The header order is the one the site has always sent. A 304 carries the
    validator and caching fields of its 200 and the headers every answer
    carries, and no representation metadata (RFC 9110 §15.4.5: a sender
    SHOULD NOT generate it) — nor the HTML-only policies, which guard a
    body it does not have.
    """
    tag = variant_etag(version.etag, encoding)
    caching = [
        # private: built from an unpinned Host, for that client only (feedserver.hosts)
        ("Cache-Control", f"{'public' if shared else 'private'}, max-age={version.max_age}"),
        ("Vary", "Accept-Encoding"),
        *links,  # WebSub hub and self (INTERFACE §3), on 200 and 304 alike
    ]
    headers304 = [("ETag", tag), *caching, *common_headers(html=False, secure=secure)]
    if feed is None:
        return FeedAnswer(version, tag, headers304)
    body = feed.encoded(encoding)
    headers200 = [
        ("ETag", tag),
        ("Last-Modified", format_http_date(version.last_modified)),
        *caching,
        ("Content-Type", feed.media_type),
        ("Content-Length", str(len(body))),
    ]
    if encoding != "identity":
        headers200.append(("Content-Encoding", encoding))
    headers200 += common_headers(html=False, secure=secure)
    return FeedAnswer(version, tag, headers304, body, headers200)
