"""The fast path for feed polling: a thin WSGI layer in front of Flask.

A feed's bytes and validators depend only on its scope's version (and the
global version), so once Flask has answered a feed URL this layer keeps the
answer — status line, header list, body — keyed by (path, query, scheme,
host, content-coding) together with the scope versions it was made from. A
later GET/HEAD for the same key costs: one validator check (below), a dict
lookup, an ETag comparison, and handing the WSGI server ONE bytes object (or
none, for a 304). No Flask dispatch, no session, no ORM, no render, no
compression. Anything else — a miss, a stale entry, another method, a URL
that is not a feed — goes to Flask unchanged, and a feed answer coming back
from Flask fills the entry. Headers are Flask's own, captured as they left
the app (after_request hooks included); the 304 kept for an entry is the one
Flask itself gives for that ETag, asked for once at fill time. So the fast
path and the Flask path answer byte-for-byte alike by construction.

Validator state comes from feedserver.publishing.scopewatch: per worker process, and
invalidated correctly across processes and machines.

See RFC 9110 §13 (conditional requests) and RFC 9111 (caching).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feeds.conditional import choose_encoding, not_modified
from feedserver.publishing.scopewatch import (
    PostgresVersions,
    SQLiteVersions,
    Versions,
    versions_for,
)

log = logging.getLogger(__name__)

ENVIRON_KEY = "feedserver.fastfeed"  # set by syndication.respond_feed
EMPTY: list[bytes] = []

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a Flask feed answer was made from (left in the WSGI environ)."""

    scope_key: str
    versions: Versions
    etag: str  # opaque, without quotes or coding suffix
    last_modified: datetime
    # When the body changes without a version bump (a tombstone expires).
    valid_until: datetime | None = None


@dataclass(slots=True)
class _Entry:
    scope_key: str
    versions: Versions
    meta: FeedMeta
    tag: str | None = None  # the quoted ETag header of this variant
    status200: str | None = None
    headers200: list[tuple[str, str]] | None = None
    body: bytes | None = None
    status304: str | None = None
    headers304: list[tuple[str, str]] | None = None

    def is_not_modified(self, inm: str | None, ims: str | None) -> bool:
        if inm is not None and inm == self.tag:
            return True
        return not_modified(self.meta.etag, self.meta.last_modified, inm, ims)


# ---------------------------------------------------------------- versions


# ---------------------------------------------------------------- WSGI layer


class FastFeeds:
    """Answer feed GET/HEAD requests from kept answers; fall back to the app."""

    def __init__(
        self,
        app: WSGIApp,
        versions: SQLiteVersions | PostgresVersions,
        max_entries: int = 4096,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.versions = versions
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._bytes = 0
        self._encodings: dict[str | None, str] = {}
        self.hits = 0
        self.fills = 0
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # tests move it

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return self.app(environ, start_response)
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        encoding = self._encodings.get(accept)
        if encoding is None:
            encoding = choose_encoding(accept)
            if len(self._encodings) < 256:
                self._encodings[accept] = encoding
        key = (
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("SCRIPT_NAME", ""),
            environ.get("wsgi.url_scheme", "http"),
            environ.get("HTTP_HOST")
            or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
            encoding,
        )
        entry = self._entries.get(key)
        if (
            entry is not None
            and self.versions.current(entry.scope_key) == entry.versions
            and (entry.meta.valid_until is None or self.clock() < entry.meta.valid_until)
        ):
            inm = environ.get("HTTP_IF_NONE_MATCH")
            ims = environ.get("HTTP_IF_MODIFIED_SINCE")
            if (inm is not None or ims is not None) and entry.is_not_modified(inm, ims):
                if entry.headers304 is not None:
                    self.hits += 1
                    start_response(entry.status304, entry.headers304)
                    return EMPTY
            elif entry.body is not None:
                self.hits += 1
                start_response(entry.status200, entry.headers200)
                return EMPTY if method == "HEAD" else [entry.body]
        return self._fill(key, environ, start_response)

    def _fill(
        self, key: tuple[str, ...], environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        app_iter = self.app(environ, capture)
        meta: FeedMeta | None = environ.get(ENVIRON_KEY)
        if meta is None or not captured or not _cacheable(captured[1]):
            return app_iter
        status, headers = captured
        if status.startswith("304"):
            self._keep_304(key, meta, status, headers)
            return app_iter
        if not status.startswith("200") or environ["REQUEST_METHOD"] != "GET":
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        entry = _Entry(meta.scope_key, meta.versions, meta)
        entry.tag = next((v for k, v in headers if k.lower() == "etag"), None)
        entry.status200, entry.headers200, entry.body = status, list(headers), body
        if entry.tag is not None:
            self._ask_304(entry, environ)
        self._store(key, entry)
        return [body]

    def _ask_304(self, entry: _Entry, environ: dict[str, Any]) -> None:
        """Let the app give its own 304 for this ETag, so ours is identical."""
        probe = {k: v for k, v in environ.items() if k != ENVIRON_KEY}
        probe.pop("HTTP_IF_MODIFIED_SINCE", None)
        probe["HTTP_IF_NONE_MATCH"] = entry.tag
        probe["wsgi.input"] = io.BytesIO()
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda _data: None

        app_iter = self.app(probe, capture)
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
        meta = probe.get(ENVIRON_KEY)
        if (
            captured
            and captured[0].startswith("304")
            and meta is not None
            and meta.versions == entry.versions
            and _cacheable(captured[1])
        ):
            entry.status304, entry.headers304 = captured[0], list(captured[1])

    def _keep_304(
        self, key: tuple[str, ...], meta: FeedMeta, status: str, headers: list[tuple[str, str]]
    ) -> None:
        old = self._entries.get(key)
        if old is not None and old.versions == meta.versions:
            old.status304, old.headers304 = status, list(headers)
            return
        entry = _Entry(meta.scope_key, meta.versions, meta)
        entry.tag = next((v for k, v in headers if k.lower() == "etag"), None)
        entry.status304, entry.headers304 = status, list(headers)
        self._store(key, entry)

    def _store(self, key: tuple[str, ...], entry: _Entry) -> None:
        self.fills += 1
        old = self._entries.pop(key, None)
        if old is not None and old.body is not None:
            self._bytes -= len(old.body)
        self._entries[key] = entry
        self._bytes += len(entry.body or b"")
        while self._entries and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            try:
                oldest = next(iter(self._entries))
                dropped = self._entries.pop(oldest)
            except (StopIteration, KeyError, RuntimeError):  # another thread got there
                break
            self._bytes -= len(dropped.body or b"")

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


def _cacheable(headers: list[tuple[str, str]]) -> bool:
    """Never keep an answer that is personal (a cookie) or varies on more than the coding."""
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            return False
        if lower == "vary" and value.replace(" ", "").lower() != "accept-encoding":
            return False
    return True


def init_app(app: Any) -> None:
    """Put the fast path in front of the app (FEEDSERVER_FAST_FEEDS=false turns it off)."""
    if not app.config.get("FAST_FEEDS", True):
        return
    versions = versions_for(
        app.config["DATABASE_URL"], listen=bool(app.config.get("FAST_FEEDS_LISTEN", True))
    )
    if versions is None:
        return
    app.wsgi_app = FastFeeds(app.wsgi_app, versions)
    app.extensions["feedserver.publishing.fastpath"] = app.wsgi_app
