"""Fetch upstream feeds politely and defensively.

One :class:`Fetcher` owns one pool of guarded keep-alive connections
(:mod:`feeds.upstream.connections`, on ``http.client``; CA bundle loaded once)
and is meant to live as long as the poller. It is safe to share
between threads: the poller runs fetch+parse in a thread pool, because the app
around it (Flask, SQLAlchemy sessions) is synchronous and the parse is CPU
work an event loop would not speed up; a per-host semaphore keeps us from
opening more than ``max_per_host`` concurrent requests to one server.

What one :meth:`Fetcher.fetch` does:

- a conditional GET with the stored validators (RFC 9110 §13.1.1-2,
  If-None-Match / If-Modified-Since); a 304 is a result with
  ``not_modified=True`` and no body, not an exception, because it still
  carries validators and cache hints the scheduler needs;
- ``Accept`` prefers feed types, ``Accept-Encoding`` gzip/deflate (and br when
  the installed Brotli can decompress with a bounded output);
- redirects are followed by hand, at most ``max_redirects``, each target
  checked by the guard; an unbroken leading run of 301/308 (RFC 9110 §15.4.2,
  §15.4.9) yields ``permanent_redirect_url``;
- a connect time-out, a per-read time-out and a total deadline for the whole
  exchange (enforced on every socket wait by :mod:`feeds.upstream.transport`);
- a size cap counted on *decoded* bytes, decompressing in bounded steps, so a
  gzip bomb is cut off at the cap without ever holding more than the cap;
- 410 is a result with ``gone=True``; other 4xx/5xx raise
  :class:`~feeds.errors.HTTPStatusError` with ``retry_after`` for 429/503.

Exceptions (all :class:`~feeds.errors.FetchError`)::

    BlockedAddress      the guard refused the URL, a redirect target or an address
    FetchTimeout        connect, read or total deadline
    BodyTooLarge        more than max_bytes after decoding
    TooManyRedirects
    HTTPStatusError     4xx/5xx other than 410 (status, retry_after)
    FetchError          anything else: DNS failure, refused connection, bad TLS,
                        corrupt compression, unsupported Content-Encoding
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from feeds.errors import (
    BlockedAddress,
    BodyTooLarge,
    FeedError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
    parser_says,
)
from feeds.httpdate import format_http_date, http_date_text, parse_http_date
from feeds.lenient import parse_count, safe_etag
from feeds.model import Validators
from feeds.upstream import connections
from feeds.upstream.connections import Connections, Origin, TransportError, TransportTimeout
from feeds.upstream.decompress import ACCEPT_ENCODING, decoder_for
from feeds.upstream.guard import Allowlist, Resolver, check_url, system_resolver
from feeds.upstream.schedule import CacheHints, cache_hints

# The product token alone; the application adds its own site as the contact
# (feedserver.aggregation.jobs.user_agent) -- no invented address here.
PRODUCT = "feedserver/0.1"
USER_AGENT = PRODUCT
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.1"
)
MIB = 1024 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
MAX_LINK_HEADERS = 32  # Link header lines kept; a feed needs two


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of a fetch that reached a usable answer (2xx, 304 or 410)."""

    url: str  # the URL asked for
    final_url: str  # the URL that answered, after redirects
    status: int
    body: bytes | None  # None for 304 and 410
    content_type: str | None
    validators: Validators  # to store and send next time
    cache: CacheHints = field(default_factory=CacheHints)
    permanent_redirect_url: str | None = None  # store this URL instead of ``url``
    not_modified: bool = False  # 304: nothing changed since ``validators``
    gone: bool = False  # 410: disable the source
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The answering response's ``Link`` header values (RFC 8288), for WebSub
    # discovery, which prefers them to the document's links.
    links: tuple[str, ...] = ()


class Exchange(Protocol):
    """One answer being read: what :class:`Fetcher` needs of a transport's response."""

    status: int
    reason: str
    headers: Any  # .get(name) and .get_all(name), case-insensitive (http.client's message)

    def read1(self, size: int = ...) -> bytes: ...

    def close(self) -> None: ...


# (origin, request target, Host header, other headers) -> the answer, headers read.
Send = Callable[[Origin, str, str, list[tuple[str, str]]], Exchange]


# Seconds a fetch must have left to send a request (a redirect's): less
# could not get an answer, only start work upstream for nothing.
MIN_TIME_LEFT = 0.5
TURN_CHECK = 0.25  # seconds between a waiting fetch's looks for a stop


class FetchCancelled(Exception):
    """The fetcher was told to stop (:meth:`Fetcher.cancel_waiting`) before this fetch began.

    Not a :class:`~feeds.errors.FeedError`: nothing was asked of the upstream,
    so nothing is its fault; the caller hands the work back.
    """


