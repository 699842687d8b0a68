"""Public pages: the front page, one article, and section, author and source listings.

A listing reads one page of its scope through the indexed queries in
publishing.py and takes its page count from the scope's version row, so no
page ever counts rows. Every page's <head> carries autodiscovery links for the
site's feeds and for its own scope's (INTERFACE §2).
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, render_template
from sqlalchemy import select

from feeds.sanitize import safe_url
from feedserver import urls
from feedserver.db import db_session, log_failure
from feedserver.errors import BadRequest, NotFound
from feedserver.models import Article, Author, Section, Source
from feedserver.publishing import queries as publishing
from feedserver.publishing import tombstones
from feedserver.publishing.queries import Scope
from feedserver.stories import members as story_members
from feedserver.web import base_url, check_depth, page_arg

log = logging.getLogger(__name__)

bp = Blueprint("site", __name__)

FORMAT_LABELS = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
COMMENT_FORMATS = ("atom", "rss")  # comment feeds come in no JSON flavour (INTERFACE §3)
# Edits within this long after publication are not worth an "Updated" line.
UPDATE_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One feed a page advertises: ``<link rel="alternate" type=… title=… href=…>``."""

    media_type: str
    title: str
    href: str  # absolute: feed readers resolve nothing
    label: str


@dataclass(frozen=True, slots=True)
class Pagination:
    """Where a listing page sits among its scope's pages (paths, not absolute URLs)."""

    page: int
    pages: int
    total: int
    prev_path: str | None
    next_path: str | None


@dataclass(frozen=True, slots=True)
class PageMeta:
    """What <head> says of a page for search engines and link previews."""

    description: str
    canonical: str
    og_type: str = "website"


def scope_feed_links(scope: Scope) -> list[FeedLink]:
    """Return the Atom, RSS and JSON Feed links of one scope."""
    base = base_url()
    site_title: str = current_app.config["SITE_TITLE"]
    title = site_title if scope.kind == "site" else f"{scope.name} — {site_title}"
    return [
        FeedLink(
            urls.MEDIA_TYPES[fmt],
            f"{title} ({label})",
            base + urls.scope_feed(scope.kind, scope.slug, fmt),
            label,
        )
        for fmt, label in FORMAT_LABELS.items()
    ]


def site_feed_links() -> list[FeedLink]:
    """Return the site-wide feed links (every page, error pages included, shows them).

    None on the 400 page of a Host no link can be built from.
    """
    config = current_app.config
    try:
        return scope_feed_links(publishing.site_scope(config["SITE_TITLE"], config["SITE_TAGLINE"]))
    except BadRequest:
        return []


def comment_feed_links(article: Article) -> list[FeedLink]:
    """Return the links of an article's comment feeds."""
    base = base_url()
    return [
        FeedLink(
            urls.MEDIA_TYPES[fmt],
            f"Comments on “{article.title}” ({FORMAT_LABELS[fmt]})",
            base + urls.comments_feed(article.slug, fmt),
            FORMAT_LABELS[fmt],
        )
        for fmt in COMMENT_FORMATS
    ]


def nav_sections() -> list[Section]:
    """Return the sections for the navigation, read at most once per request."""
    if "nav_sections" not in g:
        session = db_session()
        if not session.is_active:
            # An error page after a failed statement (a write that lost a
            # race): the session waits for its rollback before it reads again.
            with suppress(Exception):
                session.rollback()
        try:
            g.nav_sections = list(session.scalars(select(Section).order_by(Section.id)))
        except Exception as exc:
            # Error pages show the navigation too, and must render even when
            # the database is the thing that failed. Roll back, so the rest of
            # the request meets the outage itself, not a half-failed session.
            log_failure(log, "navigation: could not read the sections", exc)
            with suppress(Exception):
                session.rollback()
            g.nav_sections = []
    return g.nav_sections  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any


def _listing(scope: Scope, template: str, description: str, **context: Any) -> str:
    """Render one page of a scope's articles, or raise for a bad or missing page."""
    page = page_arg()
    per_page: int = current_app.config["PAGE_ITEMS"]
    depth = current_app.config["MAX_PAGE_DEPTH"]
    check_depth(page, per_page, depth)
    session = db_session()
    state = publishing.scope_state(session, scope.key)
    pages = state.pages(per_page, depth)
    if page > pages:
        raise NotFound(f"This list has {pages} page(s); there is no page {page}.")
    articles = publishing.articles_page(session, scope, page, per_page)
    # The site and section listings show a story once, crediting the others (§10).
    also = story_members.others(session, articles) if scope.kind in ("site", "section") else {}
    path = urls.scope_page(scope.kind, scope.slug)
    pagination = Pagination(
        page=page,
        pages=pages,
        total=state.item_count,
        prev_path=urls.with_page(path, page - 1) if page > 1 else None,
        next_path=urls.with_page(path, page + 1) if page < pages else None,
    )
    return render_template(
        template,
        scope=scope,
        articles=articles,
        also_reported=also,
        pagination=pagination,
        feed_links=[] if scope.kind == "site" else scope_feed_links(scope),
        scope_feeds=scope_feed_links(scope),
        meta=PageMeta(
            description=description,
            canonical=base_url() + urls.with_page(path, page),
        ),
        **context,
    )


