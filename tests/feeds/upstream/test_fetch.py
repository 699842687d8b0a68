"""feeds.upstream.fetch against real HTTP servers on 127.0.0.1 (allowlisted by port).

No test sends a packet anywhere but loopback: `connections` records every
socket the code opens and the guard tests assert it stayed empty.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer as MockServer
from werkzeug import Request, Response

from feeds.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ParseError,
    TooManyRedirects,
    printable,
)
from feeds.model import Validators
from feeds.upstream import decompress
from feeds.upstream.discover import discover_feeds
from feeds.upstream.fetch import Fetcher
from feeds.upstream.parse import parse_feed
from tests.feeds.upstream_servers import RawServer, head

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


@pytest.fixture
def server(httpserver_ipv4: MockServer) -> MockServer:
    return httpserver_ipv4


@pytest.fixture
def fetcher(server: MockServer) -> Iterator[Fetcher]:
    with Fetcher(allowlist=f"127.0.0.1:{server.port}", total_timeout=5) as f:
        yield f


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address a socket was opened to during the test."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def spy(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        assert address[0] in ("127.0.0.1", "::1"), f"test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    return opened


def url(server: MockServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


# --- the happy paths ---------------------------------------------------------


def test_200_returns_body_validators_and_hints(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/feed").respond_with_data(
        RSS,
        content_type="application/rss+xml",
        headers={
            "ETag": '"v1"',
            "Last-Modified": "Tue, 14 May 2024 08:00:00 GMT",
            "Cache-Control": "public, max-age=600",
        },
    )
    result = fetcher.fetch(url(server, "/feed"))
    assert result.status == 200
    assert result.body == RSS
    assert result.content_type == "application/rss+xml"
    assert result.validators == Validators(
        '"v1"', datetime(2024, 5, 14, 8, tzinfo=UTC), "Tue, 14 May 2024 08:00:00 GMT"
    )
    assert result.cache.max_age == timedelta(seconds=600)
    assert not result.not_modified and not result.gone
    assert result.final_url == result.url == url(server, "/feed")
    sent = server.log[0][0]
    assert sent.headers["User-Agent"] == "feedserver/0.1"  # no made-up contact
    assert sent.headers["Accept"].startswith("application/atom+xml, application/rss+xml")
    assert "gzip" in sent.headers["Accept-Encoding"]
    assert "If-None-Match" not in sent.headers


def test_304_with_stored_validators(server: MockServer, fetcher: Fetcher) -> None:
    stored = Validators('"v1"', datetime(2024, 5, 14, 8, tzinfo=UTC))
    server.expect_request(
        "/feed",
        headers={"If-None-Match": '"v1"', "If-Modified-Since": "Tue, 14 May 2024 08:00:00 GMT"},
    ).respond_with_data(b"", status=304, headers={"Cache-Control": "max-age=60"})
    result = fetcher.fetch(url(server, "/feed"), stored)
    assert result.not_modified and result.status == 304
    assert result.body is None
    assert result.validators == stored  # the 304 sent none: ours are kept
    assert result.cache.max_age == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        # Valid HTTP-dates go back exactly as written: some servers compare text.
        ("Sunday, 06-Nov-94 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"),
        ("Sun Nov  6 08:49:37 1994", "Sun Nov  6 08:49:37 1994"),
        ("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT"),
        # Not an HTTP-date (a numeric zone): read, and sent back in the one valid form.
        ("Sun, 06 Nov 1994 10:49:37 +0200", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ],
)
def test_last_modified_is_sent_back_as_the_server_wrote_it(
    server: MockServer, fetcher: Fetcher, sent: str, echoed: str
) -> None:
    server.expect_request("/feed").respond_with_data(RSS, headers={"Last-Modified": sent})
    first = fetcher.fetch(url(server, "/feed"))
    assert first.validators.last_modified == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    server.clear()
    server.expect_request("/feed", headers={"If-Modified-Since": echoed}).respond_with_data(
        b"", status=304
    )
    again = fetcher.fetch(url(server, "/feed"), first.validators)
    assert again.not_modified
    assert again.validators == first.validators  # kept for the next time too


def test_gzip_and_deflate_bodies_are_decoded(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/gz").respond_with_data(
        gzip.compress(RSS), headers={"Content-Encoding": "gzip"}
    )
    server.expect_request("/zlib").respond_with_data(
        zlib.compress(RSS), headers={"Content-Encoding": "deflate"}
    )
    raw = zlib.compressobj(wbits=-15)
    server.expect_request("/raw").respond_with_data(
        raw.compress(RSS) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    for path in ("/gz", "/zlib", "/raw"):
        assert fetcher.fetch(url(server, path)).body == RSS


def test_a_gzip_body_of_several_members_is_decoded_whole(
    server: MockServer, fetcher: Fetcher
) -> None:
    """RFC 1952 §2.2: decoding stopped after the first member, and the feed read as cut."""
    half = len(RSS) // 2
    members = gzip.compress(RSS[:half]) + gzip.compress(RSS[half:])
    server.expect_request("/two").respond_with_data(members, headers={"Content-Encoding": "gzip"})
    assert fetcher.fetch(url(server, "/two")).body == RSS


def _decode(sent: bytes, cuts: list[int], coding: str = "gzip") -> bytes:
    feed = decompress.decoder_for("http://x.example/", coding)
    edges = [0, *sorted(c % (len(sent) + 1) for c in cuts), len(sent)]
    out = b"".join(b"".join(feed(sent[a:b])) for a, b in itertools.pairwise(edges) if b > a)
    return out + b"".join(feed(b""))


@pytest.mark.fuzz
@given(
    parts=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6),
    garbage=st.sampled_from([b"", b"\x00", b"junk after the end", b"\x1f"]),
)
def test_gzip_members_decode_to_their_joined_data_wherever_the_chunks_break(
    parts: list[bytes], cuts: list[int], garbage: bytes
) -> None:
    sent = b"".join(gzip.compress(p) for p in parts) + garbage
    assert _decode(sent, cuts) == b"".join(parts)


@pytest.mark.parametrize(
    "sent",
    [
        gzip.compress(b"<a>") + gzip.compress(b" " * 70_000) + gzip.compress(b"</a>"),
        gzip.compress(b" " * 100_000) + b"\r\n",  # a member ending inside a full step
        gzip.compress(b" " * 200_000) + gzip.compress(b" " * 200_000) + b"junk",
    ],
)
def test_a_member_that_ends_inside_a_full_step_is_followed_by_the_rest(sent: bytes) -> None:
    """zlib leaves its old unconsumed_tail at a stream's end: the decoder looped on it
    for ever, at full CPU, past the fetch's time-out (found by a regression audit)."""
    expected = b"".join(_members(sent))
    done = threading.Event()
    out: list[bytes] = []
    worker = threading.Thread(target=lambda: (out.append(_decode(sent, [])), done.set()))
    worker.daemon = True
    worker.start()
    assert done.wait(10), "the decoder never finished"
    assert out == [expected]