class Fetcher:
    """A long-lived, thread-safe fetcher with the guard and the limits built in."""

    def __init__(
        self,
        *,
        allowlist: Allowlist | str | None = None,
        user_agent: str = USER_AGENT,
        max_bytes: int = 5 * MIB,
        max_redirects: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 15.0,
        total_timeout: float = 30.0,
        max_connections: int = 100,
        max_per_host: int = 4,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | None = None,
        send_: Send | None = None,
    ) -> None:
        """Make the connection pool; ``send_`` replaces it (tests without sockets only).

        ``verify`` is an ``ssl.SSLContext`` to trust other CAs (tests).
        """
        self.allowlist = (
            allowlist if isinstance(allowlist, Allowlist) else Allowlist.parse(allowlist)
        )
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.total_timeout = total_timeout
        self._max_per_host = max_per_host
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._hosts_lock = threading.Lock()
        self._cancelled = threading.Event()
        self._pool = Connections(
            self.allowlist,
            resolver=resolver,
            ssl_context=verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_per_host=max_per_host,
        )
        self._send: Send = send_ or self._pool.request
        # No cookies, no proxies, no .netrc: nothing but these and the validators is sent.
        self._headers = [
            ("User-Agent", user_agent),
            ("Accept", ACCEPT),
            ("Accept-Encoding", ACCEPT_ENCODING),
        ]

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """GET ``url`` (conditionally, given ``validators``) within every limit.

        At most ``max_per_host`` requests go to one host at a time, the host
        of every hop (a redirect's target is limited like a feed's own host).
        The time-out counts from the moment the first request may go: waiting
        for a host's turn is not the upstream's slowness, and a request is
        never sent only to be given up on at once.
        """
        token = connections.deadline.set(None)  # set when the first request may go
        try:
            checked = check_url(url, self.allowlist)
            return self._fetch(url, checked, validators or Validators())
        except FeedError:
            raise
        except TransportTimeout as exc:
            until = connections.deadline.get()
            if until is not None and time.monotonic() >= until - 0.05:
                problem = f"no complete answer within {self.total_timeout:g} s"
            else:
                problem = f"{exc.kind} time-out"
            raise FetchTimeout(url, problem) from None
        except TransportError as exc:
            raise FetchError(url, f"{exc.kind}: {exc.detail}") from None
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"invalid URL ({parser_says(exc, url)})") from None
        finally:
            connections.deadline.reset(token)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._hosts_lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self._max_per_host)
            return slot

    def _take_turn(self, url: str, current: httpx.URL) -> threading.BoundedSemaphore:
        """Wait for the host's turn; the fetch's clock does not run while it waits.

        The first turn starts the clock (``total_timeout``); a redirect's
        host may have to wait for its turn too, and the clock stops meanwhile
        (what was left is left after the wait). Waits are as long as it
        takes: the fetches under way at a host end within their time-outs.
        """
        slot = self._host_slot(current.host)
        until = connections.deadline.get()
        left = self.total_timeout if until is None else until - time.monotonic()
        if left < MIN_TIME_LEFT:  # no request sent only to be given up on at once
            raise FetchTimeout(url, f"no complete answer within {self.total_timeout:g} s")
        while not slot.acquire(timeout=TURN_CHECK):
            if self._cancelled.is_set():
                raise FetchCancelled(url)
        if self._cancelled.is_set() and until is None:  # not begun: no request goes now
            slot.release()
            raise FetchCancelled(url)
        connections.deadline.set(time.monotonic() + left)
        return slot

    def cancel_waiting(self) -> None:
        """A stop: fetches that have sent nothing yet end in :class:`FetchCancelled`.

        Fetches under way go on to their end (a redirect's next hop included).
        """
        self._cancelled.set()

    def _fetch(self, url: str, current: httpx.URL, validators: Validators) -> FetchResult:
        permanent: str | None = None
        still_permanent = True
        headers = self._headers + list(_conditional_headers(validators).items())
        for hops in range(self.max_redirects + 1):
            slot = self._take_turn(url, current)
            try:
                try:
                    response = self._send(*_request_line(current), headers)
                except (BlockedAddress, FetchError) as exc:  # the guard names host:port
                    where = "" if str(current) == url else f"redirect to {current} refused: "
                    raise type(exc)(url, f"{where}{exc.problem}") from None
                try:
                    if response.status not in REDIRECTS:
                        result = self._finish(url, current, response, validators)
                        if permanent is not None:
                            result = replace(result, permanent_redirect_url=permanent)
                        return result
                    target = _redirect_target(url, current, response)
                    _drain(response)
                finally:
                    response.close()
            finally:
                slot.release()
            if hops == self.max_redirects:
                raise TooManyRedirects(url, f"more than {self.max_redirects} redirects")
            try:
                current = check_url(target, self.allowlist)
            except FeedError as exc:
                raise type(exc)(url, f"redirect to {target} refused: {exc.problem}") from None
            if still_permanent and response.status in PERMANENT:
                permanent = str(current)
            else:
                still_permanent = False
        raise AssertionError("unreachable")  # pragma: no cover

    def _finish(
        self, url: str, current: httpx.URL, response: Exchange, sent: Validators
    ) -> FetchResult:
        now = datetime.now(UTC)
        status = response.status
        headers = response.headers
        hints = cache_hints(
            cache_control=headers.get("cache-control"),
            expires=headers.get("expires"),
            age=headers.get("age"),
            # RFC 9110 §10.2.3: a wait asked for with a 429 or 503 (a 200's means nothing).
            retry_after=headers.get("retry-after") if status in (429, 503) else None,
            date=headers.get("date"),
            now=now,
        )
        seen = Validators(
            # Stored and sent back later: only a value every HTTP stack accepts.
            etag=safe_etag(headers.get("etag")),
            last_modified=parse_http_date(headers.get("last-modified")),
            last_modified_text=http_date_text(headers.get("last-modified")),
        )
        common: dict[str, Any] = {
            "url": url,
            "final_url": str(current),
            "status": status,
            "content_type": headers.get("content-type"),
            "cache": hints,
            "fetched_at": now,
            "links": tuple((headers.get_all("link") or [])[:MAX_LINK_HEADERS]),
        }
        if status == 304:
            # A 304 may omit unchanged validators (RFC 9110 §15.4.5): keep ours.
            kept = Validators(
                etag=seen.etag or sent.etag,
                last_modified=seen.last_modified or sent.last_modified,
                last_modified_text=(
                    seen.last_modified_text if seen.last_modified else sent.last_modified_text
                ),
            )
            _drain(response)
            return FetchResult(body=None, validators=kept, not_modified=True, **common)
        if status == 410:
            _drain(response)
            return FetchResult(body=None, validators=seen, gone=True, **common)
        if 200 <= status < 300:
            try:
                body = self._read_body(url, response)
            except FeedError as exc:  # after the headers: the upstream did answer
                exc.status = status
                raise
            return FetchResult(body=body, validators=seen, **common)
        where = "" if str(current) == url else f" from {current}"
        raise HTTPStatusError(
            url,
            status,
            f"HTTP {status} {response.reason}{where}".rstrip(),
            retry_after=hints.retry_after if status in (429, 503) else None,
        )

    def _read_body(self, url: str, response: Exchange) -> bytes:
        cap = self.max_bytes
        coding = (response.headers.get("content-encoding") or "identity").strip().lower()
        declared = response.headers.get("content-length") or ""
        length = parse_count(declared, 2**62)
        if coding in ("", "identity") and length is not None and length > cap:
            raise BodyTooLarge(url, f"body over {_size(cap)} (Content-Length {declared})")
        decoder = decoder_for(url, coding)
        body = bytearray()
        until = connections.deadline.get()
        while raw := response.read1(65536):
            for piece in decoder(raw):
                body += piece
                if len(body) > cap:
                    raise BodyTooLarge(url, f"body over {_size(cap)}")
            if until is not None and time.monotonic() > until:
                raise FetchTimeout(url, f"body not received within {self.total_timeout:g} s")
        for piece in decoder(b""):
            body += piece
            if len(body) > cap:
                raise BodyTooLarge(url, f"body over {_size(cap)}")
        return bytes(body)


