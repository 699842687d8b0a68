"""Polite polling enforced (INTERFACE §9): 429 for the fourth unconditional re-fetch in a row.

A *row* is a run of unconditional GETs (no If-None-Match, no
If-Modified-Since) of one feed URL (path and query: each ``?page=N`` is its
own URL) by one client (keyed hash of address and user agent), each arriving
while the copy the client got last is still fresh — the feed has not changed
(same ETag) and that copy's ``max-age`` has not passed (RFC 9111 §4.2: the
client could have answered itself from its cache). The first fetch and the
next two repeats are answered; the fourth and later fetches get ``429 Too Many
Requests`` with ``Retry-After`` = the rest of the max-age of the last copy
answered (RFC 6585 §4, RFC 9110 §10.2.3), until that copy goes stale.

A conditional request ends the row and is never refused (after a 429 it gets
its 304 as usual); a changed feed (new ETag) or the end of the max-age starts
a new row. HEAD is never refused (it costs no body). ``FEEDSERVER_POLITE_POLLING
=false`` turns the rule off.

Rows are tracked per process, in memory: with several web processes a
client's fetches spread over them, so enforcement is weaker (a client may get
up to three answers per process before a 429) — never stricter, except in the
rare case of a client that interleaves conditional and unconditional fetches
across processes, where a conditional request seen by another process does
not end the row here. Entries live only as long as the max-age they track.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from feeds.conditional import representation_tag

log = logging.getLogger(__name__)

ANSWERED_IN_A_ROW = 3  # the first fetch and two repeats
MAX_ROWS = 100_000  # rows tracked per process; expired ones are swept first


@dataclass(slots=True)
class _Row:
    etag: str  # the feed as last answered
    stale_at: float  # when that answer's max-age runs out
    fetches: int  # unconditional fetches in the row so far


class PolitePolicy:
    """Decide, per unconditional feed GET, whether to answer or to ask the client to wait."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._rows: dict[tuple[int, str, str], _Row] = {}  # (client's key, path, query) → row
        self._lock = threading.Lock()
        self.refused = 0

    def conditional(self, key: tuple[int, str, str]) -> None:
        """A conditional request ends the row of its client and URL."""
        if self._rows:
            self._rows.pop(key, None)

    def unconditional(self, key: tuple[int, str, str], etag: str, max_age: int, now: float) -> int:
        """Count an unconditional GET that would be answered 200; return seconds to wait, or 0.

        The feed is the same whatever coding carried it (``"v-gzip"``, ``"v-br"``,
        ``"v"``): changing Accept-Encoding does not start a new row.
        """
        etag = representation_tag(etag)
        with self._lock:
            row = self._rows.get(key)
            if row is None or row.etag != etag or now >= row.stale_at:
                if row is None and len(self._rows) >= self.max_rows:
                    self._sweep(now)
                self._rows[key] = _Row(etag, now + max_age, 1)
                return 0
            row.fetches += 1
            if row.fetches <= ANSWERED_IN_A_ROW:
                row.stale_at = now + max_age  # the client holds a fresh copy again
                return 0
            self.refused += 1
            wait = max(1, math.ceil(row.stale_at - now))
            if row.fetches == ANSWERED_IN_A_ROW + 1:  # once per row, not per refusal
                log.info(
                    "polite polling: 429 path=%s query=%r client=%s retry_after=%d",
                    key[1], key[2][:80], key[0], wait,
                )  # fmt: skip
            return wait

    def _sweep(self, now: float) -> None:
        """Forget stale rows; if too many are fresh, forget the oldest half (lenient, bounded)."""
        stale = [k for k, row in self._rows.items() if now >= row.stale_at]
        for key in stale:
            del self._rows[key]
        if len(self._rows) >= self.max_rows:
            for key in list(self._rows)[: len(self._rows) // 2]:
                del self._rows[key]

    def __len__(self) -> int:
        return len(self._rows)


def reason(retry_after: int) -> bytes:
    """The short plain-text body of a 429."""
    return (
        "429 Too Many Requests: this feed has not changed since you last fetched it, and the copy "
        "you have is still fresh (see its Cache-Control max-age). Revalidate with If-None-Match "
        "(the ETag) or If-Modified-Since (the Last-Modified) to get a cheap 304, or wait "
        f"{retry_after} seconds (Retry-After).\n"
    ).encode()
