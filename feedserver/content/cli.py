"""``feedserver sections create NAME [--slug SLUG]``, ``sections list`` and ``articles delete ID``.

Registered by :mod:`feedserver.cli` through :func:`register`. Creating goes
through :func:`feedserver.content.editing.create_section`, the service the API
and the admin use, so the same checks and messages apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from feedserver.content import editing
from feedserver.content.deletion import delete_article
from feedserver.db import get_db
from feedserver.models import Article, Section
from feedserver.web import MAX_ID

sections_group = AppGroup("sections", help="Manage the site's sections (where articles land).")


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """feedserver.cli.clean_errors, looked up at call time (cli imports this module)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from feedserver.cli import clean_errors as clean

        return clean(command)(*args, **kwargs)

    return wrapper


@sections_group.command("create")
@click.argument("name")
@click.option("--slug", default=None, help="URL slug; default: made from the name.")
@click.option("--description", default=None, help="A line about the section.")
@clean_errors
def sections_create(name: str, slug: str | None, description: str | None) -> None:
    """Create a section named NAME."""
    data: dict[str, Any] = {"name": name}
    if slug is not None:
        data["slug"] = slug
    if description is not None:
        data["description"] = description
    with get_db().sessions() as session, editing.saving(session):
        section = editing.create_section(session, data)
        ident, made_slug, made_name = section.id, section.slug, section.name
    click.echo(f"Created section {ident} {made_slug!r} ({made_name}).")


@sections_group.command("list")
@clean_errors
def sections_list() -> None:
    """List every section: id, slug, name and article count."""
    counts = (
        select(Section.id, Section.slug, Section.name, func.count(Article.id))
        .outerjoin(Article, Article.section_id == Section.id)
        .group_by(Section.id, Section.slug, Section.name)
        .order_by(Section.name, Section.id)
    )
    with get_db().session() as session:
        rows = session.execute(counts).all()
    if not rows:
        click.echo("No sections yet: create one with 'feedserver sections create NAME'.")
    for ident, slug, name, count in rows:
        click.echo(f"{ident}\t{slug}\t{name}\tarticles={count}")


articles_group = AppGroup("articles", help="Manage articles.")


@articles_group.command("delete")
@click.argument("article_id", metavar="ID", type=click.IntRange(1, MAX_ID))
@clean_errors
def articles_delete(article_id: int) -> None:
    """Delete article ID with its comments, keeping an RFC 6721 tombstone."""
    # Here, not at the top: the lean app of `feedserver poll` loads no publishing.
    from feedserver.publishing.tombstones import article_or_gone

    days = int(current_app.config["TOMBSTONE_DAYS"])
    with get_db().session() as session:
        article = article_or_gone(session, article_id, days, for_write=True)
        title = article.title
        tombstone = delete_article(session, article)
        entry = tombstone.entry_id
    click.echo(f"Deleted article {article_id} ({title!r}); its tombstone names {entry}.")


def register(group: click.Group) -> None:
    """Add the sections and articles commands to the feedserver command."""
    group.add_command(sections_group)
    group.add_command(articles_group)
