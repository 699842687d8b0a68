"""Answering conditional requests and negotiating compression (RFC 9110).

Pure functions over header values, shared by every feed response:
- RFC 9110 §13.1.2 If-None-Match (weak comparison), §13.1.3 If-Modified-Since
  (only when there is no If-None-Match), §13.2.2 precedence;
- RFC 9110 §12.5.3 Accept-Encoding with q-values;
- RFC 9110 §8.8.3: a strong ETag names one representation, so the gzip and br
  bodies get their own tag (``"abc-gzip"``) and a 304 matches any of them.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import brotli

from feeds.httpdate import parse_request_date

ENCODINGS = ("br", "gzip")
GZIP_ALIASES = {"x-gzip": "gzip"}  # RFC 9110 §8.4.1.3
_SUFFIX = {"br": "-br", "gzip": "-gzip", "identity": ""}


# Characters of an If-None-Match or If-Match list read (RFC 9110 allows any
# number of tags; the server's header limit bounds it too).
MAX_TAG_LIST = 64 * 1024


def variant_etag(etag: str, encoding: str) -> str:
    """The strong ETag of one content-coding of a representation."""
    return f'"{etag.strip(chr(34))}{_SUFFIX[encoding]}"'


def representation_tag(tag: str) -> str:
    """The opaque tag of a representation, whichever content-coding carried it."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    for suffix in ("-gzip", "-br"):
        if tag.endswith(suffix):
            return tag[: -len(suffix)]
    return tag


def not_modified(
    etag: str,
    last_modified: datetime,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> bool:
    """True when the client's copy is current and a 304 is the answer."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        wanted = representation_tag(etag)
        return any(
            representation_tag(t) == wanted
            for t in if_none_match[:MAX_TAG_LIST].split(",")
            if t.strip()
        )
    since = parse_request_date(if_modified_since)
    if since is None:
        return False
    return last_modified.astimezone(UTC).replace(microsecond=0) <= since


def precondition_failed(
    etag: str,
    last_modified: datetime,
    if_match: str | None,
    if_unmodified_since: str | None,
) -> bool:
    """True when the request's preconditions fail and a 412 is the answer (RFC 9110 §13.2.2).

    If-Match (strong comparison: a weak tag never matches; any content-coding
    of the current representation does, as for If-None-Match), else
    If-Unmodified-Since (ignored when it is not a valid HTTP date).
    """
    if if_match is not None:
        if if_match.strip() == "*":
            return False  # the feed exists
        wanted = representation_tag(etag)
        return not any(
            representation_tag(t) == wanted
            for t in if_match[:MAX_TAG_LIST].split(",")
            if t.strip() and not t.strip().startswith("W/")
        )
    since = parse_request_date(if_unmodified_since)
    if since is None:
        return False
    return last_modified.astimezone(UTC).replace(microsecond=0) > since


def choose_encoding(accept_encoding: str | None) -> str:
    """Pick br, gzip or identity from an Accept-Encoding header (RFC 9110 §12.5.3).

    The acceptable coding with the highest quality wins; between equals, br
    (the smaller), and a coding over identity. A coding the header does not name takes ``*``'s quality;
    ``x-gzip`` counts as gzip (§8.4.1.3). Qualities outside 0–1 are clamped, and
    unreadable ones count as 0 (not acceptable). Nothing acceptable: identity.
    """
    if not accept_encoding:
        return "identity"
    qualities: dict[str, float] = {}
    for part in accept_encoding[:1024].lower().split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip()
        qualities[GZIP_ALIASES.get(name, name)] = _quality(params)
    star = qualities.get("*", 0.0)
    best, chosen = 0.0, "identity"
    for encoding in ENCODINGS:  # in order of preference: a later one must do better
        q = qualities.get(encoding, star)
        if q > best:
            best, chosen = q, encoding
    if qualities.get("identity", 0.0) > best:
        return "identity"  # rated above every coding ("identity;q=1, gzip;q=0.5")
    return chosen


def _quality(params: str) -> float:
    """The ``q`` of a coding's parameters: 1 when absent, 0 when unreadable."""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return 0.0 if q != q else min(max(q, 0.0), 1.0)  # NaN is not acceptable
    return 1.0


def compress(body: bytes, encoding: str) -> bytes:
    """Compress a body for one content-coding (deterministic output)."""
    if encoding == "br":
        return bytes(brotli.compress(body, quality=5))
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    return body
