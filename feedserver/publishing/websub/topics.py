"""Which ``hub.topic`` values name a feed of this site (WebSub §5.1).

Our hub serves only our own feeds: every scope (site, section, author,
source, an article's comments), every format, page 1 — spelled with or
without ``?page=1``. Anything else is refused with a reason: another site,
another page, an unknown slug, a page that is not a feed, extra query
parameters, a fragment.

The path is matched against the app's own URL map, so the hub accepts exactly
the URLs the feed routes serve; the subscription remembers the canonical
path (built by :mod:`feedserver.urls`) and the scope key whose version
changes when the feed does (:mod:`feedserver.models.scopes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter, RequestRedirect

from feeds.websub import WebSubError
from feedserver import urls
from feedserver.models import Article
from feedserver.models.scopes import SITE, comments_key
from feedserver.publishing.queries import SCOPE_MODELS

MAX_URL = 2048
FEED_ENDPOINTS = ("syndication.site_feed", "syndication.scope_feed", "comments.comment_feed")


@dataclass(frozen=True, slots=True)
class Topic:
    """A feed a subscriber may subscribe to."""

    path: str  # canonical, e.g. "/sections/world/feed.atom"
    scope_key: str  # e.g. "section:3"
    fmt: str  # "rss" | "atom" | "json"


def _origin(scheme: str, netloc: str) -> tuple[str, int | None]:
    """(host, port) with the scheme's default port dropped, so http and https compare."""
    parts = urlsplit(f"{scheme}://{netloc}")
    port = parts.port
    return (parts.hostname or "", None if port in (80, 443) else port)


def same_site(topic_scheme: str, topic_netloc: str, base: str) -> bool:
    """Whether the topic's host (and port) is ours; http and https both count."""
    parts = urlsplit(base)
    return _origin(topic_scheme, topic_netloc) == _origin(parts.scheme, parts.netloc)


def split_topic(topic: str, base: str) -> str:
    """Check everything about a topic URL but the route; return its path."""
    if not topic:
        raise WebSubError("hub.topic", "missing")
    if len(topic) > MAX_URL:
        raise WebSubError("hub.topic", f"longer than {MAX_URL} characters")
    try:
        parts = urlsplit(topic)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise WebSubError("hub.topic", "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebSubError("hub.topic", "must be an absolute http(s) URL of a feed on this site")
    if not same_site(parts.scheme, parts.netloc, base):
        raise WebSubError("hub.topic", f"this hub serves only the feeds of {base}")
    if parts.fragment:
        raise WebSubError("hub.topic", "must not carry a fragment")
    if "//" in parts.path:
        raise WebSubError("hub.topic", "not a feed URL of this site (it redirects)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.query and parts.query != "page=1" and query == [("page", "1")]:
        # "?page=1&", "?&page=1": a spelling no feed link uses, a subscription of its own
        raise WebSubError("hub.topic", "must be the feed's URL, or it with exactly ?page=1")
    if query and query != [("page", "1")]:
        names = {name for name, _ in query}
        if names == {"page"}:
            raise WebSubError(
                "hub.topic", "only page 1 of a feed can be subscribed to (drop ?page=)"
            )
        raise WebSubError("hub.topic", "must not carry query parameters other than page=1")
    return parts.path or "/"


def resolve_topic(topic: str, base: str, adapter: MapAdapter, session: Session) -> Topic:
    """Resolve a topic URL to the feed it names, or raise :class:`WebSubError`."""
    path = split_topic(topic, base)
    try:
        endpoint, args = adapter.match(path, method="GET")
    except RequestRedirect:
        raise WebSubError("hub.topic", "not a feed URL of this site (it redirects)") from None
    except HTTPException:
        raise WebSubError("hub.topic", "not a feed URL of this site") from None
    if endpoint not in FEED_ENDPOINTS:
        raise WebSubError("hub.topic", "not a feed URL of this site")
    return _scope_of(str(endpoint), args, session)


def _scope_of(endpoint: str, args: Mapping[str, Any], session: Session) -> Topic:
    fmt = str(args["fmt"])
    if endpoint == "syndication.site_feed":
        return Topic(urls.scope_feed("site", None, fmt), SITE, fmt)
    slug = str(args["slug"])
    if not slug.isprintable() or len(slug) > 300:
        # No slug holds these; and PostgreSQL refuses a NUL in a query (a 500).
        # The site's paths never get here with one (feedserver.web), a form's topic does.
        what = (
            "article"
            if endpoint == "comments.comment_feed"
            else str(args["kind"]).removesuffix("s")
        )
        raise WebSubError("hub.topic", f"no {what} called {slug[:80]!r}")
    if endpoint == "comments.comment_feed":
        article = session.execute(select(Article.id, Article.slug).where(Article.slug == slug))
        row = article.first()
        if row is None:
            raise WebSubError("hub.topic", f"no article called {slug[:80]!r}")
        return Topic(urls.comments_feed(row.slug, fmt), comments_key(row.id), fmt)
    kind = str(args["kind"]).removesuffix("s")
    model = SCOPE_MODELS[kind]
    found = session.execute(select(model.id, model.slug).where(model.slug == slug)).first()
    if found is None:
        raise WebSubError("hub.topic", f"no {kind} called {slug[:80]!r}")
    return Topic(urls.scope_feed(kind, found.slug, fmt), f"{kind}:{found.id}", fmt)