DRAIN_LIMIT = 64 * 1024


def _drain(response: Exchange) -> None:
    """Read a small body we do not need, so the connection can be kept for the next fetch.

    A connection whose answer was not read to its end cannot carry another
    request; for the 304s that are most of a steady-state poll that would
    mean a new TCP (and TLS) connection per feed. A body larger than
    DRAIN_LIMIT is not worth waiting for: the connection is dropped instead.
    """
    seen = 0
    try:
        while piece := response.read1(65536):
            seen += len(piece)
            if seen > DRAIN_LIMIT:
                return
    except TransportError:
        return


def _request_line(url: httpx.URL) -> tuple[Origin, str, str]:
    """Where to connect, the request target and the Host header, from a checked URL."""
    scheme = url.scheme
    host = url.raw_host.decode("ascii")
    default = 443 if scheme == "https" else 80
    port = url.port or default
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return Origin(scheme, host, port), url.raw_path.decode("ascii"), host_header


def _conditional_headers(validators: Validators) -> dict[str, str]:
    headers = {}
    # A value stored before validators were vetted may be unsendable: drop it
    # (one unconditional GET) rather than fail the fetch on every poll.
    etag = safe_etag(validators.etag)
    if etag:
        headers["If-None-Match"] = etag
    if validators.last_modified is not None:
        headers["If-Modified-Since"] = validators.last_modified_text or format_http_date(
            validators.last_modified
        )
    return headers


def _redirect_target(url: str, current: httpx.URL, response: Exchange) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise HTTPStatusError(url, response.status, f"HTTP {response.status} without Location")
    # Header values arrive decoded as Latin-1, so a Location sent as raw UTF-8
    # ("/café") would be encoded twice ("/caf%C3%83%C2%A9"). Its octets above
    # ASCII are escaped as they were sent, as browsers and curl do.
    if not location.isascii():
        location = "".join(
            ch if ord(ch) < 0x80 else f"%{ord(ch):02X}" for ch in location if ord(ch) < 0x100
        )
    try:
        return current.join(location).copy_with(fragment=None)
    except httpx.InvalidURL as exc:
        raise FetchError(
            url, f"bad redirect Location {location!r} ({parser_says(exc, location)})"
        ) from None


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n} bytes"
