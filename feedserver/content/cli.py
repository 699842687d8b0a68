"""``feedserver articles …``: article commands (registered by feedserver.cli)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup

from feedserver.content.deletion import delete_article
from feedserver.db import get_db
from feedserver.errors import NotFound
from feedserver.models import Article


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """feedserver.cli.clean_errors, looked up at call time (feedserver.cli imports us)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from feedserver.cli import clean_errors as clean

        return clean(command)(*args, **kwargs)

    return wrapper


articles_group = AppGroup("articles", help="Manage articles.")


@articles_group.command("delete")
@click.argument("article_id", metavar="ID", type=click.IntRange(1, 2**31 - 1))
@clean_errors
def articles_delete(article_id: int) -> None:
    """Delete article ID with its comments, keeping an RFC 6721 tombstone."""
    with get_db().session() as session:
        article = session.get(Article, article_id)
        if article is None:
            raise NotFound(f"No article with id {article_id}.")
        title = article.title
        tombstone = delete_article(session, article)
        entry = tombstone.entry_id
    click.echo(f"Deleted article {article_id} ({title!r}); its tombstone names {entry}.")


def register(group: click.Group) -> None:
    """Add the article commands to ``group``."""
    group.add_command(articles_group)
