"""Comment moderation: comments by status, approve, mark as spam, reject, delete.

Status changes and deletions go through :mod:`feedserver.comments.moderation`
(shared with the API), so replies of a deleted comment leave the comment feed
and the counts too.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from feedserver.admin import bp
from feedserver.admin.forms import ConfirmForm
from feedserver.comments import moderation
from feedserver.db import db_session
from feedserver.errors import BadRequest
from feedserver.models import COMMENT_STATUSES, Comment
from feedserver.web import get_or_404, page_arg, paginate

PER_PAGE = 25
ACTIONS = {
    "approved": "approved",
    "pending": "sent back to moderation",
    "spam": "marked as spam",
    "rejected": "rejected",
}


def _status_arg() -> str:
    status = request.args.get("status", "pending")
    return status if status in COMMENT_STATUSES else "pending"


@bp.get("/comments/")
def comments() -> str:
    """List comments of one status, newest first."""
    session = db_session()
    status = _status_arg()
    listing = paginate(
        session,
        select(Comment)
        .options(joinedload(Comment.article))
        .where(Comment.status == status)
        .order_by(Comment.created_at.desc(), Comment.id.desc()),
        page_arg(),
        PER_PAGE,
    )
    counts = dict(
        session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all()
    )
    return render_template(
        "admin/comments.html",
        status=status,
        statuses=COMMENT_STATUSES,
        counts=counts,
        **listing.context(),
        form=ConfirmForm(),
    )


@bp.post("/comments/<int:ident>/status")
def comment_status(ident: int) -> Response:
    """Change one comment's status."""
    comment = get_or_404(db_session(), Comment, ident)
    new = request.form.get("status", "")
    if new not in ACTIONS:
        raise BadRequest(f"A comment's status is one of {', '.join(ACTIONS)}.")
    back = request.form.get("back", comment.status)
    moderation.moderate(db_session(), comment, new)
    db_session().commit()
    flash(f"The comment by “{comment.author_name}” was {ACTIONS[new]}.", "success")
    return redirect(url_for("admin.comments", status=back if back in ACTIONS else "pending"))


@bp.post("/comments/<int:ident>/delete")
def comment_delete(ident: int) -> Response:
    """Delete one comment and its replies for good."""
    session = db_session()
    comment = get_or_404(session, Comment, ident)
    back, name = comment.status, comment.author_name
    moderation.delete_comment(session, comment)
    session.commit()
    flash(f"The comment by “{name}” was deleted.", "success")
    return redirect(url_for("admin.comments", status=back))
