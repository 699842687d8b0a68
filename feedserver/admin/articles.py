"""Articles: a searchable, filterable list with paging; create, edit, preview, delete."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from feedserver import urls
from feedserver.admin import bp, once
from feedserver.admin.forms import (
    NONE_CHOICE,
    ArticleForm,
    ConfirmForm,
    attach_errors,
    options,
    render_form,
    utc_from_local,
)
from feedserver.content import editing
from feedserver.content.deletion import delete_article
from feedserver.db import db_session
from feedserver.errors import Conflict, Unprocessable
from feedserver.models import Article, ArticleAuthor, Author, Comment, Section, Source
from feedserver.publishing import tombstones
from feedserver.web import base_url, page_arg, paginate

PER_PAGE = 25
MAX_QUERY = 200
AUTHOR_SLOTS = 3  # empty byline slots offered beyond the article's authors

View = str | tuple[str, int] | Response


def _like(text: str) -> str:
    """Escape LIKE's wildcards so a search for "100%" means just that."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


@bp.get("/articles/")
def articles() -> str:
    """List articles, newest first, by a search text, section, author or source."""
    session = db_session()
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    filters = {name: _int_arg(name) for name in ("section", "author", "source")}
    query = select(Article)
    if q:
        pattern = _like(q.lower())
        query = query.where(
            or_(
                func.lower(Article.title).like(pattern, escape="\\"),
                func.lower(Article.summary).like(pattern, escape="\\"),
                func.lower(Article.slug).like(pattern, escape="\\"),
            )
        )
    if filters["section"]:
        query = query.where(Article.section_id == filters["section"])
    if filters["source"]:
        query = query.where(Article.source_id == filters["source"])
    if filters["author"]:
        query = query.where(
            Article.id.in_(
                select(ArticleAuthor.article_id).where(ArticleAuthor.author_id == filters["author"])
            )
        )
    listing = paginate(
        session,
        query.options(
            selectinload(Article.section),
            selectinload(Article.source),
            selectinload(Article.bylines),
        ).order_by(Article.published_at.desc(), Article.id.desc()),
        page_arg(),
        PER_PAGE,
    )
    args: dict[str, Any] = {"q": q} if q else {}
    args.update({k: v for k, v in filters.items() if v})
    return render_template(
        "admin/articles.html",
        q=q,
        filters=filters,
        args=args,
        **listing.context(),
        choices=_choices(),
        delete_form=ConfirmForm(),
    )


def _choices() -> dict[str, list[tuple[str, str]]]:
    """Return the (value, label) options of the section, author and source fields."""
    session = db_session()
    options: dict[str, list[tuple[str, str]]] = {}
    for name, model in (("section", Section), ("author", Author), ("source", Source)):
        rows = session.execute(
            select(model.id, model.name, model.slug).order_by(func.lower(model.name), model.id)
        ).all()
        # Two of the same name are told apart by their slugs (which are unique).
        names = Counter(label.casefold() for _, label, _ in rows)
        options[name] = [
            (str(ident), f"{label} ({slug})" if names[label.casefold()] > 1 else label)
            for ident, label, slug in rows
        ]
    return options


def _prepare(form: ArticleForm, article: Article | None) -> None:
    """Fill the select options and give the byline enough slots."""
    choices = _choices()
    form.section.choices = options([("", "— choose a section —"), *choices["section"]])
    form.source.choices = options([NONE_CHOICE, *choices["source"]])
    form.byline_optional = article is not None and not article.bylines
    wanted = len(article.bylines) + AUTHOR_SLOTS if article else AUTHOR_SLOTS
    while len(form.authors) < wanted:
        form.authors.append_entry()
    for entry in form.authors:
        entry.choices = options([NONE_CHOICE, *choices["author"]])


def fingerprint(article: Article) -> str:
    """A digest of what the edit form shows of an article: it changes when they do."""
    shown = (
        article.title, article.slug, article.summary, article.body_html, article.section_id,
        article.source_id, article.original_url, article.published_at.isoformat(),
        article.comments_open, [byline.author_id for byline in article.bylines],
    )  # fmt: skip
    return hashlib.blake2b(json.dumps(shown).encode(), digest_size=12).hexdigest()


def _changed_meanwhile(form: ArticleForm, article: Article) -> bool:
    """Whether someone else saved the article since this form was filled from it.

    The form sends every field: saved over their change, it undid it without
    a word (two tabs, two editors). The form then carries the current state,
    so saving again is a deliberate choice.
    """
    now = fingerprint(article)
    if not form.edited_from.data or form.edited_from.data == now:
        return False
    form.edited_from.data = now
    form.form_errors.append(
        "Someone else changed this article since you opened it, and nothing was saved."
        " Open it again in another tab to see their version; saving this form again"
        " replaces it with yours."
    )
    return True


