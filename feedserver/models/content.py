"""What the site publishes: sections, authors, sources and articles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedserver.models.base import Base, utcnow

SLUG_LENGTH = 120


# SQLite hands out the highest id in use plus one, so the newest row's id came
# back after a delete, with what is kept under it (tombstones, feed scopes,
# hub subscriptions): AUTOINCREMENT never hands one out twice (migration 0017).
NEVER_REUSED = {"sqlite_autoincrement": True}


class Section(Base):
    """A section of the site ("World", "Science"): the category of its articles."""

    __tablename__ = "sections"
    # One name, case aside (editing._name_free checks it; this holds it under races).
    __table_args__ = (
        Index("uq_sections_name", func.lower(text("name")), unique=True),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Author(Base):
    """A person who writes for the site, or an upstream author of one source.

    Upstream authors carry their ``source_id`` so that two people of the same
    name at two different sources stay two authors.
    """

    __tablename__ = "authors"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source | None] = relationship(foreign_keys=[source_id])


class Source(Base):
    """An original publisher articles are attributed to; polled when it has a feed URL."""

    __tablename__ = "sources"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    home_url: Mapped[str | None] = mapped_column(String(2000))
    feed_url: Mapped[str | None] = mapped_column(String(2000), unique=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    poll_interval: Mapped[int | None] = mapped_column(Integer)  # seconds; None: the default

    # Identity of the upstream feed, for Atom <source>.
    upstream_id: Mapped[str | None] = mapped_column(String(2000))
    upstream_title: Mapped[str | None] = mapped_column(String(500))
    upstream_updated: Mapped[datetime | None] = mapped_column()

    # Health and polling state.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))  # as the server sent it
    last_fetch_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    next_fetch_at: Mapped[datetime | None] = mapped_column(index=True)
    # What the upstream's last 200 said of its freshness, kept for the 304s that
    # follow: a 304 updates the stored answer's headers, and those it does not
    # repeat still apply (RFC 9111 §4.3.4). Its max-age (or Expires) in seconds,
    # and its RSS <ttl> in minutes.
    cache_seconds: Mapped[int | None] = mapped_column(Integer)
    ttl_minutes: Mapped[int | None] = mapped_column(Integer)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When what feeds show of the source last changed (not its polling state);
    # maintained by feedserver.models.scopes. It is Atom's <source><updated>.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    section: Mapped[Section | None] = relationship()


class Article(Base):
    """A published article. ``uid`` is its permanent feed id (``urn:uuid:…``)."""

    __tablename__ = "articles"
    __table_args__ = (
        # One index per feed scope, in feed order, so a feed page reads only its rows.
        Index("ix_articles_published", "published_at", "id"),
        Index("ix_articles_section_published", "section_id", "published_at", "id"),
        Index("ix_articles_source_published", "source_id", "published_at", "id"),
        # Upstream entries are de-duplicated per source by this key.
        UniqueConstraint("source_id", "upstream_key", name="uq_articles_source_upstream_key"),
        # A story's members. Partial: most articles are in no story, and an
        # index full of NULLs makes planners (SQLite after ANALYZE) scan instead.
        Index(
            "ix_articles_story_id",
            "story_id",
            sqlite_where=text("story_id IS NOT NULL"),
            postgresql_where=text("story_id IS NOT NULL"),
        ),
        # Listings of the site and of a section, with a story's later members
        # folded away (feedserver.models.stories).
        Index("ix_articles_listed", "story_hidden", "published_at", "id"),
        Index(
            "ix_articles_section_listed",
            "section_id",
            "story_section_hidden",
            "published_at",
            "id",
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH + 20), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="RESTRICT"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    original_url: Mapped[str | None] = mapped_column(String(2000))
    upstream_key: Mapped[str | None] = mapped_column(String(512))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    comments_open: Mapped[bool] = mapped_column(Boolean, default=True)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)  # approved comments
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its story (feedserver.stories) and whether the site / its section's
    # listings fold it away under an earlier member of that story.
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    story_hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    story_section_hidden: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    section: Mapped[Section | None] = relationship()
    source: Mapped[Source | None] = relationship()
    bylines: Mapped[list[ArticleAuthor]] = relationship(
        back_populates="article",
        order_by="ArticleAuthor.position",
        cascade="all, delete-orphan",
    )

    @property
    def authors(self) -> list[Author]:
        """The authors in byline order."""
        return [b.author for b in self.bylines]

    def set_authors(self, authors: list[Author]) -> None:
        """Replace the byline, keeping rows of authors who stay."""
        wanted = (
            {a.id: pos for pos, a in enumerate(authors)} if all(a.id for a in authors) else None
        )
        if wanted is not None and {b.author_id for b in self.bylines} == set(wanted):
            for b in self.bylines:
                b.position = wanted[b.author_id]
                b.published_at = self.published_at
            self.bylines.sort(key=lambda b: b.position)
            return
        self.bylines = [
            ArticleAuthor(author=a, position=pos, published_at=self.published_at)
            for pos, a in enumerate(authors)
        ]


class ArticleAuthor(Base):
    """An author in an article's byline; carries the sort key of the author feed."""

    __tablename__ = "article_authors"
    __table_args__ = (Index("ix_article_authors_feed", "author_id", "published_at", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[int] = mapped_column(
        ForeignKey("authors.id", ondelete="RESTRICT"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    # A copy of articles.published_at so the author feed is one index range scan.
    published_at: Mapped[datetime] = mapped_column()

    article: Mapped[Article] = relationship(back_populates="bylines")
    author: Mapped[Author] = relationship(lazy="joined")
