"""Comment moderation: the one way to change a comment's status or delete it.

The admin and the API both call these. Every change goes through the ORM, so
the flush hook in :mod:`feedserver.models.scopes` sees each approved comment
that arrives or leaves and keeps the article's ``comment_count`` and its
comment feed's validators in step. A deletion takes the comment's replies
(and theirs) with it, row by row: the database's ``ON DELETE CASCADE`` would
remove them behind the hook's back, leaving approved replies counted and
listed in the comment feed.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedserver.errors import Unprocessable
from feedserver.models import COMMENT_STATUSES, Comment

log = logging.getLogger(__name__)


def check_status(value: object, field: str = "status") -> str:
    """Return a valid comment status, or raise 422 naming the allowed ones."""
    if not isinstance(value, str) or value not in COMMENT_STATUSES:
        raise Unprocessable(
            f"{field} must be one of {', '.join(COMMENT_STATUSES)}, not {str(value)[:40]!r}.",
            fields={field: "invalid"},
        )
    return value


def moderate(session: Session, comment: Comment, status: str) -> None:
    """Set a comment's status (approved, pending, spam or rejected); flushed, not committed."""
    old, comment.status = comment.status, check_status(status)
    session.flush()
    log.info("comment moderated comment_id=%s from=%s to=%s", comment.id, old, status)


def thread(session: Session, comment: Comment) -> list[Comment]:
    """The comment and every reply below it, replies first (deepest first)."""
    found = [comment]
    level = [comment.id]
    while level:
        replies = list(session.scalars(select(Comment).where(Comment.parent_id.in_(level))))
        found.extend(replies)
        level = [r.id for r in replies]
    return found[::-1]


def delete_comment(session: Session, comment: Comment) -> int:
    """Delete a comment and all its replies through the ORM; return how many went."""
    rows = thread(session, comment)
    for row in rows:
        session.delete(row)
        session.flush()  # children before parents: the foreign key never dangles
    log.info("comment deleted comment_id=%s with_replies=%d", comment.id, len(rows) - 1)
    return len(rows)
