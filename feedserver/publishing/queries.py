"""Queries that turn rows into ``feeds`` data: scopes, pages of articles, feeds.

Every feed query walks one index in feed order (see models.content) and reads
only the rows it returns: a page of articles, then their bylines in one query.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session, joinedload, selectinload

from feeds import model as fm
from feeds.render.values import feed_identifier
from feedserver import urls
from feedserver.content.editing import DESCRIPTION_MAX
from feedserver.content.validation import plain_name
from feedserver.errors import NotFound
from feedserver.models import Article, ArticleAuthor, Author, Section, Source
from feedserver.models.scopes import GLOBAL, SITE, ScopeVersion, scope_key

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Scope:
    """A set of articles with its own feeds: the site, a section, an author, a source."""

    kind: str  # "site" | "section" | "author" | "source"
    key: str  # its row in scope_versions
    id: int | None
    slug: str | None
    name: str
    description: str
    created_at: datetime | None = None  # the section's, author's or source's row


@dataclass(frozen=True, slots=True)
class ScopeState:
    """What the validators of a scope's feeds derive from (one indexed read)."""

    version: int
    changed_at: datetime
    item_count: int
    global_version: int
    global_changed_at: datetime

    @property
    def last_change(self) -> datetime:
        return max(self.changed_at, self.global_changed_at)

    def pages(self, per_page: int, depth: int | None = None) -> int:
        """Pages of ``per_page`` items, up to the one that holds the ``depth``-th item."""
        pages = max(1, math.ceil(self.item_count / per_page))
        return pages if depth is None else min(pages, urls.deepest_page(per_page, depth))


SCOPE_MODELS: dict[str, Any] = {"section": Section, "author": Author, "source": Source}


def site_scope(title: str, tagline: str) -> Scope:
    return Scope("site", SITE, None, None, title, tagline)


def find_scope(session: Session, kind: str, slug: str, site_title: str) -> Scope:
    """Return the section/author/source scope with this slug, or raise NotFound."""
    model = SCOPE_MODELS[kind]
    # A section's own description, when the newsroom wrote one, describes its feed.
    own = model.description if kind == "section" else literal("")
    row = session.execute(
        select(model.id, model.slug, model.name, own, model.created_at).where(model.slug == slug)
    ).first()
    if row is None:
        raise NotFound(f"No {kind} called {slug!r}.")
    ident, slug, name, written, created_at = row
    description = (
        # Plain text in the feed (RSS description, Atom subtitle): what an older
        # version let through as markup is made plain, as upstream titles are.
        plain_name(written or "", max_length=DESCRIPTION_MAX)
        or {
            "section": f"The latest {name} articles from {site_title}.",
            "author": f"Articles by {name} on {site_title}.",
            "source": f"Articles on {site_title} attributed to {name}.",
        }[kind]
    )
    return Scope(kind, scope_key(kind, ident), ident, slug, name, description, created_at)


def scope_state(session: Session, key: str, born: datetime | None = None) -> ScopeState:
    """Read the scope's and the global version in one indexed query.

    A scope nothing has changed yet (a new section, author or source with no
    article, a new article's comments) has no version row: its last change
    is ``born``, when it was created, not the year 2000.
    """
    rows = {
        r.key: r
        for r in session.execute(
            select(
                ScopeVersion.key,
                ScopeVersion.version,
                ScopeVersion.changed_at,
                ScopeVersion.item_count,
            ).where(ScopeVersion.key.in_((key, GLOBAL)))
        )
    }
    own, glob = rows.get(key), rows.get(GLOBAL)
    return ScopeState(
        version=own.version if own else 0,
        changed_at=own.changed_at if own else (born or EPOCH),
        item_count=own.item_count if own else 0,
        global_version=glob.version if glob else 0,
        global_changed_at=glob.changed_at if glob else EPOCH,
    )


def articles_page(session: Session, scope: Scope, page: int, per_page: int) -> list[Article]:
    """Return one page of the scope's articles, newest first, with what feeds show."""
    offset = (page - 1) * per_page
    order = (Article.published_at.desc(), Article.id.desc())
    if scope.kind == "author":
        ids = list(
            session.scalars(
                select(ArticleAuthor.article_id)
                .where(ArticleAuthor.author_id == scope.id)
                .order_by(ArticleAuthor.published_at.desc(), ArticleAuthor.article_id.desc())
                .limit(per_page)
                .offset(offset)
            )
        )
        query = select(Article).where(Article.id.in_(ids)) if ids else None
    else:
        query = select(Article).order_by(*order).limit(per_page).offset(offset)
        # The site and a section show a story once (INTERFACE §10): its later
        # members are folded away (ix_articles_listed, ix_articles_section_listed).
        if scope.kind == "site":
            query = query.where(Article.story_hidden.is_(False))
        elif scope.kind == "section":
            query = query.where(
                Article.section_id == scope.id, Article.story_section_hidden.is_(False)
            )
        elif scope.kind == "source":
            query = query.where(Article.source_id == scope.id)
    if query is None:
        return []
    query = query.options(
        joinedload(Article.section),
        joinedload(Article.source),
        selectinload(Article.bylines),
    ).order_by(*order)
    return list(session.scalars(query).unique())


def article_by_slug(session: Session, slug: str) -> Article:
    """Return the article with this slug and what its page shows, or raise NotFound."""
    article = session.scalar(
        select(Article)
        .where(Article.slug == slug)
        .options(
            joinedload(Article.section),
            joinedload(Article.source),
            selectinload(Article.bylines),
        )
    )
    if article is None:
        raise NotFound(f"No article called {slug!r}.")
    return article


