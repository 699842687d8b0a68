"""WebSub pieces both the hub and the subscriber need, as pure functions.

WebSub, W3C Recommendation 23 January 2018: https://www.w3.org/TR/websub/

- Signatures (§8 "Authenticated Content Distribution"): the hub sends
  ``X-Hub-Signature: method=signature`` where method is ``sha1``, ``sha256``,
  ``sha384`` or ``sha512`` and signature the hex HMAC of the raw body keyed
  with the subscriber's ``hub.secret``. :func:`sign` makes one,
  :func:`verify_signature` checks one in constant time.
- Leases (§5.1 ``hub.lease_seconds``, §5.3 verification): the hub chooses the
  lease; :func:`parse_lease_seconds` reads the form value strictly and
  :func:`clamp_lease` keeps it inside the hub's bounds.
- Secrets (§5.1): ``hub.secret`` MUST be under 200 bytes.
- Discovery (§4): ``Link: <url>; rel="hub"`` and ``rel="self"`` header values,
  RFC 8288 syntax. :func:`parse_link_header` reads any number of header
  values; :func:`format_link` writes one.
- Verification of intent (§5.3): :func:`verification_url` appends the hub's
  parameters to the callback's own query string, which it MUST keep.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from feeds.errors import FeedError

# §8: the methods a subscriber must accept; sha1 only for old hubs.
SIGNATURE_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
DEFAULT_SIGNATURE = "sha256"
MAX_SECRET_BYTES = 199  # §5.1: "MUST be less than 200 bytes in length"

DEFAULT_LEASE_SECONDS = 10 * 24 * 3600
MIN_LEASE_SECONDS = 5 * 60
MAX_LEASE_SECONDS = 30 * 24 * 3600
_MAX_LEASE_DIGITS = 12  # longer numbers are nonsense, not huge leases


class WebSubError(FeedError):
    """A WebSub request or header that breaks the protocol."""

    stage = "websub"


# -- signatures (§8) -----------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(body: bytes, secret: str | bytes, algorithm: str = DEFAULT_SIGNATURE) -> str:
    """The ``X-Hub-Signature`` value for ``body``: ``sha256=<hex>``."""
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise WebSubError(algorithm, "unsupported signature method")
    digest = hmac.new(_key(secret), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


def parse_signature(header: str | None) -> tuple[str, str] | None:
    """Split ``method=hex`` into (method, hex); None when malformed or unknown."""
    if not header or len(header) > 256:
        return None
    method, sep, value = header.strip().partition("=")
    method = method.strip().lower()
    value = value.strip().lower()
    if not sep or method not in SIGNATURE_ALGORITHMS or not value:
        return None
    if any(c not in "0123456789abcdef" for c in value):
        return None
    return method, value


def verify_signature(body: bytes, secret: str | bytes, header: str | None) -> bool:
    """Whether ``header`` is a valid signature of ``body`` under ``secret``.

    A missing, malformed or unknown-method header is simply not valid: §8 says
    the subscriber then acknowledges with a 2xx and ignores the content.
    """
    parsed = parse_signature(header)
    if parsed is None:
        return False
    method, given = parsed
    expected = sign(body, secret, method).partition("=")[2]
    return hmac.compare_digest(expected, given)


# -- leases and secrets (§5.1) -------------------------------------------------


def parse_lease_seconds(raw: str | None) -> int | None:
    """Read ``hub.lease_seconds``: None when absent or empty, else a non-negative int.

    Only ASCII digits are accepted (no sign, spaces, exponent or Unicode
    digits): a malformed lease is the subscriber's mistake to hear about.
    """
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise WebSubError("hub.lease_seconds", f"not a whole number of seconds: {raw[:40]!r}")
    if len(raw.lstrip("0")) > _MAX_LEASE_DIGITS:
        return MAX_LEASE_SECONDS * 1000  # clamped by the caller anyway
    return int(raw)


def clamp_lease(
    seconds: int | None,
    *,
    default: int = DEFAULT_LEASE_SECONDS,
    minimum: int = MIN_LEASE_SECONDS,
    maximum: int = MAX_LEASE_SECONDS,
) -> int:
    """The lease a hub grants for a requested one (None → the default)."""
    if seconds is None:
        return default
    return max(minimum, min(maximum, seconds))


def check_secret(secret: str | None) -> str | None:
    """Return ``hub.secret`` if acceptable (None/empty → None), else raise."""
    if not secret:
        return None
    if len(secret.encode("utf-8")) > MAX_SECRET_BYTES:
        raise WebSubError("hub.secret", f"longer than {MAX_SECRET_BYTES} bytes")
    if "\x00" in secret:  # no database text column holds one
        raise WebSubError("hub.secret", "contains a NUL character")
    return secret


def new_challenge() -> str:
    """A fresh, unguessable ``hub.challenge``."""
    return _secrets.token_urlsafe(24)


def new_secret() -> str:
    """A fresh ``hub.secret`` for a subscription (well under 200 bytes)."""
    return _secrets.token_urlsafe(48)


# -- verification of intent (§5.3) ---------------------------------------------


def verification_url(
    callback: str, mode: str, topic: str, challenge: str, lease_seconds: int | None
) -> str:
    """The callback with the hub's parameters appended to its own query."""
    params = [("hub.mode", mode), ("hub.topic", topic), ("hub.challenge", challenge)]
    if lease_seconds is not None:
        params.append(("hub.lease_seconds", str(lease_seconds)))
    parts = urlsplit(callback)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# -- Link headers (RFC 8288 §3) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """One link-value: its target and relation types (lower-cased)."""

    url: str
    rels: tuple[str, ...]


