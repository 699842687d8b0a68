"""The fast path for feed polling: a thin WSGI layer in front of Flask.

A feed's bytes and validators depend only on its scope's version (and the
global version). When the Flask feed view (publishing.views.respond_feed)
answers a feed URL it hands its :class:`~feedserver.publishing.cache.FeedAnswer`
— status lines, header lists, body — to this layer's :meth:`FastFeeds.keep`,
keyed by (path, query, script name, scheme, host, content-coding) together
with the scope versions it was made from. A later GET/HEAD for the same key
costs: one validator check (below), a dict lookup, an ETag comparison, and
handing the WSGI server ONE bytes object (or none, for a 304). No Flask
dispatch, no session, no ORM, no render, no compression. Anything else — a
miss, a stale entry, another method, a URL that is not a feed — goes to Flask
unchanged. Both paths send from the same FeedAnswer, whose headers are written
by one function (publishing.cache.feed_answer), so they answer byte for byte
alike by construction; nothing is asked of Flask twice.

Validator state comes from feedserver.publishing.scopewatch: per worker
process, and invalidated correctly across processes and machines.

See RFC 9110 §13 (conditional requests) and RFC 9111 (caching).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from feeds.conditional import choose_encoding
from feedserver.publishing.cache import STATUS_200, STATUS_304, FeedAnswer
from feedserver.publishing.scopewatch import (
    PostgresVersions,
    SQLiteVersions,
    Versions,
    versions_for,
)

log = logging.getLogger(__name__)

EXTENSION = "feedserver.publishing.fastpath"
EMPTY: list[bytes] = []

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    scope_key: str
    versions: Versions
    answer: FeedAnswer


def answer_key(environ: dict[str, Any], encoding: str) -> Key:
    """What a kept answer is filed under: the URL as the client asked it, and the coding."""
    return (
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("SCRIPT_NAME", ""),
        environ.get("wsgi.url_scheme", "http"),
        environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
        encoding,
    )


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
        self._entries: dict[Key, _Entry] = {}
        self._bytes = 0
        self._encodings: dict[str | None, str] = {}
        self.hits = 0
        self.fills = 0

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
        entry = self._entries.get(answer_key(environ, encoding))
        if entry is not None and self.versions.current(entry.scope_key) == entry.versions:
            answer = entry.answer
            inm = environ.get("HTTP_IF_NONE_MATCH")
            ims = environ.get("HTTP_IF_MODIFIED_SINCE")
            if (inm is not None or ims is not None) and answer.not_modified(inm, ims):
                self.hits += 1
                start_response(STATUS_304, answer.headers304)
                return EMPTY
            if answer.body is not None:
                self.hits += 1
                start_response(STATUS_200, answer.headers200)
                return EMPTY if method == "HEAD" else [answer.body]
        return self.app(environ, start_response)

    def keep(
        self,
        environ: dict[str, Any],
        encoding: str,
        scope_key: str,
        versions: Versions,
        answer: FeedAnswer,
    ) -> None:
        """Keep the answer the feed view just gave, for the next request of the same URL."""
        key = answer_key(environ, encoding)
        old = self._entries.get(key)
        if answer.body is None and old is not None and old.versions == versions:
            return  # a 304 adds nothing to the full answer kept for these versions
        self._store(key, _Entry(scope_key, versions, answer))

    def _store(self, key: Key, entry: _Entry) -> None:
        self.fills += 1
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.answer.body or b"")
        self._entries[key] = entry
        self._bytes += len(entry.answer.body or b"")
        while self._entries and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            try:
                oldest = next(iter(self._entries))
                dropped = self._entries.pop(oldest)
            except (StopIteration, KeyError, RuntimeError):  # another thread got there
                break
            self._bytes -= len(dropped.answer.body or b"")

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


def answers(app: Any) -> FastFeeds | None:
    """The app's fast path, which keeps feed answers; None when it does not run."""
    found: FastFeeds | None = app.extensions.get(EXTENSION)
    return found


def init_app(app: Any) -> None:
    """Put the fast path in front of the app (FEEDSERVER_FAST_FEEDS=false turns it off)."""
    if not app.config["FAST_FEEDS"]:
        return
    versions = versions_for(app.config["DATABASE_URL"], listen=app.config["FAST_FEEDS_LISTEN"])
    if versions is None:
        return
    app.wsgi_app = app.extensions[EXTENSION] = FastFeeds(app.wsgi_app, versions)
