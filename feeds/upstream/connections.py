"""Keep-alive HTTP/1.1 connections to upstreams, each one to an address the guard checked.

The fetcher's transport (:class:`feeds.upstream.fetch.Fetcher`), on the
standard library's ``http.client``: a poll is mostly conditional GETs answered
304, and per request this costs about half the CPU time of an httpx client
over httpcore, so a steady-state poll is as cheap as the HTTP it does.

- **The guard at connect time**: the host is resolved once
  (:func:`feeds.upstream.guard.resolve_checked`, within the connect time-out,
  on a small lookup pool since ``getaddrinfo`` has none), the connection is
  refused if any address is not public, and the socket connects to an address
  that was checked: no second lookup between check and connect (DNS
  rebinding). TLS verifies the certificate against, and sends SNI for, the
  URL's host name; the ``Host`` header is the URL's.
- **Deadlines**: every socket wait (connect, TLS handshake, each send and
  each receive, status line and headers included) is clamped to the fetch's
  total deadline (:data:`deadline`), so a server that drips a byte a second is
  cut off at the deadline, not only when one read stalls.
- **Keep-alive**: a response read to its end goes back to a per-host idle
  list (LIFO, at most ``max_idle_per_host`` per host and ``max_idle`` in all,
  the oldest closed first, none older than ``keepalive_expiry`` seconds, and
  none that has bytes or an EOF waiting, when it is given back or taken); one
  that was not, or that said ``Connection: close``, is closed. A request on a
  reused connection that the server had meanwhile closed, or whose answer
  does not start with a status line (bytes of an earlier answer sent late),
  is retried once on a new connection (GET is idempotent). ``max_connections`` bounds
  the connections in use at once.
- No proxies, no cookies, no redirects (the fetcher follows them itself,
  checking each target), HTTP/1.1 only; ``http.client`` refuses more than 100
  header lines or a line over 64 kB.

Errors: :class:`TransportError` (``kind`` in httpx's words: ``ConnectError``,
``ReadError``, ``RemoteProtocolError`` …), :class:`TransportTimeout`, and the guard's own.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from feeds.errors import FeedError
from feeds.upstream.guard import Allowlist, Resolver, numeric_host, resolve_checked, system_resolver

# The monotonic deadline of the fetch running in this thread (or task), set by
# feeds.upstream.fetch; every socket wait is clamped to it (here and in
# feeds.upstream.transport).
deadline: ContextVar[float | None] = ContextVar("feeds_fetch_deadline", default=None)

_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="feeds-dns")
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_RETRIED = (*_STALE, http.client.BadStatusLine)


class TransportError(Exception):
    """The exchange failed below HTTP semantics; ``kind`` says where."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class TransportTimeout(TransportError):
    """A wait ran out: ``kind`` is connect, read, write or connection pool."""


def clamp(timeout: float | None, kind: str) -> float | None:
    """``timeout``, shortened to what is left of the fetch's deadline."""
    until = deadline.get()
    if until is None:
        return timeout
    remaining = until - time.monotonic()
    if remaining <= 0:
        raise TransportTimeout(kind, "total fetch deadline reached")
    return remaining if timeout is None else min(timeout, remaining)


def resolve_within(
    host: str, port: int, allowlist: Allowlist, resolver: Resolver, timeout: float | None
) -> list[str]:
    """:func:`~feeds.upstream.guard.resolve_checked`, given up on after ``timeout``.

    A stuck lookup then occupies one pool thread until the resolver gives up.
    """
    if numeric_host(host) is not None:  # nothing to look up
        return resolve_checked(host, port, allowlist, resolver)
    future = _LOOKUPS.submit(resolve_checked, host, port, allowlist, resolver)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TransportTimeout("connect", f"DNS lookup of {host} timed out") from None


class _Reader(socket.SocketIO):
    """The receiving side of a socket, each receive clamped to the deadline."""

    def __init__(self, owner: _Socket, read_timeout: float | None) -> None:
        super().__init__(owner.sock, "rb")
        self._owner = owner
        self._timeout = read_timeout

    def readinto(self, buffer: Any) -> int:
        self._owner.sock.settimeout(clamp(self._timeout, "read"))
        try:
            return super().readinto(buffer) or 0
        except TimeoutError:
            raise TransportTimeout("read", "read time-out") from None

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.reader_closed()


