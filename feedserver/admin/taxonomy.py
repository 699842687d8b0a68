"""Sections and authors: list, create, edit, delete (refused while they have articles)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from feedserver import urls
from feedserver.admin import bp, once
from feedserver.admin.forms import AuthorForm, ConfirmForm, SectionForm, attach_errors, render_form
from feedserver.content import editing
from feedserver.db import db_session
from feedserver.errors import Conflict, Unprocessable
from feedserver.models import Article, ArticleAuthor, Author, Section
from feedserver.web import get_or_404

View = str | tuple[str, int] | Response


@dataclass(frozen=True)
class Kind:
    """What differs between the section pages and the author pages."""

    name: str  # "section"
    plural: str  # "sections"
    model: Any
    form: type[FlaskForm]
    fields: tuple[str, ...]
    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., None]
    public_url: Callable[[str], str]


SECTION = Kind(
    "section",
    "sections",
    Section,
    SectionForm,
    ("name", "slug", "description"),
    editing.create_section,
    editing.update_section,
    editing.delete_section,
    urls.section,
)
AUTHOR = Kind(
    "author",
    "authors",
    Author,
    AuthorForm,
    ("name", "slug", "url", "bio"),
    editing.create_author,
    editing.update_author,
    editing.delete_author,
    urls.author,
)


def _counts(kind: Kind) -> dict[int, int]:
    """Return the number of articles of each section, or bylines of each author."""
    column = Article.section_id if kind is SECTION else ArticleAuthor.author_id
    rows = db_session().execute(select(column, func.count()).group_by(column))
    return {ident: n for ident, n in rows if ident is not None}


def _list(kind: Kind) -> str:
    rows = db_session().scalars(select(kind.model).order_by(func.lower(kind.model.name)))
    return render_template(
        "admin/taxonomy_list.html",
        kind=kind,
        rows=list(rows),
        counts=_counts(kind),
        delete_form=ConfirmForm(),
    )


def _form_data(kind: Kind, form: FlaskForm) -> dict[str, Any]:
    data = {name: form[name].data for name in kind.fields}
    data["slug"] = data.get("slug") or None  # blank: make one (create) or keep it (edit)
    for name in ("url", "description", "bio"):
        if name in data:
            data[name] = data[name] or ("" if name != "url" else None)
    return data


def _edit(kind: Kind, ident: int | None) -> View:
    session = db_session()
    row = get_or_404(db_session(), kind.model, ident) if ident is not None else None
    form = kind.form(obj=row)
    if form.validate_on_submit():
        if row is None and (done := once.sent_before(session, form)) is not None:
            return done
        creating = row is None
        try:
            with editing.saving(session):
                if row is None:
                    row = kind.create(session, _form_data(kind, form))
                    once.remember(session, form, url_for(f"admin.{kind.plural}"))
                    verb = "created"
                else:
                    kind.update(session, row, _form_data(kind, form))
                    verb = "saved"
        except (Unprocessable, Conflict) as exc:
            if creating:
                row = None
                if (done := once.sent_before(session, form)) is not None:
                    return done  # the same form, sent twice at once: the other made it
            attach_errors(form, exc.message, exc.details.get("fields"))
        else:
            flash(f"The {kind.name} “{row.name}” was {verb}.", "success")
            return redirect(url_for(f"admin.{kind.plural}"))
    return render_form("admin/taxonomy_form.html", form, kind=kind, row=row)


def _delete(kind: Kind, ident: int) -> Response:
    session = db_session()
    row = get_or_404(db_session(), kind.model, ident)
    name = row.name
    try:
        with editing.saving(session):
            kind.delete(session, row)
    except Conflict as exc:
        flash(f"The {kind.name} “{name}” was not deleted: {exc.message}", "error")
    else:
        flash(f"The {kind.name} “{name}” was deleted.", "success")
    return redirect(url_for(f"admin.{kind.plural}"))


@bp.get("/sections/")
def sections() -> str:
    """List the sections with their article counts."""
    return _list(SECTION)


@bp.route("/sections/new", methods=["GET", "POST"])
def section_new() -> View:
    """Create a section."""
    return _edit(SECTION, None)


@bp.route("/sections/<int:ident>/edit", methods=["GET", "POST"])
def section_edit(ident: int) -> View:
    """Edit a section."""
    return _edit(SECTION, ident)


@bp.post("/sections/<int:ident>/delete")
def section_delete(ident: int) -> Response:
    """Delete a section that has no articles."""
    return _delete(SECTION, ident)


@bp.get("/authors/")
def authors() -> str:
    """List the authors with their article counts."""
    return _list(AUTHOR)


@bp.route("/authors/new", methods=["GET", "POST"])
def author_new() -> View:
    """Create an author."""
    return _edit(AUTHOR, None)


@bp.route("/authors/<int:ident>/edit", methods=["GET", "POST"])
def author_edit(ident: int) -> View:
    """Edit an author and their bio."""
    return _edit(AUTHOR, ident)


@bp.post("/authors/<int:ident>/delete")
def author_delete(ident: int) -> Response:
    """Delete an author who is in no byline."""
    return _delete(AUTHOR, ident)
