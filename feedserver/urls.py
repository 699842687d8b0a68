"""Public URLs of every published thing, as plain strings, and the one check of a web URL.

Kept apart from Flask's ``url_for`` so feeds, the API and the fast feed path
build the same URLs without a request context; the routes in site/views.py and
publishing/views.py must match these patterns (a test checks they do).

:func:`http_url_problem` is the one rule for a URL someone gives us (an
article's original, an author's page, a commenter's website, a source's
feed): absolute ``http``/``https`` with a host, no spaces or control
characters, a valid port, not too long. Each caller words the answer its way.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from urllib.parse import quote, unquote_plus, urlsplit

MAX_URL = 2000

FORMAT_SUFFIX = {"rss": "feed.rss", "atom": "feed.atom", "json": "feed.json"}
MEDIA_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}


def _seg(slug: str) -> str:
    return quote(slug, safe="")


def home() -> str:
    return "/"


def article(slug: str) -> str:
    return f"/articles/{_seg(slug)}"


def section(slug: str) -> str:
    return f"/sections/{_seg(slug)}"


def author(slug: str) -> str:
    return f"/authors/{_seg(slug)}"


def source(slug: str) -> str:
    return f"/sources/{_seg(slug)}"


def scope_page(kind: str, slug: str | None) -> str:
    """The HTML page of a feed scope ("site", "section", "author", "source")."""
    if kind == "site" or slug is None:
        return home()
    return {"section": section, "author": author, "source": source}[kind](slug)


def scope_feed(kind: str, slug: str | None, fmt: str) -> str:
    """The feed of a scope in one format ("rss", "atom", "json")."""
    if kind == "site" or slug is None:
        return "/" + FORMAT_SUFFIX[fmt]
    return f"{scope_page(kind, slug)}/{FORMAT_SUFFIX[fmt]}"


def comments_feed(article_slug: str, fmt: str) -> str:
    """An article's comment feed ("rss" or "atom")."""
    return f"{article(article_slug)}/comments.{fmt}"


def with_page(url: str, page: int) -> str:
    """Add ?page=N for pages after the first."""
    return url if page <= 1 else f"{url}?page={page}"


def without_empty_query(url: str) -> str:
    """``url`` without a query of question marks only ("feed.xml?", "cb??"): no query to an http server.

    A query that holds anything ("?a=1?") is kept whole. RFC 3986 §6.2.3
    leaves this to the scheme; for http the two spellings name one resource,
    and each was a source, or a subscription, of its own.
    """
    return _EMPTY_QUERY.sub(r"\1", url)


_EMPTY_QUERY = re.compile(r"^([^?#]*)\?+$")


class UrlProblem(enum.Enum):
    """Why a string is not an absolute http(s) URL."""

    TOO_LONG = "too long"
    SPACES = "spaces or control characters"
    MALFORMED = "not a valid URL"
    NOT_HTTP = "not an absolute http(s) URL"
    CREDENTIALS = "a URL with a user name or password in it"


def http_url_problem(value: str, max_length: int = MAX_URL) -> UrlProblem | None:
    """Say why ``value`` is not an absolute http(s) URL with a host, or None if it is one."""
    if len(value) > max_length:
        return UrlProblem.TOO_LONG
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in value):
        return UrlProblem.SPACES
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return UrlProblem.MALFORMED
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return UrlProblem.NOT_HTTP
    if any(c in _NOT_IN_URLS or unicodedata.category(c) == "Cf" for c in value):
        # RFC 3986 has no place for these unencoded; browsers and parsers
        # disagree on them ("a\\@b" is host b to one and host a to another),
        # and format characters (bidi overrides) make a link read as another.
        return UrlProblem.MALFORMED
    if parts.username is not None or parts.password is not None:
        return UrlProblem.CREDENTIALS
    return None


_NOT_IN_URLS = frozenset('"<>\\`')  # never in a URL unencoded; {, | and ^ are seen in the wild


def deepest_page(per_page: int, limit: int) -> int:
    """The last page ``feedserver.web.check_depth`` serves: paging links never name one past it."""
    return max(1, -(-limit // per_page))


# Query parameters that carry a credential ("?token=…", "&api_key=…", "&sig=…"):
# a private feed's address is the source's, to fetch with; not the public's.
_SECRET_PARAMETER = re.compile(
    r"token|secret|passw|passkey|passphrase|pwd|auth|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|signature|session|credential|jwt|bearer|^(?:key|sig|sid|code|hash|pass|otp)$",
    re.IGNORECASE,
)


def public_url(url: str) -> str:
    """``url`` without the query parameters that look like credentials, to be published.

    A source added as ``https://news.example/feed?token=…`` (a subscriber-only
    feed) is fetched with its token, but our feeds name it in every entry's
    ``<source>``: there it loses the token. Other parameters stay as written.
    """
    if "?" not in url:
        return url
    head, _, rest = url.partition("?")
    query, hash_, fragment = rest.partition("#")
    parts = re.split("[&;]", query)  # ";" separates parameters for some servers too
    kept = [
        part for part in parts if not _SECRET_PARAMETER.search(unquote_plus(part.partition("=")[0]))
    ]
    if len(kept) == len(parts):
        return url
    tail = ("?" + "&".join(kept)) if any(kept) else ""
    return head + tail + hash_ + fragment