@bp.get("/")
def home() -> str:
    """Show the latest articles."""
    config = current_app.config
    scope = publishing.site_scope(config["SITE_TITLE"], config["SITE_TAGLINE"])
    return _listing(scope, "site/home.html", config["SITE_TAGLINE"])


@bp.get("/sections/<slug>")
def section(slug: str) -> str:
    """Show a section's articles."""
    session = db_session()
    scope = publishing.find_scope(session, "section", slug, current_app.config["SITE_TITLE"])
    row = session.get(Section, scope.id)
    description = (row.description if row else "") or scope.description
    return _listing(
        scope, "site/section.html", description, section=row, current_section=scope.slug
    )


@bp.get("/authors/<slug>")
def author(slug: str) -> str:
    """Show an author's bio and articles."""
    session = db_session()
    scope = publishing.find_scope(session, "author", slug, current_app.config["SITE_TITLE"])
    row = session.get(Author, scope.id)
    description = (row.bio if row else "") or scope.description
    return _listing(scope, "site/author.html", description, author=row)


@bp.get("/sources/<slug>")
def source(slug: str) -> str:
    """Show the articles attributed to one original source."""
    session = db_session()
    scope = publishing.find_scope(session, "source", slug, current_app.config["SITE_TITLE"])
    row = session.get(Source, scope.id)
    return _listing(scope, "site/source.html", scope.description, source=row)


@bp.get("/articles/<slug>")
def article(slug: str) -> str:
    """Show one article with its attribution, author boxes and comments."""
    session = db_session()
    try:
        item = publishing.article_by_slug(session, slug)
    except NotFound:
        # A deleted article's page says so (410) while its tombstone is kept.
        tombstones.check_gone(session, current_app.config["TOMBSTONE_DAYS"], slug=slug)
        raise
    base = base_url()
    feed_links = []
    if item.section is not None:
        # The section is loaded with the article; its feed links need no query.
        section_scope = Scope(
            "section", "", item.section.id, item.section.slug, item.section.name, ""
        )
        feed_links += scope_feed_links(section_scope)
    feed_links += comment_feed_links(item)
    original = item.original_url or (
        urls.public_url(item.source.home_url) if item.source and item.source.home_url else None
    )
    updated = max(item.updated_at, item.published_at)
    return render_template(
        "site/article.html",
        article=item,
        authors=item.authors,
        original_url=original,
        original_host=publishing.source_host(item) if original else None,
        updated=updated if updated - item.published_at > UPDATE_GRACE else None,
        feed_links=feed_links,
        also_reported=story_members.others(session, [item]).get(item.id, []),
        current_section=item.section.slug if item.section else None,
        meta=PageMeta(
            description=item.summary or item.title,
            canonical=base + urls.article(item.slug),
            og_type="article",
        ),
    )


def html_time(value: datetime) -> str:
    """Format a time for <time datetime>: HTML allows at most milliseconds, so none."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def long_date(value: datetime) -> str:
    """Format a time for readers: "3 March 2026, 08:01 UTC"."""
    value = value.astimezone(UTC)
    return f"{value.day} {value:%B %Y, %H:%M} UTC"


def short_date(value: datetime) -> str:
    """Format a date for listings: "3 Mar 2026"."""
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}"


def web_url(value: str | None) -> str | None:
    """Return the URL if it is absolute http(s), else None: stored data never yields a javascript: link."""
    url = safe_url(value) if value else None
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def source_url(value: str | None) -> str | None:
    """:func:`web_url` of a source's own link, without a credential it may carry (?token=)."""
    url = web_url(value)
    return urls.public_url(url) if url else None


def url_host(value: str) -> str:
    """Return the host of a URL as readers know it ("www." dropped)."""
    return (urlsplit(value).hostname or "").removeprefix("www.")


def init_app(app: Flask) -> None:
    """Register the public pages and what their templates use."""
    app.register_blueprint(bp)
    app.add_template_filter(html_time, "html_time")
    app.add_template_filter(long_date, "long_date")
    app.add_template_filter(short_date, "short_date")
    app.add_template_filter(web_url, "web_url")
    app.add_template_filter(source_url, "source_url")
    app.add_template_filter(url_host, "url_host")
    # Globals rather than a context processor: nothing is queried unless a
    # template asks, so an admin page that replaces the navigation pays nothing.
    app.jinja_env.globals["urls"] = urls  # a module: templates call urls.article(…)
    app.add_template_global(base_url, "base_url")
    app.add_template_global(nav_sections, "nav_sections")
    app.add_template_global(site_feed_links, "site_feed_links")
    app.add_template_global(publishing.source_host, "article_host")
