"""The exception tree of the syndication core.

    FeedError                      anything the core refuses or fails at
    ├── FetchError                 fetching an upstream URL
    │   ├── BlockedAddress         the private-address guard refused a host
    │   ├── BodyTooLarge           the body (after decompression) is over the cap
    │   ├── FetchTimeout           connect or whole-body time-out
    │   ├── TooManyRedirects
    │   └── HTTPStatusError        an error status (4xx/5xx) came back
    ├── ParseError                 the bytes are not a feed we can read
    └── RenderError                data that cannot be serialized

Every message names its stage and its subject, e.g.
``fetch https://example.com/feed: body over 5 MiB``. The application maps these
to HTTP answers and source health in one place.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

# C0 and C1 controls and DEL: an upstream's reason phrase or a parser's quote
# may carry terminal escapes ("\x1b]0;title\x07") into logs and a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_PROBLEM = 1000  # characters of a problem kept in a message (logs, last_error)


# The user information of a URL an upstream named (a redirect to
# "http://bob:secret@host/"): refused, but quoted in the error it was kept.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")
# A password someone left "/", "?", "#" or "@" in unescaped ("http://bob:pa/ss@host/"):
# no userinfo to a URL parser (host "bob", port "pa"), a password all the same.
# Whatever runs from the scheme through a colon to the last "@" of the URL is
# hidden: a port and a path with an "@" in it ("https://h:8443/@me") are hidden
# too, which costs a message some detail but never leaks a password.
_LOOSE_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s]*?:[^\s]*@")


def parser_says(exc: Exception, url: str) -> str:
    """Why a URL parser refused ``url``, unless its words may quote a password.

    httpx says "Invalid port: 'hunter2'" of http://bob:hunter2?x@host/: the part
    after a user name's colon, which the redaction of URLs cannot recognise in
    the parser's own words. A URL with an "@" in it gets a plain reason.
    """
    return "not a valid URL" if "@" in url else str(exc)


def printable(text: str, limit: int = MAX_PROBLEM) -> str:
    """``text`` with URLs' user info hidden, control characters escaped (``\\x1b``), cut at ``limit``."""
    if "@" in text:
        text = _USERINFO.sub(r"\1***@", _LOOSE_PASSWORD.sub(r"\1***@", text))
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class FeedError(Exception):
    """Base of every error raised by the ``feeds`` package."""

    stage = "feed"
    # The HTTP status the upstream answered, when it answered before this went
    # wrong (a body too large, a document that does not parse): its health.
    status: int | None = None

    def __init__(self, subject: str, problem: str) -> None:
        # Both may quote what an upstream sent; every message reaches logs.
        self.subject = subject = printable(subject, 2 * MAX_PROBLEM)
        self.problem = problem = printable(problem)
        super().__init__(f"{self.stage} {subject}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as class, message and attributes: an error raised in a parse
        # process must reach the poller intact. (The default calls
        # ``cls(*args)``, which these signatures refuse, and the refusal
        # broke the whole process pool.)
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type[FeedError], args: tuple[Any, ...], state: dict[str, Any]) -> FeedError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class FetchError(FeedError):
    stage = "fetch"


class BlockedAddress(FetchError):
    pass


class BodyTooLarge(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class HTTPStatusError(FetchError):
    def __init__(
        self,
        subject: str,
        status: int,
        problem: str | None = None,
        *,
        retry_after: datetime | None = None,
    ) -> None:
        self.status = status
        # When the server asked us to come back (Retry-After on 429/503,
        # RFC 9110 §10.2.3), as an absolute time; ``feeds.upstream.schedule`` uses it.
        self.retry_after = retry_after
        super().__init__(subject, problem or f"HTTP {status}")


class ParseError(FeedError):
    stage = "parse"


class RenderError(FeedError):
    stage = "render"
