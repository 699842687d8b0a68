"""Tolerant readers for values an upstream controls: numbers, dates, validators.

Everything an upstream sends is read by these few functions, so that one
hostile value costs at most the one field it was in, never the refresh (and
never the poll pass around it). They return None for anything they cannot
read; they never raise.

Why not ``int()``/``str.isdigit()``: both accept far more than HTTP or XML
digits. ``"٣".isdigit()`` and ``"²".isdigit()`` are true (and ``int("²")``
raises), ``int("1_0")`` is 10 and ``int(" 7\\n")`` is 7. RFC 9110 §5.6.1 and
RFC 9111 §1.2.2 (delta-seconds) say ``1*DIGIT`` with ``DIGIT = %x30-39``
(RFC 5234 Appendix B.1), so only ASCII 0-9 count here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# A value longer than this many digits is absurd for any field we read; it is
# clamped to the field's maximum without converting (no 4,300-digit int()).
_MAX_DIGITS = 18
_DIGITS = re.compile(r"[0-9]+")


def parse_count(value: object, maximum: int, *, strip: bool = True) -> int | None:
    """A non-negative decimal made of ASCII digits only, clamped to ``maximum``.

    ``"42"`` → 42; ``" 42 "`` → 42 (surrounding whitespace is tolerated as
    feeds often pad ``<ttl>``); ``"1e3"``, ``"-1"``, ``"1_0"``, ``"٣"``,
    ``""`` and non-strings → None; ``"99999999999999999999999"`` → ``maximum``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip(" \t\r\n") if strip else value
    if not text or len(text) > 100_000 or _DIGITS.fullmatch(text) is None:
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        return maximum
    return min(int(digits), maximum)


def bounded_datetime(value: datetime | None) -> datetime | None:
    """``value`` as aware UTC, or None when it cannot be represented as one.

    ``astimezone`` raises OverflowError for year 1 with a positive offset or
    year 9999 with a negative one; such dates are junk, not a reason to fail.
    """
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        converted = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    # Keep a year of room each side, so later arithmetic (a day of back-off,
    # a max-age added) cannot overflow either.
    return converted if 1 < converted.year < 9999 else None


def parse_rfc3339(value: object) -> datetime | None:
    """An RFC 3339 date-time (JSON Feed, Atom) as aware UTC, or None."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    text = value.strip()
    if not text.isascii():
        return None  # fromisoformat would read other scripts' digits
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return bounded_datetime(parsed)


# An ETag is an opaque quoted string of visible ASCII and obs-text
# (RFC 9110 §8.8.3: entity-tag = [ W/ ] DQUOTE *etagc DQUOTE,
# etagc = %x21 / %x23-7E / obs-text). We keep only what is safe to put back
# into an If-None-Match header on every HTTP stack: visible ASCII, no quote
# inside, and short. Anything else is dropped: we lose one conditional GET,
# not the source.
MAX_ETAG = 512
_ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


def safe_etag(value: object) -> str | None:
    """An ETag fit to send back in If-None-Match, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip(" \t")
    if not text or len(text) > MAX_ETAG or not text.isascii():
        return None
    if _ETAG.fullmatch(text):
        return text
    # Some servers send unquoted tags and compare what comes back verbatim:
    # send them back as they were, if they are plain visible ASCII.
    if all(0x21 <= ord(c) <= 0x7E and c not in '",' for c in text):
        return text
    return None
