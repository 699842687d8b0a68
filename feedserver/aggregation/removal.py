"""Removing a source: the one way, for the admin, the API and the CLI.

Removing deletes the source, the articles aggregated from it (those with an
``upstream_key``: only the aggregation store sets one) and its upstream
authors no other article uses: an aggregated article without its attribution
would misrepresent whose work it is. The newsroom's own articles that merely
cite the source stay — they are our work — with their ``source_id`` cleared
(the source row is gone) and their ``original_url`` kept, so their pages still
link what they cite. To stop polling but keep the aggregated articles, disable
the source instead.

Everything goes through the ORM, so the flush hook in
:mod:`feedserver.models.scopes` moves the feeds' versions and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from feedserver.content.deletion import delete_article
from feedserver.errors import NotFound
from feedserver.models import Article, ArticleAuthor, Author, Source

log = logging.getLogger(__name__)

BATCH = 500


def _aggregated(source_id: int) -> Any:
    return (Article.source_id == source_id) & Article.upstream_key.is_not(None)


def _cited(source_id: int) -> Any:
    return (Article.source_id == source_id) & Article.upstream_key.is_(None)


def _in_batches(session: Session, where: Any, act: Callable[[Article], object]) -> int:
    """Apply ``act`` to every article matching ``where``, BATCH per flush; return how many.

    ``act`` must take each article out of ``where`` (delete or detach it), or this never ends.
    """
    done = 0
    while batch := list(session.scalars(select(Article).where(where).limit(BATCH))):
        for article in batch:
            act(article)
        session.flush()
        done += len(batch)
    return done


def removal_counts(session: Session, source: Source) -> tuple[int, int]:
    """(aggregated articles that go, staff articles that stay) if the source is removed."""
    gone = session.scalar(select(func.count(Article.id)).where(_aggregated(source.id))) or 0
    kept = session.scalar(select(func.count(Article.id)).where(_cited(source.id))) or 0
    return gone, kept


def remove_source(session: Session, source: Source) -> int:
    """Delete a source, its aggregated articles and upstream authors; return the articles removed.

    Staff articles that cite the source stay, detached from it (see the module doc).
    Everything goes through the ORM, in batches, so the feed versions follow.
    """
    # Take the source's row first: two removals at once each deleted the
    # articles (the second's deletes matched nothing) and wrote a second set of
    # tombstones, doubling every at:deleted-entry. A write that changes nothing
    # waits for the other removal's commit (a row lock; SQLite's write lock)
    # and then finds the row gone.
    sources: Table = Source.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
    claim = update(sources).where(sources.c.id == source.id).values(id=sources.c.id)
    if not session.execute(claim).rowcount:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        raise NotFound(f"No source with id {source.id}: it was removed meanwhile.")
    # The one deletion service: feed versions follow, and each feed the article
    # was in carries its tombstone (RFC 6721).
    removed = _in_batches(
        session, _aggregated(source.id), lambda a: delete_article(session, a, flush=False)
    )

    def detach(article: Article) -> None:
        article.source_id = None  # original_url stays: the page still links the original

    kept = _in_batches(session, _cited(source.id), detach)
    used = select(ArticleAuthor.author_id)
    for author in session.scalars(
        select(Author).where(Author.source_id == source.id, Author.id.not_in(used))
    ):
        session.delete(author)
    session.delete(source)
    session.flush()
    log.info("source removed source_id=%s articles=%d kept=%d", source.id, removed, kept)
    return removed
