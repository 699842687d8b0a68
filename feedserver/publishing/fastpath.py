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

Only URLs in a feed's contract are kept: no query, ``?page=N``, or
WordPress's ``?paged=N`` on its /feed/ paths; junk parameters go to Flask and
cannot create entries that evict the real ones. Without FEEDSERVER_BASE_URL,
answers are kept only for the Host the process pinned (feedserver.hosts).

A hit is answered in this layer's one frame, with everything the layers
behind it would have done for it: the request id (``requests``, from
feedserver.ops.metrics), the subscriber count and polite polling
(``audience``, from feedserver.publishing.audience). Each of those owns its
rule; this layer only calls them, so a hit costs a few microseconds of Python.
Misses go through those layers and Flask as any other request.

Database outage (stale-if-error, RFC 5861 §4): when the scope versions
cannot be read, a kept answer is served as it is, validators included,
rather than an error; for OUTAGE_PAUSE seconds after a failed read the
database is not asked again (one refused connection per pause, not one per
hit). A URL with no kept answer goes to Flask, which answers 503.

See RFC 9110 §13 (conditional requests) and RFC 9111 (caching).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from feeds.conditional import choose_encoding
from feedserver.hosts import HostPin, pin_for
from feedserver.publishing.cache import STATUS_200, STATUS_304, FeedAnswer
from feedserver.publishing.scopewatch import (
    PostgresVersions,
    SQLiteVersions,
    Versions,
    versions_for,
)

log = logging.getLogger(__name__)

EXTENSION = "feedserver.publishing.fastpath"
OUTAGE_PAUSE = 1.0  # seconds without asking the database after a failed read
# The query strings a feed URL answers to (its contract): none, ?page=N, and
# WordPress's ?paged=N on its /feed/ paths.
_CONTRACT = re.compile(r"page=[0-9]{1,6}")
_WP_CONTRACT = re.compile(r"paged?=[0-9]{1,6}")
EMPTY: list[bytes] = []
MAX_HOSTS = 256  # Host values whose key part is remembered (junk ones must not grow it)
_NOT_KEPT = "\x00not kept"  # no Host value contains a NUL

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Key = tuple[str, ...]


class HitAudience(Protocol):
    """Who counts the feed requests the fast path answers (publishing.audience)."""

    def feed_path(self, raw: str) -> str | None: ...

    def count_hit(
        self,
        environ: dict[str, Any],
        path: str,
        status: int,
        answer: FeedAnswer,
        conditional: bool,
    ) -> int: ...

    def refuse(
        self, environ: dict[str, Any], path: str, wait: int, start_response: StartResponse
    ) -> Iterable[bytes]: ...