def byline(names: list[str]) -> str:
    """Join names as a byline: "A", "A and B", "A, B and C"."""
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def source_host(article: Article) -> str | None:
    """The host shown in "Original Source: <host>"."""
    from urllib.parse import urlsplit

    url = article.original_url or (article.source.home_url if article.source else None)
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    return ".".join(map(_shown_label, host.removeprefix("www.").split("."))) or None


def _shown_label(label: str) -> str:
    """A host label as readers see it: Unicode only when it is Latin script throughout.

    "аpple" with a Cyrillic "а" reads as apple.com; browsers then show the
    ASCII form (xn--pple-43d), and so does the source line. "münchen" stays.
    """
    text = label
    if label.startswith("xn--"):
        try:
            text = label.encode("ascii").decode("idna")
        except UnicodeError:
            return label
    if text.isascii():
        return text
    if all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") for ch in text):
        return text
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return "xn--" + text.encode("punycode").decode("ascii")


@functools.lru_cache(maxsize=1024)
def _plain_title(text: str) -> str:
    """:func:`plain_name` of a source's title, worked out once, not for each entry rendered."""
    return plain_name(text)


def attribution(source: Source, base: str) -> fm.Attribution:
    """The Atom <source>/RSS <source> of articles attributed to this source."""
    own_rss = base + urls.scope_feed("source", source.slug, "rss")
    # The upstream's own title and id are its to write: markup in the title
    # and an id that is no identifier ("urn:uuid:feed-1") would make our feeds
    # invalid, so they are made plain, or replaced by the feed's URL.
    return fm.Attribution(
        title=_plain_title(source.upstream_title or "") or _plain_title(source.name) or source.name,
        link=urls.public_url(source.home_url)
        if source.home_url
        else base + urls.source(source.slug),
        # A private feed's token is ours to fetch with, not every reader's to see.
        feed_url=urls.public_url(source.feed_url) if source.feed_url else own_rss,
        feed_id=feed_identifier(urls.public_url(source.upstream_id or ""))
        or feed_identifier(urls.public_url(source.feed_url or ""))
        or own_rss,
        updated=source.updated_at,
    )


def article_entry(
    article: Article,
    base: str,
    fmt: str = "atom",
    story_sources: tuple[fm.StorySource, ...] = (),
) -> fm.Entry:
    """Describe one article as a feed entry (absolute URLs, no e-mail addresses)."""
    link = base + urls.article(article.slug)
    section = article.section
    return fm.Entry(
        id=f"urn:uuid:{article.uid}",
        title=article.title,
        link=link,
        published=article.published_at,
        updated=max(article.updated_at, article.published_at),
        authors=tuple(
            fm.Author(name=a.name, url=base + urls.author(a.slug)) for a in article.authors
        ),
        categories=(
            (fm.Category(term=section.slug, label=section.name, scheme=base + urls.section("")),)
            if section
            else ()
        ),
        summary=article.summary or None,
        content_html=article.body_html or None,
        source=attribution(article.source, base) if article.source else None,
        original_url=article.original_url,
        comments_url=link + "#comments",
        # Each format links the comment feed in its own format (JSON has none).
        comments_feed_url=base
        + urls.comments_feed(article.slug, "rss" if fmt == "rss" else "atom"),
        comment_count=article.comment_count,
        story_sources=story_sources,
    )


def paging_links(feed_url: str, page: int, pages: int) -> fm.Paging:
    """RFC 5005 §3 links of page ``page`` of ``pages``."""
    return fm.Paging(
        first=feed_url,
        previous=urls.with_page(feed_url, page - 1) if page > 1 else None,
        next=urls.with_page(feed_url, page + 1) if page < pages else None,
        last=urls.with_page(feed_url, pages),
    )


def build_feed(
    scope: Scope,
    state: ScopeState,
    articles: list[Article],
    *,
    fmt: str,
    page: int,
    per_page: int,
    base: str,
    site_title: str,
    story_credits: Mapping[int, tuple[fm.StorySource, ...]] | None = None,
    max_depth: int | None = None,
) -> fm.Feed:
    """Describe one page of a scope's feed in one format.

    ``max_depth`` (FEEDSERVER_MAX_PAGE_DEPTH): the ``last`` and ``next`` links
    name no page past the one that holds that item, which answers 404.

    ``story_credits``: for the site and section feeds, the sources of each
    story an article leads (feedserver.stories.members.credits).
    """
    credits = story_credits or {}
    feed_url = base + urls.scope_feed(scope.kind, scope.slug, fmt)
    pages = state.pages(per_page, max_depth)
    title = site_title if scope.kind == "site" else f"{scope.name} — {site_title}"
    return fm.Feed(
        id=base + urls.scope_feed(scope.kind, scope.slug, "atom"),
        title=title,
        description=scope.description or title,
        link=base + urls.scope_page(scope.kind, scope.slug),
        self_url=urls.with_page(feed_url, page),
        updated=state.last_change,
        entries=tuple(article_entry(a, base, fmt, credits.get(a.id, ())) for a in articles),
        paging=paging_links(feed_url, page, pages),
        alternates=tuple(
            (urls.MEDIA_TYPES[other], base + urls.scope_feed(scope.kind, scope.slug, other))
            for other in ("atom", "rss", "json")
            if other != fmt
        ),
    )
