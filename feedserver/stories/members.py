"""What pages, feeds and the API show of a story: its articles and their sources."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feeds import model as fm
from feedserver import urls
from feedserver.models import Article, Source


@dataclass(frozen=True, slots=True)
class Member:
    """One article of a story, as credited beside the others."""

    id: int
    story_id: int
    slug: str
    title: str
    published_at: datetime
    original_url: str | None
    source_name: str | None  # None: the newsroom's own article
    source_slug: str | None

    def credit_name(self, site_title: str) -> str:
        return self.source_name or site_title

    def credit_url(self, base: str) -> str:
        """Where the article was reported: its original URL, else its page here."""
        return self.original_url or base + urls.article(self.slug)


def members_of(session: Session, story_ids: Iterable[int | None]) -> dict[int, list[Member]]:
    """The articles of each story, earliest first (one query)."""
    wanted = {s for s in story_ids if s is not None}
    if not wanted:
        return {}
    found: dict[int, list[Member]] = defaultdict(list)
    rows = session.execute(
        select(
            Article.id,
            Article.story_id,
            Article.slug,
            Article.title,
            Article.published_at,
            Article.original_url,
            Source.name,
            Source.slug,
        )
        .outerjoin(Source, Source.id == Article.source_id)
        .where(Article.story_id.in_(wanted))
        .order_by(Article.published_at, Article.id)
    )
    for ident, story_id, slug, title, published_at, original_url, name, source_slug in rows:
        assert story_id is not None  # selected by story
        found[story_id].append(
            Member(ident, story_id, slug, title, published_at, original_url, name, source_slug)
        )
    return dict(found)


def others(session: Session, articles: Collection[Article]) -> dict[int, list[Member]]:
    """For each article in a story: the other articles of its story (for "Also reported by")."""
    stories = members_of(session, (a.story_id for a in articles))
    return {
        a.id: [m for m in stories[a.story_id] if m.id != a.id]
        for a in articles
        if a.story_id in stories
    }


def credits(
    session: Session, articles: Collection[Article], base: str, site_title: str
) -> dict[int, tuple[fm.StorySource, ...]]:
    """For each article leading a story: every article of it as a feed credit (§10)."""
    stories = members_of(session, (a.story_id for a in articles))
    return {
        a.id: tuple(
            fm.StorySource(name=m.credit_name(site_title), url=m.credit_url(base))
            for m in stories[a.story_id]
        )
        for a in articles
        if a.story_id in stories
    }


def story_article_ids(session: Session, article: Article) -> list[int]:
    """The ids of the articles of ``article``'s story, earliest first (itself alone if none)."""
    if article.story_id is None:
        return [article.id]
    return [m.id for m in members_of(session, [article.story_id]).get(article.story_id, [])]
