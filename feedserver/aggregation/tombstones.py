"""Honour upstream RFC 6721 tombstones, and keep deleted entries deleted.

One step of a refresh, run in its transaction before the entries are stored
(:func:`honour_tombstones`):

1. each ``at:deleted-entry`` the upstream document carries
   (``parsed.feed.deleted``, read by feeds.upstream.tombstones) whose ``ref``
   is the upstream id of an article of this source deletes that article
   through :func:`feedserver.content.deletion.delete_article` — so our own
   feeds carry a tombstone for it in turn. A ref we never stored is ignored;
   so is one whose entry the same document still lists (we never delete what
   the publisher still shows);
2. entries of this source that have a tombstone here (deleted by an admin, or
   by step 1 earlier) are not stored again while the tombstone is kept:
   otherwise the next poll would bring a deleted article back under a new id.

https://www.rfc-editor.org/rfc/rfc6721
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from urllib.parse import urljoin

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from feeds.model import UpstreamEntry
from feedserver.aggregation.entries import Parsed, entry_key
from feedserver.content.deletion import delete_article
from feedserver.models import Article, ArticleTombstone, Source

log = logging.getLogger(__name__)


def tombstone_keys(refs: Iterable[str], base: str | None = None) -> list[str]:
    """The de-duplication keys (Article.upstream_key) that upstream tombstone refs name.

    An entry id that is not an absolute URI ("item-42") was read resolved
    against the feed's address, as feedparser resolves ids: a ref such as
    that names the entry by either form, so both are keys.
    """
    keys = []
    for ref in refs:
        forms = [ref]
        if base and not _ABSOLUTE.match(ref):
            with suppress(ValueError):
                forms.append(urljoin(base, ref))
        for form in forms:
            # The same rule as for entries: an id is the key (hashed when too long).
            blank = UpstreamEntry(
                id=form, link=None, title=None, summary_html=None, content_html=None
            )
            keys.append(entry_key(blank, ""))
    return keys


_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a scheme: urn:, tag:, https:…


def apply_upstream_tombstones(
    session: Session,
    source_id: int,
    deleted: Iterable[tuple[str, datetime | None]],
    listed: Iterable[str] = (),
) -> int:
    """Delete the source's articles that upstream tombstones name; return how many."""
    base = session.scalar(select(Source.feed_url).where(Source.id == source_id))
    keys = set(tombstone_keys((ref for ref, _ in deleted), base)) - set(listed)
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


_TOMBSTONES: Table = ArticleTombstone.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
# Built once; run on the session's connection (no ORM, no autoflush: a
# refresh's pending source changes go in one UPDATE at commit).
_BURIED = select(_TOMBSTONES.c.upstream_key).where(
    _TOMBSTONES.c.source_id == bindparam("source_id"),
    _TOMBSTONES.c.upstream_key.in_(bindparam("keys", expanding=True)),
)
CHUNK = 500  # keys per IN (…) list


def honour_tombstones(session: Session, source_id: int, parsed: Parsed) -> Parsed:
    """Apply the document's tombstones; return ``parsed`` without entries deleted here."""
    listed = [incoming.key for incoming in parsed.entries]
    if parsed.feed.deleted:
        apply_upstream_tombstones(session, source_id, parsed.feed.deleted, listed)
        session.flush()  # the tombstones just made are read below
    if not listed:
        return parsed
    conn = session.connection()
    buried: set[str] = set()
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start : start + CHUNK]
        buried.update(conn.execute(_BURIED, {"source_id": source_id, "keys": chunk}).scalars())
    if not buried:
        return parsed
    log.info("deleted entries not stored again source_id=%s count=%d", source_id, len(buried))
    kept = tuple(incoming for incoming in parsed.entries if incoming.key not in buried)
    return replace(parsed, entries=kept)