def _members(sent: bytes) -> Iterator[bytes]:
    """What gzip -d writes: every member's data, trailing garbage ignored."""
    while sent[:2] == b"\x1f\x8b":
        member = zlib.decompressobj(31)
        yield member.decompress(sent)
        sent = member.unused_data


@pytest.mark.fuzz
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300_000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4),
    garbage=st.sampled_from([b"", b"\r\n", b"\x1f"]),
)
def test_large_gzip_members_decode_in_bounded_steps(sizes, cuts, garbage) -> None:
    sent = b"".join(gzip.compress(bytes([65 + i % 26]) * n) for i, n in enumerate(sizes))
    assert _decode(sent + garbage, cuts) == b"".join(
        bytes([65 + i % 26]) * n for i, n in enumerate(sizes)
    )


def test_a_bomb_split_into_members_is_still_cut_at_the_cap() -> None:
    bomb = b"".join(gzip.compress(b" " * (1 << 20), 9) for _ in range(12))
    assert len(bomb) < 20_000

    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(
            head("200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}) + bomb
        )

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}", max_bytes=5 * 1024 * 1024) as fetcher,
        pytest.raises(BodyTooLarge),
    ):
        fetcher.fetch(raw.url("/feed"))


@pytest.mark.parametrize("wrapped", [True, False])
@pytest.mark.parametrize("cuts", [[1], [1, 2, 3], list(range(1, 40)), []])
def test_deflate_is_told_from_raw_deflate_whatever_its_first_chunk(wrapped, cuts) -> None:
    """Raw deflate sent a byte at a time was "corrupt": one byte tells no zlib header."""
    if wrapped:
        sent = zlib.compress(RSS)
    else:
        raw = zlib.compressobj(wbits=-15)
        sent = raw.compress(RSS) + raw.flush()
    assert _decode(sent, cuts, "deflate") == RSS


