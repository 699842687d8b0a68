"""Bounded decompression of response bodies (gzip, deflate, br).

Each decoder turns one received chunk into pieces of at most ``STEP`` decoded
bytes, so the caller can count and stop: a gzip bomb (1000:1) or a brotli bomb
(far more) is cut off at the size cap without ever expanding past it. httpx's
own decoders inflate a whole network chunk at once (a 64 KiB chunk of a bomb
is ~64 MiB), which is why feeds.upstream.fetch reads raw bytes and decodes here.

Codings: RFC 9110 §8.4.1 (gzip, deflate = zlib), RFC 7932 (br).
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from feeds.errors import FetchError

Decoder = Callable[[bytes], Iterator[bytes]]  # feed(chunk); feed(b"") flushes
STEP = 64 * 1024  # most decoded bytes produced per decompression step


def _load_brotli() -> Any:
    try:
        module = importlib.import_module("brotli")
        module.Decompressor().process(b"", output_buffer_limit=1)  # Brotli >= 1.2
    except (ImportError, AttributeError, TypeError):
        return None
    return module


_brotli = _load_brotli()
ACCEPT_ENCODING = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"


def decoder_for(url: str, coding: str) -> Decoder:
    """The decoder for a Content-Encoding value (FetchError if we don't speak it)."""
    if coding in ("", "identity"):

        def identity(chunk: bytes) -> Iterator[bytes]:
            yield chunk

        return identity
    if coding in ("gzip", "x-gzip", "deflate"):
        return _ZlibDecoder(url, coding).feed
    if coding == "br" and _brotli is not None:
        return _BrotliDecoder(url).feed
    raise FetchError(url, f"unsupported Content-Encoding {coding!r}")


class _ZlibDecoder:
    """gzip/deflate in steps of at most ``STEP`` output bytes (bomb-safe)."""

    def __init__(self, url: str, coding: str) -> None:
        self._url = url
        self._coding = coding
        # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2); some servers send raw.
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
        self._wbits = wbits
        self._zlib = zlib.decompressobj(wbits)
        self._started = False
        self._head = b""  # deflate: the first bytes, until the two that tell zlib from raw
        self._ended = False  # past the last gzip member: what follows is ignored

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        try:
            if not self._started and self._coding == "deflate":
                # A zlib header is two bytes; one alone tells nothing (a raw
                # deflate body sent a byte at a time was called corrupt).
                self._head += chunk
                if chunk and len(self._head) < 2:
                    return
                head, self._head = self._head, b""
                self._started = True
                if head:
                    try:
                        yield self._zlib.decompress(head, STEP)
                    except zlib.error:
                        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                        yield self._zlib.decompress(head, STEP)
                    yield from self._rest_of_member()
                if chunk:
                    return  # taken as the head; a flush (b"") goes on below
            if not chunk:
                yield self._zlib.flush()
                if not self._zlib.eof:  # no end of stream (gzip: nor its CRC and length)
                    raise FetchError(self._url, f"truncated {self._coding} body")
                return
            if self._ended:
                return
            yield self._zlib.decompress(chunk, STEP)
            yield from self._rest_of_member()
            if self._coding != "deflate":
                yield from self._later_members()
        except zlib.error as exc:
            raise FetchError(self._url, f"corrupt {self._coding} body ({exc})") from None

    def _later_members(self) -> Iterator[bytes]:
        """RFC 1952 §2.2: a gzip body may be several members, decoded one after another.

        After a member's end, zlib keeps what follows in ``unused_data``:
        another member (its magic number) is decoded in turn; anything else
        is trailing garbage, ignored as ``gzip -d`` does. One byte may be the
        start of either, so it waits for the next chunk.
        """
        while self._zlib.eof and len(rest := self._zlib.unused_data) >= 2:
            if rest[:2] != b"\x1f\x8b":
                self._ended = True
                return
            self._zlib = zlib.decompressobj(self._wbits)
            yield self._zlib.decompress(rest, STEP)
            yield from self._rest_of_member()

    def _rest_of_member(self) -> Iterator[bytes]:
        """Decode what one call left for its output limit, up to the stream's end.

        At the end zlib moves what follows into ``unused_data`` but leaves
        ``unconsumed_tail`` as it was: looping on that tail after the end
        never finished (a member ending inside a full step, then anything).
        """
        while self._zlib.unconsumed_tail and not self._zlib.eof:
            yield self._zlib.decompress(self._zlib.unconsumed_tail, STEP)


class _BrotliDecoder:
    def __init__(self, url: str) -> None:
        self._url = url
        self._brotli = _brotli.Decompressor()

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        try:
            if chunk:
                yield self._brotli.process(chunk, output_buffer_limit=STEP)
            while not self._brotli.can_accept_more_data():
                yield self._brotli.process(b"", output_buffer_limit=STEP)
            if not chunk and not self._brotli.is_finished():
                raise FetchError(self._url, "truncated br body")
        except _brotli.error as exc:
            raise FetchError(self._url, f"corrupt br body ({exc})") from None
