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
from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    event,
    func,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from feedserver.db import take_sqlite_write_lock
from feedserver.models.base import Base
from feedserver.models.content import SLUG_LENGTH, Article


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


# --- ids are never given twice ------------------------------------------------------
#
# SQLite gives a new row the largest rowid + 1 (the table is not AUTOINCREMENT):
# once the newest article is deleted, the next one would get its id, and
# `/api/articles/<id>` — 410 Gone while the tombstone lives — would name
# another article (a retried DELETE would delete it). So on SQLite new
# articles get their ids here, above every id a tombstone remembers.
# PostgreSQL's sequences never give an id twice.

_ARTICLE_IDS = union_all(
    select(func.max(Article.id).label("top")),
    select(func.max(ArticleTombstone.article_id).label("top")),
).subquery()
_NEXT_ARTICLE_ID = select(func.coalesce(func.max(_ARTICLE_IDS.c.top), 0) + 1)


def new_article_ids(connection: Connection, count: int) -> list[int] | None:
    """SQLite: ``count`` fresh article ids, none a deleted article's; None: let the database pick."""
    if connection.dialect.name != "sqlite" or count <= 0:
        return None
    # Under SQLite's write lock: two writers (the poller and an editor, two
    # web workers) read the same largest id, and the second's INSERT failed
    # (a 409 for an article that shares nothing with the other).
    take_sqlite_write_lock(connection, Article.__table__)  # type: ignore[arg-type]  # declarative __table__ is typed as a FromClause
    first = int(connection.execute(_NEXT_ARTICLE_ID).scalar_one())
    return list(range(first, first + count))


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Give the ORM's new articles their ids (see new_article_ids)."""
    pending = [obj for obj in session.new if isinstance(obj, Article) and obj.id is None]
    if not pending:
        return
    ids = new_article_ids(session.connection(), len(pending))
    if ids is not None:
        for obj, ident in zip(pending, ids, strict=True):
            obj.id = ident


def install_hooks() -> None:
    """Register the id hook on every Session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
