"""Reading tombstones for feeds and pages: what is live, and when it expires.

A tombstone is live for ``FEEDSERVER_TOMBSTONE_DAYS`` after the deletion.
Feeds carry the live ones of their scope on page 1 only: page 1 is what
readers poll, RFC 6721 says nothing about paging, and an archive page
(RFC 5005) describes entries, not their removal — repeating every tombstone
on every page would only make each page longer.

Validators: a deletion bumps the scopes (models.scopes), so the feeds' ETag
and Last-Modified change at once. An expiry changes the body with no write
of its own, so the read path purges what has expired — bumping those scopes
— before it computes validators (:func:`expire_due`), and hands on when the
scope's next tombstone expires: it goes into the ETag seed and bounds how
long the fast path may keep the answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feeds import model as fm
from feedserver import urls
from feedserver.content.deletion import purge_tombstones
from feedserver.errors import Gone, NotFound
from feedserver.models import Article, ArticleTombstone, TombstoneScope, utcnow
from feedserver.stories import leads
from feedserver.web import get_or_404, valid_id

# At most this many tombstones in one feed document (the newest): a source
# removed with thousands of articles must not make the site feed megabytes.
MAX_PER_FEED = 100


def cutoff(now: datetime, days: int) -> datetime:
    """Tombstones deleted at or before this instant have expired."""
    return now - timedelta(days=days)


def feed_tombstones(
    session: Session, scope_key: str, now: datetime, days: int, base: str
) -> tuple[fm.Tombstone, ...]:
    """The scope's live tombstones, newest first, as feed data."""
    rows = session.execute(
        select(ArticleTombstone.entry_id, ArticleTombstone.deleted_at, ArticleTombstone.slug)
        .join(TombstoneScope, TombstoneScope.tombstone_id == ArticleTombstone.id)
        .where(
            TombstoneScope.scope_key == scope_key,
            TombstoneScope.deleted_at > cutoff(now, days),
        )
        .order_by(TombstoneScope.deleted_at.desc(), ArticleTombstone.id.desc())
        .limit(MAX_PER_FEED)
    )
    return tuple(
        fm.Tombstone(ref=ref, when=when, link=base + urls.article(slug)) for ref, when, slug in rows
    )


def expire_due(session: Session, scope_key: str, now: datetime, days: int) -> datetime | None:
    """Purge expired tombstones if the scope has one; return when its next one expires.

    One indexed read (the oldest tombstone of the scope) when nothing is due.
    A purge commits the session, so the caller reads the bumped scope state.
    """
    oldest = session.scalar(
        select(func.min(TombstoneScope.deleted_at)).where(TombstoneScope.scope_key == scope_key)
    )
    if oldest is None:
        return None
    if oldest <= cutoff(now, days):
        purge_tombstones(session, now, days)
        session.commit()
        oldest = session.scalar(
            select(func.min(TombstoneScope.deleted_at)).where(TombstoneScope.scope_key == scope_key)
        )
        if oldest is None:
            return None
    expires: datetime = oldest + timedelta(days=days)
    return expires


def live_tombstone(
    session: Session,
    now: datetime,
    days: int,
    *,
    slug: str | None = None,
    article_id: int | None = None,
) -> ArticleTombstone | None:
    """The newest live tombstone of the article with this slug or former id."""
    query = select(ArticleTombstone).where(ArticleTombstone.deleted_at > cutoff(now, days))
    if slug is not None:
        query = query.where(ArticleTombstone.slug == slug)
    if article_id is not None:
        query = query.where(ArticleTombstone.article_id == article_id)
    tombstone: ArticleTombstone | None = session.scalar(
        query.order_by(ArticleTombstone.deleted_at.desc()).limit(1)
    )
    return tombstone


def gone(tombstone: ArticleTombstone, what: str = "article") -> Gone:
    """The 410 Gone error for a deleted article (page, comment feed or API)."""
    when = tombstone.deleted_at
    title = f" “{tombstone.title}”" if tombstone.title else ""
    return Gone(
        f"The {what}{title} was deleted on {when.day} {when:%B %Y} and will not come back. "
        "Feeds that carried it now list it as deleted (RFC 6721).",
        deleted_at=when.isoformat().replace("+00:00", "Z"),
    )


def check_gone(
    session: Session,
    days: int,
    *,
    slug: str | None = None,
    article_id: int | None = None,
    what: str = "article",
) -> None:
    """Raise 410 Gone if the missing article has a live tombstone; else return."""
    tombstone = live_tombstone(session, utcnow(), days, slug=slug, article_id=article_id)
    if tombstone is not None:
        raise gone(tombstone, what)


def article_or_gone(session: Session, ident: int, days: int, *, for_write: bool = False) -> Article:
    """The article with this id: 410 Gone while a deleted one's tombstone is kept, else 404.

    One answer for one deleted article wherever it is named by id — the API,
    the admin's edit and delete, the CLI (INTERFACE §8). ``for_write``: it is
    about to be changed or deleted, so this waits for any other such change
    of it under way and reads what that left: of two deletions at once the
    second is a 410 (not a second tombstone), and edits and deletions take
    turns instead of deadlocking: each may move articles between stories and
    rewrite their lead flags (:func:`feedserver.stories.leads.one_writer`).
    """
    if for_write and valid_id(ident):
        leads.one_writer(session)
    try:
        article = get_or_404(session, Article, ident)
    except NotFound:
        if valid_id(ident):
            check_gone(session, days, article_id=ident)
        raise
    return article
