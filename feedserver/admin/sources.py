"""Sources: a table with health; add by URL, import and export OPML, refresh, edit, delete."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from feedserver.admin import bp
from feedserver.admin.forms import (
    NONE_CHOICE,
    ConfirmForm,
    OpmlImportForm,
    SourceAddForm,
    SourceDeleteForm,
    SourceEditForm,
    attach_errors,
    options,
    render_form,
)
from feedserver.admin.health import HEALTH_LABELS, health_expression, source_health
from feedserver.aggregation import removal, websub
from feedserver.aggregation import sources as managing
from feedserver.aggregation.refresh import Outcome, PollSettings
from feedserver.db import db_session, get_db
from feedserver.errors import AppError, BadRequest, Conflict, Unprocessable
from feedserver.models import Section, Source
from feedserver.web import get_or_404, page_arg, paginate

log = logging.getLogger(__name__)

PER_PAGE = 50
MAX_OPML_BYTES = 1024 * 1024  # the request cap; an OPML of 5,000 feeds fits
View = str | tuple[str, int] | Response


def section_choices(blank: str = NONE_CHOICE[1]) -> list[Any]:
    """Return the (id, name) options of a section field."""
    rows = db_session().execute(select(Section.id, Section.name).order_by(func.lower(Section.name)))
    return options([("", blank), *((str(ident), name) for ident, name in rows)])


def _settings() -> PollSettings:
    return PollSettings.from_config(current_app.config)


def _list_page(**context: Any) -> str:
    """Render the sources table (with the add and import forms, which may carry errors)."""
    session = db_session()
    health = request.args.get("health", "")
    query = select(Source)
    if health in HEALTH_LABELS:
        query = query.where(health_expression() == health)
    else:
        health = ""
    listing = paginate(
        session, query.order_by(func.lower(Source.name), Source.id), page_arg(), PER_PAGE
    )
    add_form = context.pop("add_form", None) or SourceAddForm(formdata=None)
    import_form = context.pop("import_form", None) or OpmlImportForm(formdata=None)
    add_form.section.choices = section_choices()
    import_form.section.choices = section_choices("— by each outline's category —")
    for f in import_form:  # its fields' names are the add form's too: ids must differ
        f.id = f"opml-{f.name}"
        f.label.field_id = f.id
    return render_template(
        "admin/sources.html",
        counts=managing.article_counts(session, [s.id for s in listing.items]),
        health=health,
        health_labels=HEALTH_LABELS,
        source_health=source_health,
        **listing.context(),
        add_form=add_form,
        import_form=import_form,
        action_form=ConfirmForm(),
        **context,
    )


@bp.get("/sources/")
def sources() -> str:
    """List the sources with their health."""
    return _list_page()


@bp.get("/sources/<int:ident>")
def source_detail(ident: int) -> str:
    """Show one source's health and what its last refresh brought."""
    return _detail_page(get_or_404(db_session(), Source, ident))


def _detail_page(source: Source, outcome: Any = None) -> str:
    return render_template(
        "admin/source_detail.html",
        source=source,
        health=source_health(source),
        health_labels=HEALTH_LABELS,
        entries=managing.article_counts(db_session(), [source.id])[source.id],
        action_form=ConfirmForm(),
        outcome=outcome,
        push=websub.wanted_row(db_session(), source.id),
    )


@bp.post("/sources/add")
def source_add() -> View:
    """Add a source by the address of its feed or of a page that links one."""
    form = SourceAddForm()
    form.section.choices = section_choices()
    if form.validate_on_submit():
        try:
            source = managing.add_source(
                get_db(),
                managing.app_fetcher(),
                _settings(),
                form.url.data,
                section=form.section.data or None,
            )
        except (BadRequest, Unprocessable, Conflict) as exc:
            attach_errors(form, exc.message, {"url": "refused"})
        else:
            count = managing.article_counts(db_session(), [source.id])[source.id]
            flash(f"The source “{source.name}” was added with {count} entries.", "success")
            return redirect(url_for("admin.source_detail", ident=source.id))
    return _list_page(add_form=form), 422


