"""The fetcher's keep-alive connections: reuse, and what must never be reused.

Each server here answers on one socket as long as the client keeps it, and
counts its connections, so a test sees whether a fetch reused one.
"""

from __future__ import annotations

import socket
import time

import pytest

from feeds.errors import BodyTooLarge, FetchError, FetchTimeout, HTTPStatusError
from feeds.model import Validators
from feeds.upstream.fetch import Fetcher
from tests.feeds.upstream_servers import RawServer, head

RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def ok(body: bytes = RSS, **extra: str) -> bytes:
    return head("200 OK", {"Content-Length": str(len(body)), **extra}) + body


def serve(answer: bytes, connections: list[int], *, close_after: int = 0):
    """A handler answering every request on a connection with ``answer``.

    ``close_after``: hang up after that many answers without saying so (0: never).
    """

    def handler(sock: socket.socket, _first: bytes) -> None:
        connections.append(1)
        answered, pending = 0, b""
        sock.sendall(answer)
        answered += 1
        while not close_after or answered < close_after:
            chunk = sock.recv(4096)
            if not chunk:
                return
            pending += chunk
            while b"\r\n\r\n" in pending:
                _, pending = pending.split(b"\r\n\r\n", 1)
                sock.sendall(answer)
                answered += 1

    return handler


def fetcher(raw: RawServer, **kw: object) -> Fetcher:
    return Fetcher(allowlist=f"127.0.0.1:{raw.port}", **kw)  # type: ignore[arg-type]


def test_bodies_read_to_the_end_keep_the_connection() -> None:
    seen: list[int] = []
    with RawServer(serve(ok(), seen)) as raw, fetcher(raw) as f:
        bodies = [f.fetch(raw.url("/feed")).body for _ in range(4)]
    assert bodies == [RSS] * 4
    assert len(seen) == 1


def test_a_connection_the_server_closed_silently_is_not_reused() -> None:
    """Keep-alive promised, then closed after each answer: every fetch still succeeds."""
    seen: list[int] = []
    with RawServer(serve(ok(), seen, close_after=1)) as raw, fetcher(raw) as f:
        for _ in range(3):
            assert f.fetch(raw.url("/feed")).body == RSS
            time.sleep(0.05)  # let the hang-up arrive: the pool must notice it
    assert len(seen) == 3


def test_a_stale_connection_is_retried_once_on_a_new_one() -> None:
    """The hang-up races the next request: the request is sent again, once."""
    seen: list[int] = []

    def handler(sock: socket.socket, _first: bytes) -> None:
        seen.append(1)
        sock.sendall(ok())
        if len(seen) == 1:  # the first connection: read the next request, then hang up
            sock.recv(4096)

    with RawServer(handler) as raw, fetcher(raw) as f:
        assert f.fetch(raw.url("/a")).body == RSS
        assert f.fetch(raw.url("/b")).body == RSS
    assert len(seen) == 2


def test_connection_close_is_honoured() -> None:
    seen: list[int] = []
    answer = ok(Connection="close")

    def handler(sock: socket.socket, _first: bytes) -> None:
        seen.append(1)
        sock.sendall(answer)
        sock.close()

    with RawServer(handler) as raw, fetcher(raw) as f:
        assert [f.fetch(raw.url("/feed")).body for _ in range(3)] == [RSS] * 3
    assert len(seen) == 3


def test_a_304_with_a_stray_body_does_not_poison_the_next_fetch() -> None:
    """Bytes after a 304 (which has no body) would be read as the next answer's status."""
    seen: list[int] = []
    not_modified = head("304 Not Modified", {"ETag": '"v1"'})

    def handler(sock: socket.socket, _first: bytes) -> None:
        seen.append(1)
        sock.sendall(not_modified + b"stray bytes in the same packet")
        time.sleep(0.02)
        sock.sendall(b"and more stray bytes later")  # waits in the socket, unread
        while sock.recv(4096):
            sock.sendall(not_modified)

    with RawServer(handler) as raw, fetcher(raw) as f:
        for _ in range(3):
            result = f.fetch(raw.url("/feed"), Validators(etag='"v1"'))
            assert result.not_modified and result.status == 304
            time.sleep(0.1)
    assert len(seen) == 3  # a connection with unread bytes waiting is never reused


def _feed(title: bytes) -> bytes:
    return b"<rss version='2.0'><channel><title>" + title + b"</title></channel></rss>"


def test_the_rest_of_a_body_sent_late_is_never_the_next_fetchs_answer() -> None:
    """A Content-Length too short, the rest sent a moment later (RFC 9112 §6.3).

    The next fetch on that connection read the leftover as its status line and
    failed, charged to a source that did nothing wrong. It now gets its own answer.
    """
    seen: list[int] = []
    body = _feed(b"first")

    def handler(sock: socket.socket, _first: bytes) -> None:
        seen.append(1)
        if len(seen) == 1:
            sock.sendall(head("200 OK", {"Content-Length": str(len(body) - 12)}) + body[:-12])
            request = sock.recv(4096)  # the next fetch's request is already in
            assert request.startswith(b"GET /b ")
            sock.sendall(body[-12:])  # ...and then the rest of the first body
            time.sleep(0.5)
            return
        sock.sendall(ok(_feed(b"second")))
        sock.recv(4096)

    with RawServer(handler) as raw, fetcher(raw) as f:
        f.fetch(raw.url("/a"))
        assert f.fetch(raw.url("/b")).body == _feed(b"second")
    assert len(seen) == 2


