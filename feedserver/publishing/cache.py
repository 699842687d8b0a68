"""Rendered feeds kept in memory, keyed by what their bytes depend on.

A key names the scope, the format, the page, the base URL and the scope's
version (plus the global version): when any of those changes the key changes,
so an entry never needs invalidating — old ones simply age out of the LRU.
Compressed bodies are made once per entry, on first demand.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from feeds.conditional import compress


@dataclass(slots=True)
class CachedFeed:
    """One rendered feed page and its compressed variants."""

    body: bytes
    media_type: str
    etag: str  # without quotes or coding suffix
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