def _load(form: ArticleForm, article: Article) -> None:
    """Put an article's values into a fresh form (a GET of the edit page)."""
    form.edited_from.data = fingerprint(article)
    form.title.data = article.title
    form.slug.data = article.slug
    form.summary.data = article.summary
    form.body_html.data = article.body_html
    form.section.data = str(article.section_id or "")
    form.source.data = str(article.source_id or "")
    form.original_url.data = article.original_url
    form.published_at.data = article.published_at.replace(tzinfo=None, microsecond=0)
    form.comments_open.data = article.comments_open
    for entry, byline in zip(form.authors, article.bylines, strict=False):
        entry.data = str(byline.author_id)


def _data(form: ArticleForm, article: Article | None) -> dict[str, Any]:
    """Turn the form into the fields editing.py takes."""
    authors = [e.data for e in form.authors if e.data]
    data: dict[str, Any] = {
        "title": form.title.data,
        "summary": form.summary.data or "",
        "body_html": form.body_html.data or "",
        "section": form.section.data or None,
        "source": form.source.data or None,
        "original_url": form.original_url.data or None,
        "comments_open": bool(form.comments_open.data),
    }
    if authors or article is None or article.bylines:
        data["authors"] = list(dict.fromkeys(authors))  # a repeated pick counts once
    if form.slug.data:
        data["slug"] = form.slug.data
    published = utc_from_local(form.published_at.data)
    # The form shows whole seconds: an unchanged time must not lose its microseconds.
    unchanged = article is not None and published == article.published_at.replace(microsecond=0)
    if published is not None and not unchanged:
        data["published_at"] = published
    return data


def _edit(article: Article | None) -> View:
    session = db_session()
    form = ArticleForm()
    _prepare(form, article)
    if request.method == "GET" and article is not None:
        _load(form, article)
    preview = None
    if form.validate_on_submit():
        if form.preview.data:
            # Show what the body becomes on save, without saving anything.
            slug = form.slug.data or (article.slug if article else "preview")
            preview = editing.sanitize_body(
                form.body_html.data or "", base_url() + urls.article(slug)
            )
        elif article is not None and _changed_meanwhile(form, article):
            page, _ = render_form("admin/article_form.html", form, article=article)
            return page, 409  # lost to a concurrent change, as the API's 409s
        elif article is None and (done := once.sent_before(session, form)) is not None:
            return done
        else:
            creating = article is None
            try:
                with editing.saving(session):
                    if article is None:
                        article = editing.create_article(
                            session, _data(form, None), site_url=base_url()
                        )
                        once.remember(
                            session, form, url_for("admin.article_edit", ident=article.id)
                        )
                        verb = "published"
                    else:
                        editing.update_article(
                            session, article, _data(form, article), site_url=base_url()
                        )
                        verb = "saved"
            except (Unprocessable, Conflict) as exc:
                if creating:
                    article = None
                    if (done := once.sent_before(session, form)) is not None:
                        return done  # the same form, sent twice at once: the other made it
                attach_errors(form, exc.message, exc.details.get("fields"))
            else:
                flash(f"The article “{article.title}” was {verb}.", "success")
                return redirect(url_for("admin.article_edit", ident=article.id))
    return render_form("admin/article_form.html", form, article=article, preview=preview)


@bp.route("/articles/new", methods=["GET", "POST"])
def article_new() -> View:
    """Write a new article."""
    return _edit(None)


def _article(ident: int) -> Article:
    """The article to edit or delete; 410 Gone for a deleted one whose tombstone is kept."""
    return tombstones.article_or_gone(db_session(), ident, current_app.config["TOMBSTONE_DAYS"])


@bp.route("/articles/<int:ident>/edit", methods=["GET", "POST"])
def article_edit(ident: int) -> View:
    """Edit an article, preview its body, or go on to delete it."""
    if request.method == "POST":  # a change: after any other of this article under way
        days = current_app.config["TOMBSTONE_DAYS"]
        return _edit(tombstones.article_or_gone(db_session(), ident, days, for_write=True))
    return _edit(_article(ident))


@bp.get("/articles/<int:ident>/delete")
def article_delete_confirm(ident: int) -> str:
    """Ask before deleting: the article, and its comments with it, cannot come back."""
    article = _article(ident)
    comments = db_session().scalar(
        select(func.count(Comment.id)).where(Comment.article_id == article.id)
    )
    return render_template(
        "admin/article_delete.html", article=article, comments=comments or 0, form=ConfirmForm()
    )


@bp.post("/articles/<int:ident>/delete")
def article_delete(ident: int) -> Response:
    """Delete an article with its comments."""
    session = db_session()
    days = current_app.config["TOMBSTONE_DAYS"]
    article = tombstones.article_or_gone(session, ident, days, for_write=True)
    title = article.title
    with editing.saving(session):
        delete_article(session, article)
    flash(f"The article “{title}” was deleted.", "success")
    return redirect(url_for("admin.articles"))
