"""feeds.upstream.fetch logic on a stand-in for the connection pool: no sockets, no DNS.

The handlers speak httpx's Request and Response (easy to write); :func:`fetcher`
hands the fetcher an ``send_`` that turns them into what the pool gives it.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from feeds.errors import BlockedAddress, FetchError, HTTPStatusError
from feeds.model import Validators
from feeds.upstream.connections import Origin
from feeds.upstream.fetch import Fetcher

FEED = "https://example.com/feed"


class Streamed(httpx.SyncByteStream):
    """A body httpx has not read yet, so feeds.upstream.fetch decodes it itself."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body


class Headers:
    def __init__(self, headers: httpx.Headers) -> None:
        self._headers = headers

    def get(self, name: str) -> str | None:
        return self._headers.get(name)

    def get_all(self, name: str) -> list[str] | None:
        return self._headers.get_list(name) or None


class Answer:
    """An httpx.Response as the fetcher's Exchange: status, headers, read1, close."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.headers = Headers(response.headers)
        # An in-memory body (content=…) was read already; a Streamed one is read here.
        body = [response.content] if response.is_stream_consumed else response.iter_raw()
        self._pieces = iter(body)
        self.closed = False

    def read1(self, size: int = 65536) -> bytes:
        return next(self._pieces, b"")

    def close(self) -> None:
        self.closed = True


def fetcher(handler: Callable[[httpx.Request], httpx.Response], **kw: object) -> Fetcher:
    def send(origin: Origin, target: str, host: str, headers: list[tuple[str, str]]) -> Answer:
        assert ("Host", host) not in headers  # the pool sends Host itself
        request = httpx.Request("GET", f"{origin.scheme}://{host}{target}", headers=headers)
        return Answer(handler(request))

    return Fetcher(send_=send, **kw)  # type: ignore[arg-type]


def test_conditional_headers_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304, headers={"ETag": '"new"'})

    stored = Validators('W/"old"', datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    result = fetcher(handler).fetch(FEED, stored)
    assert seen[0].headers["If-None-Match"] == 'W/"old"'
    assert seen[0].headers["If-Modified-Since"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert result.not_modified
    # The 304 names a new ETag and no Last-Modified: new one taken, old one kept.
    assert result.validators == Validators('"new"', stored.last_modified)


def test_unsupported_content_encoding() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Streamed(b"..."), headers={"Content-Encoding": "zstd"})

    with pytest.raises(FetchError, match="unsupported Content-Encoding 'zstd'"):
        fetcher(handler).fetch(FEED)


def test_corrupt_gzip() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(b"<rss/>" * 100)[:-30] + b"garbage" * 10
        return httpx.Response(200, stream=Streamed(body), headers={"Content-Encoding": "gzip"})

    with pytest.raises(FetchError, match="corrupt gzip body"):
        fetcher(handler).fetch(FEED)


def test_redirect_without_location() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302)

    with pytest.raises(HTTPStatusError, match="302 without Location"):
        fetcher(handler).fetch(FEED)


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("http://user:pw@example.org/feed", "credentials"),
        ("ftp://example.org/feed", "scheme 'ftp'"),
        ("http://example.org:22/", "port 22"),
        ("http://[::1]/", "loopback"),
    ],
)
def test_redirect_targets_are_checked(location: str, problem: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": location})

    with pytest.raises(BlockedAddress, match=f"fetch {FEED}: redirect to .* refused: .*{problem}"):
        fetcher(handler).fetch(FEED)


def test_retry_after_only_matters_on_429_and_503() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, headers={"Retry-After": "60"})

    with pytest.raises(HTTPStatusError) as caught:
        fetcher(handler).fetch(FEED)
    assert caught.value.retry_after is None


def test_other_3xx_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(300, headers={"Location": "/x"})

    with pytest.raises(HTTPStatusError) as caught:
        fetcher(handler).fetch(FEED)
    assert caught.value.status == 300


def test_redirect_drops_the_fragment_and_is_absolute() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feed":
            return httpx.Response(308, headers={"Location": "//cdn.example.com/f.xml#top"})
        return httpx.Response(200, content=b"<rss/>")

    result = fetcher(handler).fetch(FEED)
    assert result.final_url == "https://cdn.example.com/f.xml"
    assert result.permanent_redirect_url == "https://cdn.example.com/f.xml"


def test_cookies_are_not_kept_between_fetches() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"<rss/>", headers={"Set-Cookie": "s=1; Path=/"})

    f = fetcher(handler)
    f.fetch(FEED)
    f.fetch(FEED)
    assert "cookie" not in seen[1].headers


def test_expires_and_age_become_hints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=b"<rss/>",
            headers={
                "Date": "Tue, 14 May 2024 08:00:00 GMT",
                "Expires": "Tue, 14 May 2024 09:00:00 GMT",
            },
        )

    result = fetcher(handler).fetch(FEED)
    assert result.cache.max_age is None
    assert result.cache.expires is not None
    # Judged by the server's clock: an hour from when we fetched.
    assert abs((result.cache.expires - result.fetched_at).total_seconds() - 3600) < 5


def test_in_memory_bodies_are_capped_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2000)

    from feeds.errors import BodyTooLarge

    with pytest.raises(BodyTooLarge):
        fetcher(handler, max_bytes=1000).fetch(FEED)
    assert fetcher(handler).fetch(FEED).body == b"x" * 2000
