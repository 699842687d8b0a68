"""How model values become feed values: clean text, UTC instants, bylines.

Shared by the XML (RSS, Atom) and JSON Feed renderers so that the three
formats of one page say the same thing.

Times: the model promises timezone-aware UTC datetimes, but a naive datetime
is *treated as UTC* rather than rejected. SQLite hands back naive values even
for ``DateTime(timezone=True)`` columns, the application stores UTC, and a
feed that fails to render over a missing tzinfo helps nobody. Aware values in
other zones are converted, so every format prints UTC.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import repeat
from urllib.parse import quote, urlsplit, urlunsplit

from feeds.model import Author
from feeds.sanitize import NOT_XML_CHAR as _NOT_XML_CHAR

# RFC 3986's characters (the W3C validator's set); anything else in an href —
# a space, "<", a non-ASCII letter — is percent-encoded on the way out.
_URI_CHARS = re.compile(r"[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]*")
_URI_SAFE = ";/?:@&=+$-_.!~*'(),#%"


def clean_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot carry (or discourages); keep the rest."""
    return _NOT_XML_CHAR.sub("", value)


def clean_url(value: str) -> str:
    """Return ``value`` as a URI the validator and strict readers accept.

    Links that come from upstream feeds or from an editor (an article's
    original URL) may hold spaces, "<", ">" or non-ASCII letters: the host is
    IDNA-encoded and every other such character percent-encoded as UTF-8;
    an already valid URI (and an existing "%xx") is left as it is.
    """
    text = clean_text(value).strip()
    if _URI_CHARS.fullmatch(text):
        return text
    try:
        parts = urlsplit(text)
        host = parts.netloc
        if not host.isascii():
            user, at, hostport = host.rpartition("@")
            name, colon, port = hostport.partition(":")
            name = name.encode("idna").decode("ascii")
            host = quote(user, safe=_URI_SAFE) + at + name + colon + quote(port, safe="")
        host = quote(host, safe=_URI_SAFE + "[]")
        rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
        return urlunsplit((parts.scheme, host, "", "", "")) + quote(rest, safe=_URI_SAFE)
    except (ValueError, UnicodeError):  # not a URL we can take apart: encode it whole
        return quote(text, safe=_URI_SAFE)


# An upstream feed's own id, which becomes the id of our Atom <source>: kept
# only in a form Atom readers and the validator take for an identifier —
# http(s) with a host, a urn:uuid: with a real UUID (RFC 9562), another URN
# with a namespace id of 2-32 characters (RFC 8141), or a tag: URI (RFC 4151),
# in URI characters only. Anything else ("urn:uuid:atom-feed-1", "urn:xss")
# is not an id a reader can trust, and the caller uses the feed's URL.
_HTTP_ID = re.compile(r"https?://[^/\s][0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]*")
_UUID_URN = re.compile(r"urn:uuid:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.I)
_URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{1,31}:(?:[a-z0-9()+,.:=@;$_!*'-]|%[0-9a-f]{2})+", re.I)
_TAG_URI = re.compile(
    r"tag:(?:[a-z0-9._-]+@)?[a-z0-9.-]+,\d{4}(?:-\d{2}(?:-\d{2})?)?:"
    r"[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,]*(?:#[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,]*)?"
)


_ESCAPE = re.compile(r"%(..)?")
_HOST_PORT = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::[0-9]{1,5})?"
)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _canonical_http(value: str) -> bool:
    """Whether an http(s) URL is in the form ids are compared in (RFC 3986 §6.2.2).

    Lower-case scheme and host, no default port, a path (at least "/") without
    dot segments, and escapes in upper case for characters that need them:
    an Atom id is compared character by character, so the validator warns
    about any other spelling of the same URL.
    """
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        return False
    if (
        _HOST_PORT.fullmatch(parts.netloc) is None
        or value.count("#") > 1
        or port == {"http": 80, "https": 443}[parts.scheme]
        or not parts.path.startswith("/")
    ):
        return False
    segments = parts.path.split("/")
    if "." in segments or ".." in segments:
        return False
    for escape in _ESCAPE.finditer(value):
        code = escape.group(1)
        if code is None or code != code.upper() or not all(c in "0123456789ABCDEF" for c in code):
            return False
        if chr(int(code, 16)) in _UNRESERVED:
            return False
    return True


def feed_identifier(value: str | None) -> str | None:
    """``value`` if it is an identifier an Atom feed may carry (see above), else None."""
    if not value or len(value) > 2000:
        return None
    scheme = value.partition(":")[0]
    if scheme in ("http", "https"):
        kept = _HTTP_ID.fullmatch(value) is not None and _canonical_http(value)
    elif scheme == "tag":
        kept = _TAG_URI.fullmatch(value) is not None and "%" not in value
    elif scheme == "urn":
        pattern = _UUID_URN if value[:9].lower() == "urn:uuid:" else _URN
        kept = pattern.fullmatch(value) is not None and "%" not in value
    else:  # other schemes, and these in capitals ("HTTP:"): not in the form ids compare in
        return None
    return value if kept else None


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC, reading a naive datetime as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """Format an instant as RFC 3339 (https://www.rfc-editor.org/rfc/rfc3339) in UTC.

    Microseconds appear only when present, as Python's isoformat() does.
    """
    return as_utc(value).isoformat().replace("+00:00", "Z")


def named(authors: Iterable[Author]) -> list[Author]:
    """The authors with clean names, leaving out those whose name is blank.

    Atom and JSON Feed need a name (or URL) for a person; a blank one would
    make an entry look signed when it is not.
    """
    result = []
    for author in authors:
        name = clean_text(author.name).strip()
        if name:
            url = clean_text(author.url) if author.url else None
            result.append(Author(name, url or None))
    return result


def byline(authors: Iterable[Author]) -> str:
    """Join author names the way a byline reads: "A", "A and B", "A, B and C"."""
    names = [author.name for author in named(authors)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def distinct_instants(
    values: Iterable[datetime], keys: Iterable[str] | None = None
) -> list[datetime]:
    """Return the instants in UTC, made unique by moving repeats a little later.

    Atom readers and the W3C validator treat two entries with the same
    ``updated`` as one entry seen twice. An instant that several entries
    share moves on by an amount drawn from the entry's own ``keys`` value
    (its id, under a millisecond), so it stays the same when other entries
    come and go; only a repeat after that moves 1 µs at a time. Later, not
    earlier: an entry never edited has ``updated`` equal to ``published``,
    and must not seem updated before it was published (RFC 4287 §4.2.9, §4.2.15).
    """
    instants = [as_utc(value) for value in values]
    shares = Counter(instants)
    seen: set[datetime] = set()
    result: list[datetime] = []
    for instant, key in zip(instants, keys if keys is not None else repeat(None), strict=False):
        if key is not None and shares[instant] > 1:
            instant += timedelta(microseconds=1 + zlib.crc32(key.encode()) % 999)
        while instant in seen:
            instant += timedelta(microseconds=1)
        seen.add(instant)
        result.append(instant)
    return result
