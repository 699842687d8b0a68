"""Public URLs of every published thing, as plain strings.

Kept apart from Flask's ``url_for`` so feeds, the API and the fast feed path
build the same URLs without a request context; the routes in site.py and
syndication.py must match these patterns (a test checks they do).
"""

from __future__ import annotations

from urllib.parse import quote

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
