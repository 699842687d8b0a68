"""A WSGI layer around the feed answers: counts every feed request and applies polite polling.

It sits outside the fast path (``feedserver.publishing.fastpath``) and Flask,
inside ``ProxyFix`` (so it sees the client's address), which makes it see
every feed request exactly once — cached hits answered by the fast path and
misses rendered by the Flask feed view alike — without a line in either.

Per feed request (GET or HEAD of a feed URL, INTERFACE §3):

1. the client's keyed hash (``Tally.client``) and reader report (the user
   agent, parsed once per distinct agent);
2. if conditional, the polite-polling row of this client and URL ends;
3. the inner app answers; when its answer is a 200 to an unconditional GET,
   ``PolitePolicy`` may replace it, before anything is sent, with a 429;
4. a 200, 304 or 429 is counted (requests, 304s, body bytes from the
   answer's Content-Length; subscribers from the report or the client hash).

The fast path answers its hits without calling this layer's ``__call__``;
it calls :meth:`AudienceLayer.count_hit` (and :meth:`AudienceLayer.refuse`)
instead, which apply the same rules to the answer it is about to send.

Anything else — other paths, other methods, a 404 for an unknown slug — goes
to the inner app untouched and uncounted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from feedserver.publishing.cache import FeedAnswer
from feedserver.publishing.polite import PolitePolicy, reason
from feedserver.publishing.tally import Tally

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Every feed URL of INTERFACE §3 (site, section, author, source, comments).
FEED_PATH = re.compile(
    r"/(?:(?:sections|authors|sources)/[^/]{1,200}/)?feed\.(?:rss|atom|json)"
    r"|/articles/[^/]{1,200}/comments\.(?:rss|atom)"
)
MAX_SCANS = 1024  # header lists whose scan is remembered (the fast path reuses its lists)
MAX_PATHS = 4096  # remembered path verdicts; cleared when full (paths are the client's choice)
EXTENSION = "feedserver.publishing.audience"
LAYER = "feedserver.publishing.audience.layer"
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,9})", re.IGNORECASE)


def _discard(_data: bytes) -> None:
    """The write() callable handed to an app whose answer is being replaced."""


class AudienceLayer:
    """Count feed requests (``tally``) and refuse impolite re-fetches (``polite``)."""

    def __init__(
        self, app: WSGIApp, tally: Tally, *, counting: bool, polite: PolitePolicy | None
    ) -> None:
        self.app = app
        self.tally = tally
        self.counting = counting
        self.polite = polite
        self._paths: dict[str, str | None] = {}
        self._max_ages: dict[str, int] = {}
        self._scans: dict[int, tuple[list[tuple[str, str]], tuple[int, str | None, int]]] = {}

    def feed_path(self, raw: str) -> str | None:
        """Return the feed's path (percent-encoded ASCII) if ``raw`` is a feed URL, else None."""
        try:
            return self._paths[raw]
        except KeyError:
            pass
        path: str | None = None
        if FEED_PATH.fullmatch(raw):
            path = quote(raw.encode("latin-1", "replace"), safe="/%")
            if len(path) > 300:
                path = None
        if len(self._paths) >= MAX_PATHS:
            self._paths.clear()
        self._paths[raw] = path
        return path

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return self.app(environ, start_response)
        path = self.feed_path(environ.get("PATH_INFO", ""))
        if path is None:
            return self.app(environ, start_response)

        now = time.time()
        tally = self.tally
        user_agent = environ.get("HTTP_USER_AGENT") or ""
        address = environ.get("REMOTE_ADDR") or "unknown"
        visitor = tally.visitor(address, user_agent)
        client = tally.client(address, user_agent, visitor)
        conditional = "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
        polite = self.polite
        row = (visitor, path, environ.get("QUERY_STRING", ""))
        if polite is not None and conditional:
            polite.conditional(row)
        check = polite is not None and not conditional and method == "GET"
        seen: list[Any] = []  # [status, size] of the inner answer, or [None, seconds to wait]

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None or not status.startswith(("200", "304")):
                seen[:] = [status, 0]
                return start_response(status, headers, exc_info)
            size = 0
            if status[0] == "2":
                size, etag, max_age = self._scan(headers)
                if check and etag is not None and max_age:
                    wait = polite.unconditional(row, etag, max_age, now)  # type: ignore[union-attr]
                    if wait:
                        seen[:] = [None, wait]
                        return _discard
                if method == "HEAD":
                    size = 0
            seen[:] = [status, size]
            return start_response(status, headers)

        body = self.app(environ, capture)
        if not seen:  # an app that starts its answer lazily: pass it on uncounted
            return body
        status, size = seen
        if status is None:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return self._refuse(path, size, user_agent, client, now, start_response)
        if self.counting and status[:3] in ("200", "304"):
            tally.record(path, int(status[:3]), size, tally.report(user_agent), client, now)
        return body

    def count_hit(
        self,
        environ: dict[str, Any],
        path: str,
        status: int,
        answer: FeedAnswer,
        conditional: bool,
    ) -> int:
        """Count a feed request the fast path answers from ``answer``; return seconds to wait.

        The same rules as :meth:`__call__`, for an answer known before it is
        sent: a non-zero return means polite polling refuses it (the caller
        then answers with :meth:`refuse`) and nothing was counted yet.
        """
        now = time.time()
        tally = self.tally
        user_agent = environ.get("HTTP_USER_AGENT") or ""
        address = environ.get("REMOTE_ADDR") or "unknown"
        visitor = tally.visitor(address, user_agent)
        client = tally.client(address, user_agent, visitor)
        polite = self.polite
        if polite is not None:
            row = (visitor, path, environ.get("QUERY_STRING", ""))
            if conditional:
                polite.conditional(row)
            elif status == 200 and environ["REQUEST_METHOD"] == "GET" and answer.version.max_age:
                wait = polite.unconditional(row, answer.tag, answer.version.max_age, now)
                if wait:
                    return wait
        if self.counting:
            size = (
                len(answer.body or b"")
                if status == 200 and environ["REQUEST_METHOD"] == "GET"
                else 0
            )
            tally.record(path, status, size, tally.report(user_agent), client, now)
        return 0

    def refuse(
        self, environ: dict[str, Any], path: str, wait: int, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer (and count) the 429 that :meth:`count_hit` asked for."""
        user_agent = environ.get("HTTP_USER_AGENT") or ""
        client = self.tally.client(environ.get("REMOTE_ADDR") or "unknown", user_agent)
        return self._refuse(path, wait, user_agent, client, time.time(), start_response)

    def _refuse(
        self,
        path: str,
        wait: int,
        user_agent: str,
        client: str,
        now: float,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """Answer 429 with Retry-After and a short plain-text reason."""
        text = reason(wait)
        start_response(
            "429 Too Many Requests",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(text))),
                ("Retry-After", str(wait)),
                # Personal to this client: no shared cache may keep it for others.
                ("Cache-Control", "private, no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        if self.counting:
            self.tally.record(path, 429, len(text), self.tally.report(user_agent), client, now)
        return [text]

    def _scan(self, headers: list[tuple[str, str]]) -> tuple[int, str | None, int]:
        """Return (Content-Length, ETag, max-age) of an answer's headers.

        The fast path hands over the same header list for every hit of a kept
        answer, so the result is remembered per list (held, so its id stays its own).
        """
        found = self._scans.get(id(headers))
        if found is not None and found[0] is headers:
            return found[1]
        size, etag, max_age = 0, None, 0
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length":
                size = int(value) if value.isascii() and value.isdigit() else 0
            elif lower == "etag":
                etag = value
            elif lower == "cache-control":
                max_age = self._max_age(value)
        if len(self._scans) >= MAX_SCANS:
            self._scans.clear()
        self._scans[id(headers)] = (headers, (size, etag, max_age))
        return size, etag, max_age

    def _max_age(self, cache_control: str) -> int:
        """The max-age of a Cache-Control value (remembered: feeds send a handful of values)."""
        try:
            return self._max_ages[cache_control]
        except KeyError:
            pass
        found = _MAX_AGE.search(cache_control)
        value = int(found.group(1)) if found is not None else 0
        if "no-cache" in cache_control.lower() or "no-store" in cache_control.lower():
            value = 0  # the client must revalidate anyway: nothing to be impolite about
        if len(self._max_ages) < 64:
            self._max_ages[cache_control] = value
        return value


def init_app(app: Any) -> None:
    """Wrap the app (fast path included) in the audience layer, as the settings ask."""
    from feedserver.db import get_db

    counting = bool(app.config.get("FEED_STATS", True))
    polite = PolitePolicy() if app.config.get("POLITE_POLLING", True) else None
    tally = Tally(
        get_db(app), app.config["SECRET_KEY"], float(app.config.get("STATS_FLUSH_SECONDS", 5))
    )
    app.extensions[EXTENSION] = tally
    if not counting and polite is None:
        return
    layer = AudienceLayer(app.wsgi_app, tally, counting=counting, polite=polite)
    app.wsgi_app = app.extensions[LAYER] = layer


def layer_of(app: Any) -> AudienceLayer | None:
    """Return the app's audience layer, if it counts or polices anything."""
    found: AudienceLayer | None = app.extensions.get(LAYER)
    return found


def tally_of(app: Any) -> Tally | None:
    """Return the app's tally (for the API to flush its own process before reading)."""
    found: Tally | None = app.extensions.get(EXTENSION)
    return found