class HitRequests(Protocol):
    """Who names and counts every request (ops.metrics)."""

    def answered_before_flask(self, environ: dict[str, Any], status: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    scope_key: str
    versions: Versions
    answer: FeedAnswer
    valid_until: datetime | None  # the answer's, here to save a lookup per hit
    path: str | None  # the feed path as the audience counts it; None: not counted


def _in_contract(path: str, query: str) -> bool:
    """Whether ``query`` is one a feed URL defines (see _CONTRACT)."""
    pattern = _WP_CONTRACT if path.startswith("/feed/") or path == "/feed" else _CONTRACT
    return pattern.fullmatch(query) is not None


class FastFeeds:
    """Answer feed GET/HEAD requests from kept answers; fall back to the app."""

    def __init__(
        self,
        app: WSGIApp,
        versions: SQLiteVersions | PostgresVersions,
        max_entries: int = 4096,
        max_bytes: int = 64 * 1024 * 1024,
        pin: HostPin | None = None,
        audience: HitAudience | None = None,
        requests: HitRequests | None = None,
    ) -> None:
        self.app = app
        self.pin = pin  # None: key on the Host as given (tests that build a FastFeeds)
        # One Host for every answer (BASE_URL set): no Host in the key, no check.
        self._any_host = pin is not None and pin.configured
        self.audience = audience
        self.requests = requests
        self.versions = versions
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[Key, _Entry] = {}
        self._bytes = 0
        self._encodings: dict[str | None, str] = {}
        self._hosts: dict[str, str] = {}  # Host value → its part of the key (or _NOT_KEPT)
        self.hits = 0
        self.fills = 0
        self.stale_served = 0
        self._outage_until = 0.0
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # tests move it

    def answer_key(self, environ: dict[str, Any], encoding: str) -> Key | None:
        """What a kept answer is filed under (the URL as asked, and the coding); None: never kept."""
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if query and not _in_contract(path, query):
            return None
        if self._any_host:
            host = ""
        else:
            host = environ.get("HTTP_HOST") or ""
            if not host:  # no link can be built without one (HTTP/1.0): Flask's 400
                return None
            if self.pin is not None:
                keyed = self._hosts.get(host)
                if keyed is None:
                    keyed = self._key_host(self.pin, host)
                if keyed is _NOT_KEPT:
                    return None
                host = keyed
        return (
            path,
            query,
            environ.get("SCRIPT_NAME", ""),
            environ.get("wsgi.url_scheme", "http"),
            host,
            encoding,
        )

    def _key_host(self, pin: HostPin, host: str) -> str:
        """The Host part of the key for ``host`` (or _NOT_KEPT), remembered per Host value.

        An answer built from a Host other than the pinned one is never kept
        (feedserver.hosts): Flask builds it fresh, for that client only. The
        pin, once taken, never changes, so neither does the answer for a Host.
        """
        keyed = pin.cache_key_host(host) if pin.may_cache(host) else _NOT_KEPT
        if pin.host is not None and len(self._hosts) < MAX_HOSTS:
            self._hosts[host] = keyed
        return keyed

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return self.app(environ, start_response)
        if (
            environ.get("CONTENT_LENGTH", "0") not in ("0", "")
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            # A request with a body: the site's checks (413, 415) are Flask's.
            return self.app(environ, start_response)
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        encoding = self._encodings.get(accept)
        if encoding is None:
            encoding = choose_encoding(accept)
            if len(self._encodings) < 256:
                self._encodings[accept] = encoding
        key = self.answer_key(environ, encoding)
        if key is None:
            return self.app(environ, start_response)
        entry = self._entries.get(key)
        if entry is None or not self._still_current(entry):
            return self.app(environ, start_response)
        if "HTTP_IF_MATCH" in environ or "HTTP_IF_UNMODIFIED_SINCE" in environ:
            return self.app(environ, start_response)  # preconditions: Flask's 412 or answer
        answer = entry.answer
        inm = environ.get("HTTP_IF_NONE_MATCH")
        ims = environ.get("HTTP_IF_MODIFIED_SINCE")
        conditional = inm is not None or ims is not None
        body = answer.body
        if conditional and answer.not_modified(inm, ims):
            code, status, headers, body = 304, STATUS_304, answer.headers304, None
        elif body is not None and answer.headers200 is not None:
            code, status, headers = 200, STATUS_200, answer.headers200
        else:  # only the 304 is kept, and the client's copy is not current
            return self.app(environ, start_response)
        self.hits += 1
        audience = self.audience
        if audience is not None and entry.path is not None:
            wait = audience.count_hit(environ, entry.path, code, answer, conditional)
            if wait:
                return self._refuse(environ, entry.path, wait, start_response)
        requests = self.requests
        if requests is not None:
            rid = requests.answered_before_flask(environ, status)
            headers = [*headers, ("X-Request-Id", rid)]
        start_response(status, headers)
        return EMPTY if body is None or method == "HEAD" else [body]

    def _refuse(
        self, environ: dict[str, Any], path: str, wait: int, start_response: StartResponse
    ) -> Iterable[bytes]:
        """The audience's 429 (polite polling), with the request id as every answer has it."""
        assert self.audience is not None
        requests = self.requests
        if requests is None:
            return self.audience.refuse(environ, path, wait, start_response)

        def named(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            rid = requests.answered_before_flask(environ, status)
            return start_response(status, [*headers, ("X-Request-Id", rid)], exc_info)

        return self.audience.refuse(environ, path, wait, named)

    def _still_current(self, entry: _Entry) -> bool:
        """Whether the kept answer is current; True (stale-if-error) when we cannot tell."""
        until = entry.valid_until
        if until is not None and self.clock() >= until:
            return False  # a tombstone in it has expired: Flask renders it anew
        if self._outage_until and time.monotonic() < self._outage_until:
            self.stale_served += 1
            return True
        try:
            current = self.versions.current(entry.scope_key)
        except Exception as exc:  # any failure to read is an outage here
            self._outage_until = time.monotonic() + OUTAGE_PAUSE
            self.stale_served += 1
            log.warning("scope versions unreadable (%s); serving kept feeds", type(exc).__name__)
            return True
        self._outage_until = 0.0
        return bool(current == entry.versions)

    def keep(
        self,
        environ: dict[str, Any],
        encoding: str,
        scope_key: str,
        versions: Versions,
        answer: FeedAnswer,
    ) -> None:
        """Keep the answer the feed view just gave, for the next request of the same URL."""
        key = self.answer_key(environ, encoding)
        if key is None:
            return
        old = self._entries.get(key)
        if answer.body is None and old is not None and old.versions == versions:
            return  # a 304 adds nothing to the full answer kept for these versions
        audience = self.audience
        path = audience.feed_path(environ.get("PATH_INFO", "")) if audience is not None else None
        self._store(key, _Entry(scope_key, versions, answer, answer.version.valid_until, path))

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


def init_app(
    app: Any, *, audience: HitAudience | None = None, requests: HitRequests | None = None
) -> None:
    """Put the fast path in front of the app (FEEDSERVER_FAST_FEEDS=false turns it off).

    ``audience`` and ``requests`` are the layers behind it that every feed
    request passes: the fast path does their part for the hits it answers.
    """
    if not app.config["FAST_FEEDS"]:
        return
    versions = versions_for(app.config["DATABASE_URL"], listen=app.config["FAST_FEEDS_LISTEN"])
    if versions is None:
        return
    app.wsgi_app = app.extensions[EXTENSION] = FastFeeds(
        app.wsgi_app, versions, pin=pin_for(app), audience=audience, requests=requests
    )