def test_a_cut_second_gzip_member_is_a_truncated_body() -> None:
    sent = gzip.compress(b"first") + gzip.compress(b"second")[:-6]
    with pytest.raises(FetchError, match="truncated gzip body"):
        _decode(sent, [])


@pytest.mark.skipif(decompress._brotli is None, reason="Brotli without bounded output")
def test_brotli_body_is_decoded(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/br").respond_with_data(
        decompress._brotli.compress(RSS), headers={"Content-Encoding": "br"}
    )
    assert fetcher.fetch(url(server, "/br")).body == RSS


def test_one_fetcher_serves_many_threads(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/feed").respond_with_data(RSS)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: fetcher.fetch(url(server, "/feed")), range(32)))
    assert all(r.body == RSS for r in results)


def test_wrong_content_is_fetched_then_refused_by_parse_and_discovered(
    server: MockServer, fetcher: Fetcher
) -> None:
    page = b'<!DOCTYPE html><html><head><link rel="alternate" type="application/atom+xml" href="/a.xml"></head></html>'
    server.expect_request("/").respond_with_data(page, content_type="text/html; charset=utf-8")
    result = fetcher.fetch(url(server, "/"))
    assert result.body == page and result.content_type == "text/html; charset=utf-8"
    with pytest.raises(ParseError, match="an HTML page, not a feed"):
        parse_feed(page, result.final_url, result.content_type)
    assert discover_feeds(page, result.final_url, result.content_type) == [url(server, "/a.xml")]


# --- statuses ------------------------------------------------------------------


def test_410_is_gone(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/feed").respond_with_data(b"bye", status=410)
    result = fetcher.fetch(url(server, "/feed"))
    assert result.gone and result.status == 410 and result.body is None


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502])
def test_error_statuses_raise(server: MockServer, fetcher: Fetcher, status: int) -> None:
    server.expect_request("/feed").respond_with_data(b"no", status=status)
    with pytest.raises(HTTPStatusError) as caught:
        fetcher.fetch(url(server, "/feed"))
    assert caught.value.status == status
    assert caught.value.retry_after is None
    assert str(caught.value).startswith(f"fetch {url(server, '/feed')}: HTTP {status}")


def test_429_carries_retry_after_seconds(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/feed").respond_with_data(
        b"slow down", status=429, headers={"Retry-After": "120"}
    )
    before = datetime.now(UTC)
    with pytest.raises(HTTPStatusError) as caught:
        fetcher.fetch(url(server, "/feed"))
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert timedelta(seconds=119) < caught.value.retry_after - before < timedelta(seconds=125)


