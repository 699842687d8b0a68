"""The guarded httpx transport: every connection goes to a checked address.

Used where an httpx client fits (the WebSub hub client, the hub's deliveries);
the fetcher has its own lighter pool with the same guard,
:mod:`feeds.upstream.connections`.

:class:`GuardedBackend` is an httpcore network backend: at connect time it
resolves the host once (:func:`feeds.upstream.guard.resolve_checked`), refuses the
connection if any address is not public, then connects to an address it
checked. Pinning the connection to the checked address is what defeats DNS
rebinding: there is no second lookup between check and connect. TLS still
verifies the certificate against, and sends SNI for, the URL's host name
(httpcore takes ``server_hostname`` from the request's origin, not from the
address we connected to), and the Host header is the URL's.

It also enforces the fetch's total deadline on every socket wait.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from feeds.errors import BlockedAddress
from feeds.upstream import connections
from feeds.upstream.guard import Allowlist, Resolver, system_resolver

# The fetch deadline of this thread (or task), shared with feeds.upstream.connections.
deadline = connections.deadline


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    until = deadline.get()
    if until is None:
        return timeout
    remaining = until - time.monotonic()
    if remaining <= 0:
        raise error("total fetch deadline reached")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose waits never outlast the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address, connect only to a checked one."""

    def __init__(self, allowlist: Allowlist, resolver: Resolver = system_resolver) -> None:
        self._allowlist = allowlist
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._resolve(host, port, _clamp(timeout, httpcore.ConnectTimeout))
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _clamp(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as exc:  # try the next checked address
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """Resolve and check within the connect time-out (connections.resolve_within)."""
        try:
            return connections.resolve_within(host, port, self._allowlist, self._resolver, timeout)
        except connections.TransportTimeout as exc:
            raise httpcore.ConnectTimeout(exc.detail) from None

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddress(path, "unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as the httpx ones of the same name."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        kind = getattr(httpx, type(exc).__name__, httpx.TimeoutException)
        raise kind(str(exc) or "timed out") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        kind = getattr(httpx, type(exc).__name__, httpx.TransportError)
        if kind is httpx.ProtocolError:
            kind = httpx.RemoteProtocolError
        raise kind(str(exc) or type(exc).__name__) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport on an httpcore pool whose every connection is guarded.

    httpx's own ``HTTPTransport`` does not let us choose the network backend,
    so this is the few lines of it we need, on httpcore's public API. No
    proxies (a proxy would resolve names itself, out of the guard's sight).
    """

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(allowlist, resolver),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
