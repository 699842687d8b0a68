"""Feed endpoints: every scope in RSS 2.0, Atom 1.0 and JSON Feed 1.1.

request → scope → validators (one indexed read) → 304, or cached bytes, or
query + render + cache → one bytes body with ETag, Last-Modified,
Cache-Control and Vary (RFC 9110 §8.8, §13; RFC 9111 §5.2).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, redirect, request
from werkzeug.wrappers.response import Response as BaseResponse

from feeds import model as fm
from feeds.conditional import choose_encoding, not_modified, precondition_failed
from feeds.render import render_atom, render_json, render_rss
from feeds.websub import format_link
from feedserver import hosts, urls
from feedserver.content.slugs import is_valid_slug
from feedserver.db import db_session
from feedserver.errors import NotFound
from feedserver.models import utcnow
from feedserver.ops.metrics import RENDER_SECONDS
from feedserver.publishing import fastpath, tombstones
from feedserver.publishing import queries as publishing
from feedserver.publishing.cache import CachedFeed, FeedCache, FeedVersion, feed_answer
from feedserver.publishing.queries import Scope, ScopeState
from feedserver.stories import members as story_members
from feedserver.web import base_url, check_depth, page_arg, parse_page

bp = Blueprint("syndication", __name__)

RENDERERS: dict[str, Callable[[fm.Feed], fm.Rendered]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}
# Bump when the rendered bytes change for the same data (a new element, a fix),
# so no client keeps a stale copy under an old strong ETag.
RENDER_VERSION = "3"  # 3: WebSub hub links
CACHE_EXTENSION = "feedserver.publishing.cache"


def hub_url() -> str:
    """The WebSub hub every feed advertises: FEEDSERVER_WEBSUB_HUB, else our own /websub."""
    configured: str = current_app.config["WEBSUB_HUB"]
    return configured or base_url() + "/websub"


def feed_cache(app: Flask | None = None) -> FeedCache:
    return (app or current_app).extensions[CACHE_EXTENSION]  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any


def respond_feed(
    key: str,
    state: ScopeState,
    fmt: str,
    page: int,
    build: Callable[[], fm.Feed],
    valid_until: datetime | None = None,
) -> BaseResponse:
    """Answer a feed request from validators, the cache, or a fresh render.

    The answer (publishing.cache.FeedAnswer) is handed to the fast path, if it
    runs, so that it answers the next request for this URL without Flask.

    ``valid_until``: when the feed's body changes without a write — its
    oldest tombstone expires (publishing.tombstones) — so it is part of the
    validators, and bounds how long the fast path keeps the answer.
    """
    config = current_app.config
    base = base_url()  # a 400 for a Host no link can be built from (web.base_url)
    # Kept and shared only when built from the configured or pinned host (feedserver.hosts).
    shared = hosts.pin_for(current_app).may_cache(request.host)
    hub = hub_url()
    cache_key = (key, fmt, page, base, hub, state.version, state.global_version)
    # The same version has the same live tombstones, except across a restart
    # with another TOMBSTONE_DAYS: the next expiry names that. Left out when
    # there is none, so feeds without tombstones keep their validators.
    expiry = () if valid_until is None else (valid_until.isoformat(),)
    seed = "|".join(
        map(
            str,
            (
                *cache_key,
                state.changed_at.isoformat(),
                state.global_changed_at.isoformat(),
                config["FEED_ITEMS"],
                config["SITE_TITLE"],
                config["SITE_TAGLINE"],
                RENDER_VERSION,
                *expiry,
            ),
        )
    )
    version = FeedVersion(
        etag=hashlib.blake2b(seed.encode(), digest_size=16).hexdigest(),
        last_modified=state.last_change,
        max_age=config["FEED_MAX_AGE"],
        valid_until=valid_until,
    )
    encoding = choose_encoding(request.headers.get("Accept-Encoding"))
    # WebSub §4 discovery, on 200 and 304 alike: where to subscribe, and the
    # topic URL to subscribe to (page 1 is spelled without ?page=).
    here = base + quote(request.path, safe="/")
    self_url = urls.with_page(here, page)
    links: tuple[tuple[str, str], ...] = (
        ("Link", format_link(hub, "hub")),
        ("Link", format_link(self_url, "self")),
    )
    query = request.query_string.decode("latin-1")
    if query and self_url != f"{here}?{query}":
        # Another spelling of this page (?page=1, ?page=02, tracking parameters):
        # its canonical URL, which the feed's rel="self" gives too (RFC 9110
        # §8.7; sent on 304s as well, §15.4.5).
        links += (("Content-Location", self_url),)
    # A private answer (another Host than the pinned one) is never kept for others.
    answers = fastpath.answers(current_app) if shared else None
    versions = (state.version, state.global_version)
    asked = request.headers
    failed = precondition_failed(
        version.etag, version.last_modified, asked.get("If-Match"), asked.get("If-Unmodified-Since")
    )
    if failed or not_modified(
        version.etag,
        version.last_modified,
        asked.get("If-None-Match"),
        asked.get("If-Modified-Since"),
    ):
        answer = feed_answer(
            version, encoding, secure=request.is_secure, links=links, shared=shared
        )
        if failed:
            return Response(
                "Precondition Failed: the feed is not the version If-Match or"
                " If-Unmodified-Since names.\n",
                status=412,
                headers=[h for h in answer.headers304 if h[0] in ("ETag", "Last-Modified", "Vary")],
                mimetype="text/plain",
            )
        if answers is not None:
            answers.keep(request.environ, encoding, key, versions, answer)
        return Response(status=304, headers=answer.headers304)
    cache = feed_cache()
    cached = cache.get(cache_key) if shared else None
    if cached is None:
        with RENDER_SECONDS.labels(fmt).time():  # a cold render: query + render
            rendered = RENDERERS[fmt](dataclasses.replace(build(), hubs=(hub,)))
        cached = CachedFeed(rendered.body, rendered.media_type)
        if _moved_while_read(key, state):
            return _unvalidated(version, encoding, cached, links, shared)
        if shared:
            cache.put(cache_key, cached)
    before = cached.size
    answer = feed_answer(
        version, encoding, secure=request.is_secure, feed=cached, links=links, shared=shared
    )
    if shared and cached.size != before:  # a compressed variant was made for this answer
        cache.grew(cache_key, cached.size - before)
    if answers is not None:
        answers.keep(request.environ, encoding, key, versions, answer)
    return Response(answer.body, status=200, headers=answer.headers200)


def _moved_while_read(key: str, state: ScopeState) -> bool:
    """Whether a write to the scope was committed after its versions were read.

    The versions and the articles are read by separate statements (each sees
    the latest commit: PostgreSQL's READ COMMITTED, pysqlite's reads), so a
    body rendered meanwhile may show the newer data under the older ETag: one
    strong ETag for two bodies (RFC 9110 §8.8.3), and the newer body kept
    under the older version's key (found by an audit). One indexed read, on
    cold renders only.
    """
    now = publishing.scope_state(db_session(), key)
    return (now.version, now.global_version) != (state.version, state.global_version)


def _unvalidated(
    version: FeedVersion,
    encoding: str,
    feed: CachedFeed,
    links: tuple[tuple[str, str], ...],
    shared: bool,
) -> BaseResponse:
    """The body as read, without validators, kept by nobody: the next request has both anew."""
    answer = feed_answer(version, encoding, secure=request.is_secure, feed=feed, links=links)
    caching = "no-cache" if shared else "private, no-cache"
    headers = [
        ("Cache-Control", caching) if name == "Cache-Control" else (name, value)
        for name, value in answer.headers200 or ()
        if name not in ("ETag", "Last-Modified")
    ]
    return Response(answer.body, status=200, headers=headers)


def _scope_feed(scope: Scope, fmt: str) -> BaseResponse:
    config = current_app.config
    page = page_arg()
    session = db_session()
    days = config["TOMBSTONE_DAYS"]
    valid_until = tombstones.expire_due(session, scope.key, utcnow(), days)
    state = publishing.scope_state(session, scope.key, scope.created_at)
    per_page = config["FEED_ITEMS"]
    depth = config["MAX_PAGE_DEPTH"]
    check_depth(page, per_page, depth, "This feed")
    if page > state.pages(per_page, depth):
        raise NotFound(f"This feed has {state.pages(per_page, depth)} page(s), not {page}.")

    def build() -> fm.Feed:
        articles = publishing.articles_page(session, scope, page, per_page)
        credits = (
            story_members.credits(session, articles, base_url(), config["SITE_TITLE"])
            if scope.kind in ("site", "section")
            else None
        )
        feed = publishing.build_feed(
            scope,
            state,
            articles,
            fmt=fmt,
            page=page,
            per_page=per_page,
            base=base_url(),
            site_title=config["SITE_TITLE"],
            story_credits=credits,
            max_depth=depth,
        )
        if page > 1:  # tombstones on page 1 only: see publishing.tombstones
            return feed
        gone = tombstones.feed_tombstones(session, scope.key, utcnow(), days, base_url())
        return dataclasses.replace(feed, tombstones=gone) if gone else feed

    return respond_feed(scope.key, state, fmt, page, build, valid_until)


FORMATS = "<any(rss, atom, json):fmt>"


@bp.get(f"/feed.{FORMATS}")
def site_feed(fmt: str) -> BaseResponse:
    """Serve the site-wide feed."""
    config = current_app.config
    return _scope_feed(publishing.site_scope(config["SITE_TITLE"], config["SITE_TAGLINE"]), fmt)


@bp.get(f"/<any(sections, authors, sources):kind>/<slug>/feed.{FORMATS}")
def scope_feed(kind: str, slug: str, fmt: str) -> BaseResponse:
    """Serve a section's, an author's or a source's feed."""
    scope = publishing.find_scope(
        db_session(), kind.removesuffix("s"), slug, current_app.config["SITE_TITLE"]
    )
    return _scope_feed(scope, fmt)