def test_503_carries_retry_after_date(server: MockServer, fetcher: Fetcher) -> None:
    server.expect_request("/feed").respond_with_data(
        b"", status=503, headers={"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}
    )
    with pytest.raises(HTTPStatusError) as caught:
        fetcher.fetch(url(server, "/feed"))
    assert caught.value.retry_after == datetime(2037, 10, 21, 7, 28, tzinfo=UTC)


def test_a_retry_after_on_a_200_asks_for_no_wait(server: MockServer, fetcher: Fetcher) -> None:
    """RFC 9110 §10.2.3 gives it a meaning on 429 and 503: a 200's delayed the next poll a day."""
    server.expect_request("/feed").respond_with_data(RSS, headers={"Retry-After": "86400"})
    assert fetcher.fetch(url(server, "/feed")).cache.retry_after is None


# --- redirects -------------------------------------------------------------------


def redirect(server: MockServer, path: str, status: int, to: str) -> None:
    server.expect_request(path).respond_with_data(b"", status=status, headers={"Location": to})


@pytest.mark.parametrize(
    ("chain", "permanent"),
    [
        ((301,), "/b"),
        ((308,), "/b"),
        ((301, 308), "/c"),
        ((301, 302), "/b"),  # the run of permanent hops ends at /b
        ((302, 301), None),
        ((307,), None),
        ((303,), None),
    ],
)
def test_redirect_chains(
    server: MockServer, fetcher: Fetcher, chain: tuple[int, ...], permanent: str | None
) -> None:
    paths = ["/a", "/b", "/c", "/d"]
    for i, status in enumerate(chain):
        # Relative Location: resolved against the current URL.
        redirect(server, paths[i], status, paths[i + 1])
    server.expect_request(paths[len(chain)]).respond_with_data(RSS)
    result = fetcher.fetch(url(server, "/a"))
    assert result.body == RSS
    assert result.final_url == url(server, paths[len(chain)])
    assert result.permanent_redirect_url == (url(server, permanent) if permanent else None)


@pytest.mark.parametrize(
    ("sent", "asked"),
    [
        (b"/tgt-caf\xc3\xa9 x?q=\xe2\x98\x83", b"/tgt-caf%C3%A9%20x?q=%E2%98%83"),  # UTF-8
        (b"/caf\xe9", b"/caf%E9"),  # not UTF-8: the octet escaped as sent
    ],
)
def test_a_location_with_raw_octets_is_followed_as_sent(sent: bytes, asked: bytes) -> None:
    """It was read as Latin-1 and each octet encoded again: "/caf%C3%83%C2%A9" was stored."""

    def handler(sock: socket.socket, request: bytes) -> None:
        if request.startswith(b"GET /old "):
            sock.sendall(
                b"HTTP/1.1 301 Moved\r\nLocation: " + sent + b"\r\nContent-Length: 0\r\n\r\n"
            )
        else:
            sock.sendall(head("200 OK", {"Content-Length": str(len(RSS))}) + RSS)

    with RawServer(handler) as raw, Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher:
        result = fetcher.fetch(raw.url("/old"))
    assert raw.requests[-1].startswith(b"GET " + asked + b" HTTP/1.1")
    assert result.permanent_redirect_url == raw.url(asked.decode())
    assert result.body == RSS


def test_an_upstreams_reason_phrase_reaches_no_log_as_terminal_escapes() -> None:
    """A reason phrase set the operator's terminal title through the poller's log line."""
    phrase = b"\x1b]0;owned-title\x07\x1b[2K\x1b[1Grewritten\x08\x08" + b"y" * 5000

    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(b"HTTP/1.1 503 " + phrase + b"\r\nContent-Length: 0\r\n\r\n")

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher,
        pytest.raises(HTTPStatusError) as caught,
    ):
        fetcher.fetch(raw.url("/feed"))
    message = str(caught.value)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in message)
    assert "HTTP 503 \\x1b]0;owned-title\\x07" in message and len(message) < 1200


@pytest.mark.fuzz
@given(st.text(), st.integers(min_value=1, max_value=3000))
def test_printable_escapes_every_control_and_keeps_to_its_limit(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in shown)
    assert len(shown) <= limit
    if len(text) <= limit and text.isprintable():
        assert shown == text


def test_too_many_redirects(server: MockServer, fetcher: Fetcher) -> None:
    for i in range(7):
        redirect(server, f"/{i}", 302, f"/{i + 1}")
    with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
        fetcher.fetch(url(server, "/0"))
    assert len(server.log) == 6  # the first request and five redirects, no seventh


def test_five_redirects_are_fine(server: MockServer, fetcher: Fetcher) -> None:
    for i in range(5):
        redirect(server, f"/{i}", 302, f"/{i + 1}")
    server.expect_request("/5").respond_with_data(RSS)
    assert fetcher.fetch(url(server, "/0")).body == RSS


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "http://2852039166/",  # 169.254.169.254
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_private_address_is_refused_before_connecting(
    server: MockServer, fetcher: Fetcher, connections: list[tuple[str, int]], target: str
) -> None:
    redirect(server, "/feed", 302, target)
    with pytest.raises(BlockedAddress, match="redirect to .* refused"):
        fetcher.fetch(url(server, "/feed"))
    assert connections == [("127.0.0.1", server.port)]


def test_redirect_to_a_name_resolving_private_is_refused_before_connecting(
    server: MockServer, connections: list[tuple[str, int]]
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"evil.test": ["10.0.0.1"]}[host]

    redirect(server, "/feed", 301, "http://evil.test/feed")
    with (
        Fetcher(allowlist=f"127.0.0.1:{server.port}", resolver=resolver) as fetcher,
        pytest.raises(BlockedAddress, match=r"resolves to 10\.0\.0\.1, a private address"),
    ):
        fetcher.fetch(url(server, "/feed"))
    assert connections == [("127.0.0.1", server.port)]


