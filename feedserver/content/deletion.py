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
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
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
    session: Session, article: Article, *, when: datetime | None = None
) -> ArticleTombstone:
    """Delete an article with its bylines and comments, keeping its tombstone.

    Flushes and never commits: the caller's transaction holds the deletion,
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
    session.flush()
    log.info(
        "article deleted article_id=%s entry_id=%s scopes=%s",
        tombstone.article_id, tombstone.entry_id, ",".join(s.scope_key for s in tombstone.scopes),
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


def upstream_tombstone_keys(refs: Iterable[str]) -> list[str]:
    """The de-duplication keys (Article.upstream_key) upstream tombstone refs name."""
    from feeds.model import UpstreamEntry
    from feedserver.aggregation.entries import entry_key

    keys = []
    for ref in refs:
        blank = UpstreamEntry(id=ref, link=None, title=None, summary_html=None, content_html=None)
        keys.append(entry_key(blank, ""))
    return keys


def apply_upstream_tombstones(
    session: Session,
    source_id: int,
    deleted: Iterable[tuple[str, datetime | None]],
    listed: Iterable[str] = (),
) -> int:
    """Delete the source's articles that upstream ``at:deleted-entry`` elements name.

    ``deleted`` holds (ref, when) pairs as feeds.upstream.tombstones reads
    them; a ref is the upstream entry id, matched against this source's
    de-duplication keys only. A ref we never stored is ignored, and so is
    one whose entry the same document still lists (``listed``: its keys) —
    we never delete what the publisher still shows. Returns how many
    articles were deleted.
    """
    refs = [ref for ref, _ in deleted]
    if not refs:
        return 0
    keys = set(upstream_tombstone_keys(refs)) - set(listed)
    if not keys:
        return 0
    articles = session.scalars(
        select(Article).where(Article.source_id == source_id, Article.upstream_key.in_(keys))
    ).all()
    for article in articles:
        delete_article(session, article)
    if articles:
        log.info("upstream tombstones applied source_id=%s deleted=%d", source_id, len(articles))
    return len(articles)