@pytest.mark.parametrize("delay", [0.0, 0.02])
def test_an_answer_nobody_asked_for_is_never_the_next_fetchs(delay: float) -> None:
    """A second, unasked answer after a complete one, in the same packet or a moment later."""
    seen: list[int] = []

    def handler(sock: socket.socket, _first: bytes) -> None:
        seen.append(1)
        if delay:
            sock.sendall(ok(_feed(b"asked")))
            time.sleep(delay)
            sock.sendall(ok(_feed(b"INJECTED")))
        else:
            sock.sendall(ok(_feed(b"asked")) + ok(_feed(b"INJECTED")))
        while chunk := sock.recv(4096):
            if b"\r\n\r\n" in chunk:
                sock.sendall(ok(_feed(b"asked")))

    with RawServer(handler) as raw, fetcher(raw) as f:
        first = f.fetch(raw.url("/a"))
        time.sleep(0.1)
        second = f.fetch(raw.url("/b"))
    assert first.body == second.body == _feed(b"asked")


def test_failed_fetches_give_their_connections_back() -> None:
    """Errors of every kind release the slot: two slots outlive ten failures."""
    big = head("200 OK", {"Content-Length": "5000"}) + b"x" * 5000
    seen: list[int] = []
    with RawServer(serve(big, seen)) as raw, fetcher(raw, max_connections=2, max_bytes=100) as f:
        for _ in range(10):
            with pytest.raises(BodyTooLarge):
                f.fetch(raw.url("/big"))
    errors = head("500 Oops", {"Content-Length": "2"}) + b"no"
    with RawServer(serve(errors, [])) as raw, fetcher(raw, max_connections=2) as f:
        for _ in range(10):
            with pytest.raises(HTTPStatusError):
                f.fetch(raw.url("/err"))
        started = time.monotonic()
        with pytest.raises(HTTPStatusError):
            f.fetch(raw.url("/err"))
        assert time.monotonic() - started < 1  # no wait for a slot


def test_garbage_instead_of_http_is_a_protocol_error() -> None:
    def handler(sock: socket.socket, _first: bytes) -> None:
        sock.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    with RawServer(handler) as raw, fetcher(raw) as f, pytest.raises(FetchError) as caught:
        f.fetch(raw.url("/feed"))
    assert "RemoteProtocolError" in str(caught.value)


def test_too_many_header_lines_are_refused() -> None:
    flood = "".join(f"X-{i}: {i}\r\n" for i in range(500))
    answer = f"HTTP/1.1 200 OK\r\n{flood}Content-Length: 0\r\n\r\n".encode()

    def handler(sock: socket.socket, _first: bytes) -> None:
        sock.sendall(answer)

    with RawServer(handler) as raw, fetcher(raw) as f, pytest.raises(FetchError) as caught:
        f.fetch(raw.url("/feed"))
    assert "RemoteProtocolError" in str(caught.value) and "headers" in str(caught.value)


def test_headers_dripped_forever_are_cut_off_at_the_deadline() -> None:
    def handler(sock: socket.socket, _first: bytes) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        for i in range(100):
            sock.sendall(f"X-{i}: y\r\n".encode())
            time.sleep(0.1)

    with (
        RawServer(handler) as raw,
        fetcher(raw, read_timeout=5, total_timeout=0.8) as f,
        pytest.raises(FetchTimeout, match="within 0.8 s"),
    ):
        f.fetch(raw.url("/feed"))


def test_idle_connections_are_capped_in_all_oldest_closed_first() -> None:
    """Polling many hosts must not leave a socket open per host: ``max_idle`` in all."""
    from feeds.upstream.connections import Connections, Origin
    from feeds.upstream.guard import Allowlist

    counts: list[list[int]] = [[] for _ in range(4)]
    servers = [RawServer(serve(ok(), seen)) for seen in counts]
    for server in servers:
        server.__enter__()
    pool = Connections(Allowlist.parse("127.0.0.1"), max_idle=2)

    def get(server: RawServer) -> None:
        response = pool.request(
            Origin("http", "127.0.0.1", server.port), "/feed", f"127.0.0.1:{server.port}", []
        )
        while response.read1():
            pass
        response.close()

    try:
        for server in servers:  # four hosts; only the last two stay open
            get(server)
        get(servers[3])  # kept: reused
        get(servers[0])  # the oldest, closed when the third came back: a new connection
    finally:
        pool.close()
        for server in servers:
            server.__exit__(None, None, None)
    assert [len(seen) for seen in counts] == [2, 1, 1, 1]