@bp.post("/sources/import")
def sources_import() -> View:
    """Import the feeds of an OPML file and say what was added, skipped and refused."""
    form = OpmlImportForm()
    form.section.choices = section_choices()
    if form.validate_on_submit():
        body = form.file.data.read(MAX_OPML_BYTES + 1)
        try:
            if len(body) > MAX_OPML_BYTES:
                raise Unprocessable("That file is larger than 1 MiB.")
            summary = managing.import_opml(
                get_db(), managing.app_fetcher(), body, section=form.section.data or None
            )
        except (BadRequest, Unprocessable) as exc:
            form.file.errors = [f"That file could not be imported: {exc.message}"]
        else:
            added = [{"url": s.feed_url, "reason": s.name} for s in summary.added]
            made = ", ".join(section.name for section in summary.created_sections)
            flash(
                f"OPML import: {len(summary.added)} added, {len(summary.skipped)} skipped, "
                f"{len(summary.refused)} refused."
                + (f" Sections created: {made}." if made else ""),
                "success" if summary.added or not summary.refused else "warning",
            )
            report = {"added": added, "skipped": summary.skipped, "refused": summary.refused}
            return _list_page(import_summary=report)
    return _list_page(import_form=form), 422


@bp.get("/sources/export.opml")
def sources_export() -> Response:
    """Download every source with a feed as OPML."""
    body = managing.export_opml(db_session(), current_app.config["SITE_TITLE"])
    response = Response(body, mimetype="text/x-opml")
    response.headers["Content-Disposition"] = 'attachment; filename="sources.opml"'
    return response


@bp.post("/sources/<int:ident>/refresh")
def source_refresh(ident: int) -> str:
    """Fetch a source now and show what came back."""
    source = get_or_404(db_session(), Source, ident)
    outcome: Outcome | None = None
    try:
        outcome = managing.refresh_now(get_db(), managing.app_fetcher(), _settings(), source)
    except AppError as exc:
        flash(f"“{source.name}” was not refreshed: {exc.message}", "error")
    else:
        if outcome.error:
            flash(f"Refreshing “{source.name}” failed: {outcome.error}", "error")
        else:
            flash(
                f"“{source.name}” was refreshed: {outcome.added} new, {outcome.updated} changed.",
                "success",
            )
    session = db_session()
    session.expire_all()  # the refresh wrote through its own session
    return _detail_page(get_or_404(db_session(), Source, ident), outcome)


@bp.route("/sources/<int:ident>/edit", methods=["GET", "POST"])
def source_edit(ident: int) -> View:
    """Edit a source's name, section, poll interval and whether it is polled."""
    session = db_session()
    source = get_or_404(db_session(), Source, ident)
    form = SourceEditForm(obj=source)
    form.section.choices = section_choices()
    if request.method == "GET":
        form.section.data = str(source.section_id or "")
    if form.validate_on_submit():
        data = {
            "name": form.name.data,
            "section": form.section.data or None,
            "poll_interval": form.poll_interval.data,
            "enabled": bool(form.enabled.data),
        }
        try:
            managing.update_source(session, source, data, managing.app_fetcher())
            session.commit()
        except (BadRequest, Unprocessable, Conflict) as exc:
            session.rollback()
            attach_errors(form, exc.message, exc.details.get("fields"))
        else:
            flash(f"The source “{source.name}” was saved.", "success")
            return redirect(url_for("admin.source_detail", ident=source.id))
    return render_form("admin/source_form.html", form, source=source)


@bp.route("/sources/<int:ident>/delete", methods=["GET", "POST"])
def source_delete(ident: int) -> View:
    """Ask what to do with a source's articles, then delete it (or only disable it)."""
    session = db_session()
    source = get_or_404(db_session(), Source, ident)
    count, kept = removal.removal_counts(session, source)
    form = SourceDeleteForm()
    if form.validate_on_submit():
        name = source.name
        if form.articles.data == "disable":
            source.enabled = False
            session.commit()
            flash(f"“{name}” is disabled: no longer polled, its articles stay.", "success")
            return redirect(url_for("admin.source_detail", ident=source.id))
        removed = removal.remove_source(session, source)
        session.commit()
        flash(f"The source “{name}” was deleted with its {removed} articles.", "success")
        return redirect(url_for("admin.sources"))
    return render_form("admin/source_delete.html", form, source=source, count=count, kept=kept)
