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
it, never by reading the archive. ``story_entries`` keeps what the
comparison needs of each article (its features, already normalized: a
candidate is scored without re-reading its text) and whether an admin placed
it in its story by hand (grouping then never moves it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from feedserver.models.base import Base, utcnow

TERM_LENGTH = 40


class Story(Base):
    """One story: its members are the articles whose ``story_id`` is its id.

    ``curated`` marks a story an admin split or merged; the articles the admin
    placed are pinned (:class:`StoryEntry`), so grouping never moves them out of
    their story again, not even when they are edited.
    """

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    curated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryTerm(Base):
    """One significant word of one article, for finding its story's candidates."""

    __tablename__ = "story_terms"
    # Covering: a candidate lookup reads the index alone, never the table.
    __table_args__ = (Index("ix_story_terms_term_published", "term", "published_at", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(TERM_LENGTH), primary_key=True)
    published_at: Mapped[datetime] = mapped_column()


class StoryEntry(Base):
    """What grouping keeps of one article: its comparison features and its pin.

    ``features`` is :func:`feedserver.stories.similarity.encode` of the
    article's document (written when the article is grouped or edited), so
    scoring a candidate needs no text processing. ``pinned``: an admin split
    or merged it, and grouping never takes it out of its story.
    """

    __tablename__ = "story_entries"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    features: Mapped[str] = mapped_column(Text, default="")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StoryQueue(Base):
    """A polled article filed in the candidate index, waiting to be grouped.

    The poller groups a batch of them at once (feedserver.stories.grouping.
    group_queued) within seconds of storing them; the row goes then.
    """

    __tablename__ = "story_queue"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )


class StoryIdFloor(Base):
    """The highest story id ever handed out (SQLite; one row).

    SQLite gives a new row the highest id in use plus one, so the id of a
    story that dissolved (split or emptied) came back for the next story,
    and an old id in an admin's open page or a script named another story.
    New stories take ids above this floor (stories.leads.new_story).
    PostgreSQL's sequence never hands an id out twice.
    """

    __tablename__ = "story_id_floor"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    last: Mapped[int] = mapped_column(default=0)