_MAX_LINK_HEADER = 16 * 1024


def format_link(url: str, rel: str) -> str:
    """One link-value, ``<url>; rel="hub"``."""
    # A target with ``>`` or a control character would break the syntax; the
    # URLs we format are our own, so percent-encode rather than refuse.
    safe = "".join(
        c if c.isprintable() and not c.isspace() and c not in '<>"' else _escape(c) for c in url
    )
    return f'<{safe}>; rel="{rel}"'


def _escape(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8"))


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[i] == '"'``; return (value, next)."""
    out: list[str] = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return "".join(out), i


def _parse_one(value: str, base: str | None) -> list[Link]:
    links: list[Link] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        if value[i] != "<":
            # Not a link-value: skip to the next top-level comma.
            i = _skip_to_comma(value, i)
            continue
        end = value.find(">", i)
        if end < 0:
            break
        target = value[i + 1 : end].strip(" \t")
        i = end + 1
        rels: list[str] = []
        while i < n:
            while i < n and value[i] in " \t":
                i += 1
            if i >= n or value[i] == ",":
                break
            if value[i] != ";":
                i = _skip_to_comma(value, i)
                break
            i += 1
            while i < n and value[i] in " \t":
                i += 1
            start = i
            while i < n and value[i] not in "=;, \t":
                i += 1
            name = value[start:i].lower().rstrip("*")
            while i < n and value[i] in " \t":
                i += 1
            param = ""
            if i < n and value[i] == "=":
                i += 1
                while i < n and value[i] in " \t":
                    i += 1
                if i < n and value[i] == '"':
                    param, i = _read_quoted(value, i)
                else:
                    start = i
                    while i < n and value[i] not in ";,":
                        i += 1
                    param = value[start:i].strip()
            # RFC 8288 §3.3: a second rel parameter is ignored.
            if name == "rel" and not rels:
                rels = [r.lower() for r in param.split()]
        url = urljoin(base, target) if base else target
        if url:
            links.append(Link(url, tuple(rels)))
    return links


def _skip_to_comma(value: str, i: int) -> int:
    while i < len(value) and value[i] != ",":
        if value[i] == '"':
            _, i = _read_quoted(value, i)
            continue
        i += 1
    return i


def parse_link_header(values: str | Iterable[str], base: str | None = None) -> list[Link]:
    """Every link-value in one or several ``Link`` header values, in order.

    Targets are resolved against ``base`` when given (RFC 8288 §3.1 says they
    are relative to the request URL). Malformed pieces are skipped; the
    total length read is bounded.
    """
    if isinstance(values, str):
        values = [values]
    links: list[Link] = []
    budget = _MAX_LINK_HEADER
    for value in values:
        if budget <= 0:
            break
        chunk = value[:budget]
        budget -= len(chunk)
        links.extend(_parse_one(chunk, base))
    return links


def links_with_rel(values: str | Iterable[str], rel: str, base: str | None = None) -> list[str]:
    """The targets of every link whose relation types include ``rel``."""
    wanted = rel.lower()
    return [link.url for link in parse_link_header(values, base) if wanted in link.rels]


def hub_and_self(
    values: str | Iterable[str], base: str | None = None
) -> tuple[list[str], str | None]:
    """§4 discovery from headers: every ``rel="hub"`` URL and the first ``rel="self"``."""
    links = parse_link_header(values, base)
    hubs = [link.url for link in links if "hub" in link.rels]
    selves = [link.url for link in links if "self" in link.rels]
    return hubs, (selves[0] if selves else None)
