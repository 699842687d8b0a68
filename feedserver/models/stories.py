"""Stories: articles from several sources that report the same news (INTERFACE §10).

An article belongs to at most one story (``articles.story_id``). Listings and
the site and section feeds show a story once, by its earliest article; the
two flags on ``articles`` say which members are folded away, so a listing is
still one index range scan (``ix_articles_listed``,
``ix_articles_section_listed``) and its page count still comes from the scope
row's item count, which counts the rows a listing shows.

``story_terms`` is the grouping index: a few significant words of each
article's title and summary with its publication time, so a new article
finds its candidates among the articles of ±72 hours that share words with
it, never by reading the archive.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from feedserver.models.base import Base, utcnow

TERM_LENGTH = 40


class Story(Base):
    """One story: its members are the articles whose ``story_id`` is its id.

    ``curated`` marks a story an admin split or merged. Grouping never moves
    an existing article anyway (only a new one joins), so curation sticks;
    the flag tells the admin which groupings were decided by hand.
    """

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    curated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryTerm(Base):
    """One significant word of one article, for finding its story's candidates."""

    __tablename__ = "story_terms"
    __table_args__ = (Index("ix_story_terms_term_published", "term", "published_at"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(TERM_LENGTH), primary_key=True)
    published_at: Mapped[datetime] = mapped_column()