# --- the guard, live ---------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "localhost"]
)
def test_loopback_is_refused_without_allowlist(
    server: MockServer, connections: list[tuple[str, int]], spelling: str
) -> None:
    server.expect_request("/feed").respond_with_data(RSS)
    with Fetcher() as fetcher, pytest.raises(BlockedAddress, match="loopback"):
        fetcher.fetch(f"http://{spelling}:{server.port}/feed")
    assert connections == []
    assert server.log == []


def test_connects_to_the_checked_address_with_the_host_header_of_the_url(
    server: MockServer, connections: list[tuple[str, int]]
) -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        # A rebinding resolver: the first answer is allowed, later ones private.
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.1"]

    server.expect_request("/feed").respond_with_data(RSS)
    feed = f"http://feed.test:{server.port}/feed"
    with Fetcher(allowlist=f"127.0.0.1:{server.port}", resolver=resolver) as fetcher:
        assert fetcher.fetch(feed).body == RSS
        assert calls == ["feed.test"]  # one lookup, checked and connected to
        assert connections == [("127.0.0.1", server.port)]
        assert server.log[0][0].headers["Host"] == f"feed.test:{server.port}"
        # The server closed the connection; a new one looks up again and the
        # rebound answer is refused before any connection to it.
        with pytest.raises(BlockedAddress) as caught:
            fetcher.fetch(feed)
    assert str(caught.value) == f"fetch {feed}: resolves to 10.0.0.1, a private address"
    assert connections == [("127.0.0.1", server.port)]


# --- limits ------------------------------------------------------------------------


def test_oversized_body_with_content_length(server: MockServer) -> None:
    server.expect_request("/big").respond_with_data(b"x" * 200_000)
    with (
        Fetcher(allowlist=f"127.0.0.1:{server.port}", max_bytes=100_000) as fetcher,
        pytest.raises(BodyTooLarge, match=r"body over 100000 bytes \(Content-Length 200000\)"),
    ):
        fetcher.fetch(url(server, "/big"))


def test_oversized_chunked_body() -> None:
    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(head("200 OK", {"Transfer-Encoding": "chunked"}))
        chunk = b"x" * 50_000
        for _ in range(100):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}", max_bytes=1_000_000) as fetcher,
        pytest.raises(BodyTooLarge, match="body over"),
    ):
        fetcher.fetch(raw.url("/feed"))


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_compression_bomb_is_cut_off_at_the_cap(coding: str) -> None:
    zeros = 100 * 1024 * 1024
    if coding == "gzip":
        squeezer = zlib.compressobj(9, wbits=31)
        bomb = b"".join(squeezer.compress(bytes(1024 * 1024)) for _ in range(100))
        bomb += squeezer.flush()
    else:
        if decompress._brotli is None:
            pytest.skip("Brotli without bounded output")
        bomb = decompress._brotli.compress(bytes(zeros), quality=5)
    assert len(bomb) < 200_000

    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(
            head("200 OK", {"Content-Encoding": coding, "Content-Length": str(len(bomb))}) + bomb
        )

    cap = 5 * 1024 * 1024
    with RawServer(handler) as raw, Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher:
        tracemalloc.start()
        started = time.monotonic()
        with pytest.raises(BodyTooLarge, match="body over 5 MiB"):
            fetcher.fetch(raw.url("/feed"))
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 3  # generous: tracemalloc slows every allocation
    assert peak < 3 * cap  # never near the 100 MB the bomb expands to


def test_slow_drip_body_is_cut_off_by_the_total_deadline() -> None:
    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(head("200 OK", {"Content-Length": "100000"}))
        for _ in range(100):  # one byte every 0.1 s: no single read ever stalls
            sock.sendall(b"x")
            time.sleep(0.1)

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}", read_timeout=5, total_timeout=1) as fetcher,
    ):
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match="within 1 s"):
            fetcher.fetch(raw.url("/feed"))
        assert time.monotonic() - started < 1.5


def test_stalled_server_is_cut_off_by_the_total_deadline_not_the_read_timeout() -> None:
    stop = threading.Event()

    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(head("200 OK", {"Content-Length": "10"}) + b"x")
        stop.wait(10)

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}", read_timeout=20, total_timeout=0.8) as fetcher,
    ):
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            fetcher.fetch(raw.url("/feed"))
        assert time.monotonic() - started < 1.3
        stop.set()


