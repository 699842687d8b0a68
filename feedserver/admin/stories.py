"""Stories: see how articles were grouped, split a wrong grouping, merge two (§10)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from feedserver.admin import bp
from feedserver.admin.forms import ConfirmForm
from feedserver.admin.paging import page_count, page_number
from feedserver.content import editing
from feedserver.db import db_session
from feedserver.errors import AppError, BadRequest
from feedserver.models import Story
from feedserver.stories import curation
from feedserver.stories.members import members_of

PER_PAGE = 20
MAX_FIELD = 1000  # characters of a comma-separated id list


def _id_list(raw: str, field: str) -> list[int]:
    """Parse "12, 14 15" into ids; anything else is a 400."""
    raw = raw[: MAX_FIELD + 1]
    if len(raw) > MAX_FIELD:
        raise BadRequest(f"{field}: too long.")
    parts = [p for p in raw.replace(",", " ").split() if p]
    if not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        raise BadRequest(f"{field}: give ids (whole numbers) separated by commas.")
    return [int(p) for p in parts]


@bp.get("/stories/")
def stories() -> str:
    """List stories, the most recently changed first, with their articles."""
    session = db_session()
    total = session.scalar(select(func.count(Story.id))) or 0
    pages = page_count(total, PER_PAGE)
    page = min(page_number(), pages)
    rows = list(
        session.scalars(
            select(Story)
            .order_by(Story.updated_at.desc(), Story.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return render_template(
        "admin/stories.html",
        rows=rows,
        members=members_of(session, (s.id for s in rows)),
        page=page,
        pages=pages,
        total=total,
        form=ConfirmForm(),
    )


def _back() -> Response:
    return redirect(url_for("admin.stories", page=request.args.get("page", "1")[:6]))


@bp.post("/stories/<int:ident>/split")
def story_split(ident: int) -> Response:
    """Split the ticked articles off a story."""
    if not ConfirmForm().validate_on_submit():
        raise BadRequest("The form expired; reload the page and try again.")
    wanted = _id_list(" ".join(request.form.getlist("articles")), "articles")
    session = db_session()
    try:
        with editing.saving(session):
            curation.split(session, ident, wanted)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Split {len(wanted)} article(s) off story {ident}.", "success")
    return _back()


@bp.post("/stories/merge")
def story_merge() -> Response:
    """Merge the stories and articles named in the form into one story."""
    if not ConfirmForm().validate_on_submit():
        raise BadRequest("The form expired; reload the page and try again.")
    story_ids = _id_list(request.form.get("stories", ""), "stories")
    article_ids = _id_list(request.form.get("articles", ""), "articles")
    session = db_session()
    try:
        with editing.saving(session):
            target = curation.merge(session, story_ids, article_ids)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Merged into story {target}.", "success")
    return _back()
