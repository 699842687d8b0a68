"""Reader comments. The e-mail and the IP hash are private to admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedserver.models.base import Base, utcnow
from feedserver.models.content import Article

COMMENT_STATUSES = ("pending", "approved", "spam", "rejected")


class Comment(Base):
    """A reader's comment on an article, waiting for or past moderation."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_article_status", "article_id", "status", "created_at"),
        Index("ix_comments_status_created", "status", "created_at"),
        Index("ix_comments_ip_created", "ip_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    author_name: Mapped[str] = mapped_column(String(100))
    author_email: Mapped[str] = mapped_column(String(254))
    author_url: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)  # plain text, escaped when shown
    status: Mapped[str] = mapped_column(String(16), default="pending")
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    article: Mapped[Article] = relationship()
    parent: Mapped[Comment | None] = relationship(remote_side=[id])