def test_read_timeout(server: MockServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1)
        return Response(RSS)

    server.expect_request("/slow").respond_with_handler(slow)
    with (
        Fetcher(allowlist=f"127.0.0.1:{server.port}", read_timeout=0.3) as fetcher,
        pytest.raises(FetchTimeout, match="read time-out"),
    ):
        fetcher.fetch(url(server, "/slow"))


def test_slow_dns_is_cut_off_by_the_connect_timeout() -> None:
    release = threading.Event()

    def resolver(host: str, port: int) -> list[str]:
        release.wait(5)  # a resolver that hangs, as getaddrinfo can
        return ["127.0.0.1"]

    with Fetcher(resolver=resolver, connect_timeout=0.3) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match="connect time-out"):
            fetcher.fetch("http://slow-dns.test/feed")
        assert time.monotonic() - started < 1
    release.set()


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Fetcher(allowlist=f"127.0.0.1:{port}") as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://127.0.0.1:{port}/feed")
    assert type(caught.value) is FetchError
    assert "ConnectError" in str(caught.value)


# --- TLS: SNI and certificate checks stay on the host name --------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA and a certificate for feed.test signed by it (openssl CLI)."""
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=feeds test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=feed.test")  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:feed.test\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return d


def test_tls_verifies_the_url_host_name_on_the_pinned_address(tls_files: Path) -> None:
    import ssl

    names: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

        def log_message(self, *args: Any) -> None:
            pass

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls_files / "leaf.pem", tls_files / "leaf.key")
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    try:
        with Fetcher(
            allowlist=f"127.0.0.1:{port}",
            resolver=lambda host, p: ["127.0.0.1"],
            verify=client_ctx,
        ) as fetcher:
            assert fetcher.fetch(f"https://feed.test:{port}/feed").body == RSS
            assert names == ["feed.test"]
            # The same server by address: its certificate does not name it.
            with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
                fetcher.fetch(f"https://127.0.0.1:{port}/feed")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_304s_keep_the_connection_for_the_next_fetch():
    """A steady-state poll is mostly 304s: they must not cost a new connection each."""
    connections: list[int] = []
    not_modified = head("304 Not Modified", {"ETag": '"v1"'})

    def handler(sock, _first_head):
        connections.append(1)
        sock.sendall(not_modified)
        pending = b""
        while True:  # keep answering on the same connection
            chunk = sock.recv(4096)
            if not chunk:
                return
            pending += chunk
            while b"\r\n\r\n" in pending:
                _, pending = pending.split(b"\r\n\r\n", 1)
                sock.sendall(not_modified)

    with RawServer(handler) as raw, Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher:
        results = [fetcher.fetch(raw.url("/feed"), Validators(etag='"v1"')) for _ in range(3)]
    assert all(r.not_modified and r.status == 304 for r in results)
    assert len(connections) == 1


# --- bodies that end before they should (RFC 9112 §8; RFC 1952's trailer; RFC 7932) ---

LONG_RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    + b"".join(
        b"<item><title>Item %d</title><description>%s</description></item>" % (n, b"words " * 40)
        for n in range(20)
    )
    + b"</channel></rss>"
)


def _cut(payload: bytes, *, announce: int, coding: str | None = None) -> RawServer:
    """A server that announces ``announce`` bytes, sends ``payload`` and hangs up."""

    def handler(sock: socket.socket, request: bytes) -> None:
        headers = {"Content-Type": "application/rss+xml", "Content-Length": str(announce)}
        if coding:
            headers["Content-Encoding"] = coding
        sock.sendall(head("200 OK", headers) + payload)
        sock.shutdown(socket.SHUT_RDWR)

    return RawServer(handler)