class _Socket:
    """What http.client needs of a socket (sendall, makefile, close), deadline-clamped.

    Like ``socket.makefile``, a reader keeps the socket open after close()
    until the reader is closed too: http.client closes its connection as soon
    as an answer says ``Connection: close``, and the answer is read after.
    """

    def __init__(self, sock: socket.socket, read_timeout: float | None) -> None:
        self.sock = sock
        self._timeout = read_timeout
        self._readers = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(clamp(self._timeout, "write"))
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise TransportTimeout("write", "write time-out") from None

    def makefile(self, mode: str) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self, self._timeout), 65536)

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self.sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self.sock.close()

    def idle_and_open(self) -> bool:
        """A kept connection is reusable if nothing arrived on it (an EOF would)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str  # ASCII (IDNA-encoded), an IPv6 address without brackets
    port: int


class _Connection(http.client.HTTPConnection):
    """One upstream connection; it connects through :meth:`Connections.open_socket`."""

    def __init__(self, origin: Origin, pool: Connections) -> None:
        super().__init__(origin.host, origin.port)
        self.origin = origin
        self.pool = pool
        self.reused = False
        self.idle_since = 0.0

    def connect(self) -> None:
        self.sock = self.pool.open_socket(self.origin)


class Response:
    """An answer's status and headers, and its body read piece by piece."""

    def __init__(self, pool: Connections, connection: _Connection, raw: Any) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._raw: http.client.HTTPResponse = raw
        self.status: int = raw.status
        self.reason: str = raw.reason
        self.headers: http.client.HTTPMessage = raw.headers

    def read1(self, size: int = 65536) -> bytes:
        """The next piece of the body as sent (still content-encoded); b"" at its end."""
        try:
            piece = self._raw.read1(size)
            if not piece:
                missing = self._raw.length
                if missing:  # RFC 9112 §8: closed before the announced length: incomplete
                    raise TransportError(
                        "RemoteProtocolError",
                        f"connection closed {missing} bytes before the end of the body",
                    )
                if not self._raw.isclosed():
                    self._raw.read()  # a body of length 0 (a 304's): mark the answer complete
            return piece
        except TransportError:
            raise
        except TimeoutError:
            raise TransportTimeout("read", "read time-out") from None
        except http.client.HTTPException as exc:
            raise TransportError("RemoteProtocolError", _say(exc)) from None
        except OSError as exc:
            raise TransportError("ReadError", _say(exc)) from None

    def close(self) -> None:
        """Give the connection back if the body was read to its end, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        reusable = self._raw.isclosed() and not self._raw.will_close
        sock = connection.sock
        if reusable and isinstance(sock, _Socket) and not sock.idle_and_open():
            # Bytes after the body (a Content-Length too short, a second answer
            # nobody asked for) must never be read as the next request's answer
            # (RFC 9112 §6.3): the connection is closed, not kept.
            reusable = False
        if not reusable:
            self._raw.close()
        self._pool.release(connection, reusable=reusable)


class Connections:
    """A thread-safe pool of guarded keep-alive connections (see the module docstring)."""

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 15.0,
        max_connections: int = 100,
        max_idle_per_host: int = 8,
        max_idle: int = 20,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._allowlist = allowlist
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_idle = max(1, max_idle_per_host)
        self._expiry = keepalive_expiry
        self._max_idle_total = max(1, max_idle)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lru: OrderedDict[_Connection, None] = OrderedDict()  # every idle one, oldest first
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self, origin: Origin, target: str, host_header: str, headers: list[tuple[str, str]]
    ) -> Response:
        """Send ``GET target`` and return the answer once its headers are in."""
        if not self._slots.acquire(timeout=clamp(self._connect_timeout, "connection pool")):
            raise TransportTimeout("connection pool", "no free connection")
        try:
            for attempt in (1, 2):
                connection = self._checkout(origin)
                try:
                    connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
                    connection.putheader("Host", host_header)
                    for name, value in headers:
                        connection.putheader(name, value)
                    connection.endheaders()
                    raw = connection.getresponse()
                except Exception as exc:
                    connection.close()
                    if attempt == 1 and connection.reused and isinstance(exc, _RETRIED):
                        # The server closed the kept connection meanwhile, or what
                        # came is no answer's start: the rest of an earlier body
                        # sent late. Either way a new connection gets this answer.
                        continue
                    raise _translate(exc) from None
                return Response(self, connection, raw)
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            self._slots.release()
            raise

    def open_socket(self, origin: Origin) -> Any:
        """Resolve and check once, connect to a checked address, start TLS on the URL's name."""
        addresses = resolve_within(
            origin.host,
            origin.port,
            self._allowlist,
            self._resolver,
            clamp(self._connect_timeout, "connect"),
        )
        failure: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection(
                    (address, origin.port), timeout=clamp(self._connect_timeout, "connect")
                )
            except TimeoutError:
                raise TransportTimeout("connect", "connect time-out") from None
            except OSError as exc:  # try the next checked address
                failure = exc
                continue
            break
        else:
            assert failure is not None
            raise TransportError("ConnectError", _say(failure))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                context = self._ssl_context or _default_context()
                sock.settimeout(clamp(self._connect_timeout, "connect"))
                sock = context.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError:
            sock.close()
            raise TransportTimeout("connect", "connect time-out") from None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            sock.close()
            raise TransportError("ConnectError", _say(exc)) from None
        return _Socket(sock, self._read_timeout)

    def _checkout(self, origin: Origin) -> _Connection:
        now = time.monotonic()
        with self._lock:
            kept = self._idle.get(origin) or []
            while kept:
                connection = kept.pop()
                del self._lru[connection]
                sock = connection.sock
                fresh = now - connection.idle_since < self._expiry
                if fresh and isinstance(sock, _Socket) and sock.idle_and_open():
                    connection.reused = True
                    return connection
                connection.close()
        return _Connection(origin, self)

    def release(self, connection: _Connection, *, reusable: bool) -> None:
        """Take a connection back: kept idle if ``reusable`` and there is room, else closed."""
        dropped = [] if reusable and connection.sock is not None else [connection]
        try:
            if not dropped:
                now = connection.idle_since = time.monotonic()
                with self._lock:
                    # Oldest first: the expired, then whatever exceeds the idle limit.
                    while self._lru and (
                        len(self._lru) >= self._max_idle_total
                        or now - next(iter(self._lru)).idle_since >= self._expiry
                    ):
                        oldest, _ = self._lru.popitem(last=False)
                        self._idle[oldest.origin].remove(oldest)
                        dropped.append(oldest)
                    kept = self._idle.setdefault(connection.origin, [])
                    if self._closed or len(kept) >= self._max_idle:
                        dropped.append(connection)
                    else:
                        kept.append(connection)
                        self._lru[connection] = None
        finally:
            self._slots.release()
            for gone in dropped:
                gone.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
            self._lru.clear()
        for kept in idle.values():
            for connection in kept:
                connection.close()


_CONTEXT: list[ssl.SSLContext] = []


def _default_context() -> ssl.SSLContext:
    """The CA bundle httpx trusts (certifi), loaded once per process."""
    if not _CONTEXT:
        import certifi

        _CONTEXT.append(ssl.create_default_context(cafile=certifi.where()))
    return _CONTEXT[0]


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, TransportError | FeedError):
        return exc
    if isinstance(exc, TimeoutError):
        return TransportTimeout("read", "read time-out")
    if isinstance(exc, http.client.HTTPException):
        return TransportError("RemoteProtocolError", _say(exc))
    if isinstance(exc, OSError):
        return TransportError("ReadError", _say(exc))
    if isinstance(exc, ValueError):  # http.client refused to send a header or target
        return TransportError("LocalProtocolError", _say(exc))
    return exc


def _say(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