# WordPress-style feed URLs answer 301 to ours, so migrated subscribers keep working.
def _legacy(target: str) -> BaseResponse:
    """301 to the feed's own URL, with WordPress's ``?paged=`` (or ``?page=``) as its page.

    A page that is no page number is the 400 the target would give.
    """
    name = "paged" if request.args.get("paged") else "page"
    page = parse_page(request.args.get(name) or None, name=name)
    if page > 1:
        target = urls.with_page(target, page)
    return redirect(target, code=301)


@bp.get("/feed/", strict_slashes=False)
@bp.get("/feed/<any(rss2, rss, rdf):_kind>/", strict_slashes=False)
def wp_site_rss(_kind: str | None = None) -> BaseResponse:
    """Redirect WordPress's site feed URL."""
    return _legacy(urls.scope_feed("site", None, "rss"))


@bp.get("/feed/atom/", strict_slashes=False)
def wp_site_atom() -> BaseResponse:
    """Redirect WordPress's site Atom URL."""
    return _legacy(urls.scope_feed("site", None, "atom"))


@bp.get("/<any(category, author):wp_kind>/<slug>/feed/", strict_slashes=False)
@bp.get(
    "/<any(category, author):wp_kind>/<slug>/feed/<any(atom, rss2, rss):wp_fmt>/",
    strict_slashes=False,
)
def wp_scope_feed(wp_kind: str, slug: str, wp_fmt: str = "rss2") -> BaseResponse:
    """Redirect WordPress's category and author feed URLs."""
    kind = "section" if wp_kind == "category" else "author"
    if not is_valid_slug(slug):  # "..", "a/b": no section or author is called that
        raise NotFound(f"No {kind} called {slug!r}.")
    return _legacy(urls.scope_feed(kind, slug, "atom" if wp_fmt == "atom" else "rss"))


def init_app(app: Flask) -> None:
    """Register the feed routes and the rendered-feed cache."""
    app.extensions[CACHE_EXTENSION] = FeedCache()
    app.register_blueprint(bp)