def test_a_body_shorter_than_its_content_length_is_an_error() -> None:
    """Half a feed is not a feed: nothing of it may be stored as if it were whole."""
    sent = LONG_RSS[: len(LONG_RSS) // 2]
    with (
        _cut(sent, announce=len(LONG_RSS)) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher,
        pytest.raises(FetchError, match=f"closed {len(LONG_RSS) - len(sent)} bytes before"),
    ):
        fetcher.fetch(raw.url("/feed"))


def test_a_body_as_long_as_announced_is_whole() -> None:
    with (
        _cut(LONG_RSS, announce=len(LONG_RSS)) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher,
    ):
        assert fetcher.fetch(raw.url("/feed")).body == LONG_RSS


def _fetch_cut(sent: bytes, coding: str) -> None:
    """Fetch ``sent`` with intact HTTP framing (the length announced is the length sent)."""
    with (
        _cut(sent, announce=len(sent), coding=coding) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher,
        pytest.raises(FetchError, match=f"truncated {coding} body"),
    ):
        fetcher.fetch(raw.url("/feed"))


def _packed(coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(LONG_RSS)
    if coding == "deflate":
        return zlib.compress(LONG_RSS)
    if decompress._brotli is None:
        pytest.skip("Brotli without bounded output")
    return bytes(decompress._brotli.compress(LONG_RSS))


@pytest.mark.parametrize("keep", [0.8, 0.5, 0.2])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_truncated_compressed_stream_is_an_error(coding: str, keep: float) -> None:
    """The stream is cut before its end (gzip: before its CRC and length, RFC 1952)."""
    packed = _packed(coding)
    _fetch_cut(packed[: int(len(packed) * keep)], coding)


@pytest.mark.parametrize("sent", [b"", b"\x1f", b"\x1f\x8b\x08\x00"])
def test_a_gzip_body_too_short_for_its_header_is_an_error(sent: bytes) -> None:
    _fetch_cut(sent, "gzip")


def test_a_chunked_body_cut_mid_chunk_is_an_error() -> None:
    def handler(sock: socket.socket, request: bytes) -> None:
        sock.sendall(
            head("200 OK", {"Content-Type": "application/rss+xml", "Transfer-Encoding": "chunked"})
            + b"%x\r\n" % len(LONG_RSS)
            + LONG_RSS[:100]
        )
        sock.shutdown(socket.SHUT_RDWR)

    with (
        RawServer(handler) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}") as fetcher,
        pytest.raises(FetchError),
    ):
        fetcher.fetch(raw.url("/feed"))


# --- one host's turn -------------------------------------------------------------


class _Busy:
    """A slow upstream that notes how many requests it is answering at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, sock: socket.socket, request: bytes) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.delay)
            sock.sendall(head("200 OK", {"Content-Length": str(len(RSS))}) + RSS)
        finally:
            with self._lock:
                self.now -= 1


def test_waiting_for_the_hosts_turn_is_not_the_upstreams_time() -> None:
    # Ten feeds on one host, two at a time, each answered in 0.3 s: the last
    # pair waits 1.2 s for its turn, longer than the whole time-out, and still
    # gets its answer (the clock starts when the request may go).
    busy = _Busy(0.3)
    with (
        RawServer(busy) as raw,
        Fetcher(allowlist=f"127.0.0.1:{raw.port}", max_per_host=2, total_timeout=0.9) as fetcher,
        ThreadPoolExecutor(10) as pool,
    ):
        results = list(pool.map(lambda n: fetcher.fetch(raw.url(f"/feed{n}")), range(10)))
    assert [r.status for r in results] == [200] * 10
    assert busy.most == 2
    assert len(raw.requests) == 10  # each sent once, none given up on


def test_a_redirects_target_host_is_limited_too() -> None:
    # Feeds on four hosts that all redirect to one: that host still gets no
    # more than max_per_host requests at once, and waiting for its turn is not
    # counted against the fetch (the last pair waits 1.2 s, past the time-out).
    from http.server import ThreadingHTTPServer

    busy = _Busy(0.4)
    with RawServer(busy) as target:

        class Redirect(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", target.url(self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        fronts = [ThreadingHTTPServer((f"127.0.0.{n}", 0), Redirect) for n in range(2, 6)]
        for front in fronts:
            threading.Thread(target=front.serve_forever, daemon=True).start()
        urls = [
            f"http://{front.server_address[0]}:{front.server_address[1]}/feed{n}"
            for front in fronts
            for n in range(2)
        ]
        try:
            with (
                Fetcher(allowlist="127.0.0.0/8", max_per_host=2, total_timeout=1) as fetcher,
                ThreadPoolExecutor(8) as pool,
            ):
                results = list(pool.map(fetcher.fetch, urls))
        finally:
            for front in fronts:
                front.shutdown()
                front.server_close()
    assert [r.status for r in results] == [200] * 8
    assert busy.most == 2
    assert len(target.requests) == 8  # none sent only to be given up on
