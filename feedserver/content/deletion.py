"""The one way an article is deleted: with an RFC 6721 tombstone.

The API, the admin, the CLI, source removal and upstream tombstones all call
:func:`delete_article`. It records what feed readers had seen of the article
(:class:`~feedserver.models.ArticleTombstone`: entry id, slug, title, the
deletion time, every scope it was in) and deletes the row through the ORM, so
the scope-version flush hook bumps exactly the feeds it was in — site,
section, each author, source — and its comment feed. Those feeds then carry
an ``at:deleted-entry`` (feedserver.publishing.tombstones), the page and the
comment feed answer 410 Gone, until the tombstone is older than
``FEEDSERVER_TOMBSTONE_DAYS``; :func:`purge_tombstones` then removes it and
bumps the same scopes again, so their validators change once more.

https://www.rfc-editor.org/rfc/rfc6721
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from feedserver.models import (
    Article,
    ArticleTombstone,
    TombstoneScope,
    utcnow,
)
from feedserver.models.scopes import SITE, author_key, bump_scopes, section_key, source_key

log = logging.getLogger(__name__)


def entry_id(article: Article) -> str:
    """The permanent id feeds give the article (Atom id, RSS guid, JSON id)."""
    return f"urn:uuid:{article.uid}"


def article_scopes(article: Article) -> list[str]:
    """The keys of every feed scope the article is in: site, section, authors, source."""
    keys = [SITE, section_key(article.section_id)]
    keys += [author_key(link.author_id) for link in article.bylines]
    keys.append(source_key(article.source_id))
    return list(dict.fromkeys(key for key in keys if key is not None))


def delete_article(
    session: Session, article: Article, *, when: datetime | None = None, flush: bool = True
) -> ArticleTombstone:
    """Delete an article with its bylines and comments, keeping its tombstone.

    Flushes (unless ``flush=False``: a caller deleting many flushes once per
    batch) and never commits: the caller's transaction holds the deletion,
    the tombstone and the scope bumps together.
    """
    deleted_at = when or utcnow()
    tombstone = ArticleTombstone(
        article_id=article.id,
        entry_id=entry_id(article),
        slug=article.slug,
        title=article.title,
        source_id=article.source_id,
        upstream_key=article.upstream_key,
        deleted_at=deleted_at,
    )
    tombstone.scopes = [
        TombstoneScope(scope_key=key, deleted_at=deleted_at) for key in article_scopes(article)
    ]
    session.add(tombstone)
    session.delete(article)
    if flush:
        session.flush()
    log.info(
        "article deleted article_id=%s entry_id=%s scopes=%s",
        article.id, tombstone.entry_id, ",".join(s.scope_key for s in tombstone.scopes),
    )  # fmt: skip
    return tombstone


def purge_tombstones(session: Session, now: datetime, days: int) -> int:
    """Remove tombstones older than ``days``; bump the feeds that carried them.

    Returns how many were removed. ``DELETE … RETURNING`` names exactly the
    scopes whose rows this transaction removed, so two processes purging at
    once do not both bump (the second deletes nothing).
    """
    cutoff = now - timedelta(days=days)
    keys = list(
        session.scalars(
            delete(TombstoneScope)
            .where(TombstoneScope.deleted_at <= cutoff)
            .returning(TombstoneScope.scope_key)
            .execution_options(synchronize_session=False)
        )
    )
    removed = len(
        session.scalars(
            delete(ArticleTombstone)
            .where(ArticleTombstone.deleted_at <= cutoff)
            .returning(ArticleTombstone.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    if keys:
        # The feeds lose an at:deleted-entry: a new representation, new validators.
        bump_scopes(session, dict.fromkeys(keys, 0))
    if removed:
        log.info("tombstones purged count=%d scopes=%d", removed, len(set(keys)))
    return removed
