"""Tombstones of deleted articles (RFC 6721), kept for FEEDSERVER_TOMBSTONE_DAYS.

A tombstone remembers what readers had seen of an article: its permanent
entry id (``urn:uuid:…``), its slug (the former page, which answers 410
Gone), its title, when it was deleted, and every feed scope it was in — so
each of those feeds can carry an ``at:deleted-entry`` for it. The scope keys
are copied into :class:`TombstoneScope` rows with the deletion time, so one
index range (scope key, deleted_at) gives a feed's live tombstones and the
earliest one to expire.

Nothing here has a foreign key to articles or sources: the article is gone,
and its source may go after it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedserver.models.base import Base
from feedserver.models.content import SLUG_LENGTH


class ArticleTombstone(Base):
    """What is left of a deleted article while its tombstone is kept."""

    __tablename__ = "tombstones"
    __table_args__ = (
        # An upstream tombstone names the entry by its source's upstream id.
        Index("ix_tombstones_source_upstream", "source_id", "upstream_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, index=True)  # the former id
    entry_id: Mapped[str] = mapped_column(String(100))  # urn:uuid:… as feeds carried it
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH + 20), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    source_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: see above
    upstream_key: Mapped[str | None] = mapped_column(String(512))
    deleted_at: Mapped[datetime] = mapped_column(index=True)

    scopes: Mapped[list[TombstoneScope]] = relationship(
        back_populates="tombstone", cascade="all, delete-orphan", passive_deletes=True
    )


class TombstoneScope(Base):
    """One feed scope (``site``, ``section:3``, ``author:7``, ``source:2``) a tombstone is in."""

    __tablename__ = "tombstone_scopes"
    __table_args__ = (Index("ix_tombstone_scopes_scope", "scope_key", "deleted_at"),)

    tombstone_id: Mapped[int] = mapped_column(
        ForeignKey("tombstones.id", ondelete="CASCADE"), primary_key=True
    )
    scope_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A copy of tombstones.deleted_at, so a feed's tombstones are one index range.
    deleted_at: Mapped[datetime] = mapped_column()

    tombstone: Mapped[ArticleTombstone] = relationship(back_populates="scopes")
