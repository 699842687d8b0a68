"""Write one source's upstream entries as articles (inside the caller's transaction).

:func:`store_entries` reads the source's known keys and content hashes in one
query per 500 keys; unchanged entries are not touched (our feeds' validators
don't churn); only new or changed ones are prepared (sanitized). **New**
entries (the whole of a first poll) go in with Core ``INSERT … RETURNING`` (one
executemany each for articles, bylines, new authors), bypassing the ORM flush
hook, so :func:`~feedserver.models.scopes.bump_scopes` bumps the scopes the hook
would have (written, with every other bump, just before the commit);
**changed** ones go through the ORM, so the hook keeps ``updated_at``, bylines
and every scope as for any edit. Then the post-store hooks (:data:`POST_STORE`)
run in the same transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from feeds.errors import FeedError
from feedserver.aggregation.entries import (
    Incoming,
    Parsed,
    Prepared,
    instant,
    new_dates,
    prepare,
    stored_url,
)
from feedserver.aggregation.naming import ArticleSlugs, free_slugs
from feedserver.aggregation.tombstones import honour_tombstones
from feedserver.db import describe
from feedserver.models import Article, ArticleAuthor, Author, Source
from feedserver.models.scopes import SITE, bump_scopes, section_key, source_key
from feedserver.models.tombstones import new_article_ids
from feedserver.stories.grouping import store_new
from feedserver.stories.index import Entry

log = logging.getLogger(__name__)

CHUNK = 500  # keys per IN (…) list


class PrepareError(FeedError):
    """Preparing (sanitizing, cutting) upstream entries failed: a bug or hostile input."""

    stage = "prepare"


@dataclass(frozen=True, slots=True)
class Stored:
    """What :func:`store_entries` wrote: counts and the article ids touched, in feed order."""

    added: int = 0
    updated: int = 0
    article_ids: tuple[int, ...] = ()


PostStoreHook = Callable[[Session, Source, Parsed, Stored], None]
# Run in the refresh's transaction after its entries are written (story
# grouping, tombstones, …). A hook that raises rolls the refresh back: it is
# recorded as a failed refresh, with back-off.
POST_STORE: list[PostStoreHook] = []


def add_post_store_hook(hook: PostStoreHook) -> PostStoreHook:
    """Register a hook (usable as a decorator); registering twice is harmless."""
    if hook not in POST_STORE:
        POST_STORE.append(hook)
    return hook


# Core statements, built once (an ORM select or a fresh statement per call
# costs more than the query itself on a 20-entry feed).
_ARTICLES: Table = Article.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_AUTHORS: Table = Author.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_KNOWN = select(_ARTICLES.c.upstream_key, _ARTICLES.c.id, _ARTICLES.c.content_hash).where(
    _ARTICLES.c.source_id == bindparam("source_id"),
    _ARTICLES.c.upstream_key.in_(bindparam("keys", expanding=True)),
)
_INSERT_ARTICLES = insert(_ARTICLES).returning(_ARTICLES.c.id, sort_by_parameter_order=True)
_INSERT_BYLINES = insert(ArticleAuthor.__table__)  # type: ignore[arg-type]  # declarative __table__ is typed as a FromClause
_INSERT_AUTHORS = insert(_AUTHORS).returning(_AUTHORS.c.id, sort_by_parameter_order=True)
_AUTHORS_BY_NAME = select(_AUTHORS.c.name, _AUTHORS.c.id).where(
    _AUTHORS.c.source_id == bindparam("source_id"),
    _AUTHORS.c.name.in_(bindparam("names", expanding=True)),
)


def store_entries(
    session: Session,
    source: Source,
    parsed: Parsed,
    *,
    now: datetime | None = None,
    careful: bool = False,
) -> Stored:
    """Write a source's parsed entries (new in bulk, changed in place), then the hooks.

    First the document's RFC 6721 tombstones are honoured (matching articles are
    deleted through the one deletion service) and entries whose tombstone we
    keep are left out (feedserver.aggregation.tombstones) — for polls and pushes alike.
    """
    now = now or datetime.now(UTC)
    parsed = honour_tombstones(session, source.id, parsed)
    # The source's pending changes (identity, health) need not reach the
    # database before our reads: they go in one UPDATE at commit, not one
    # more per refresh at the first query (profile: 2 flushes a refresh → 1).
    with session.no_autoflush:
        stored = _write_entries(session, source, parsed, now, careful)
    for hook in POST_STORE:
        hook(session, source, parsed, stored)
    return stored


def _write_entries(
    session: Session, source: Source, parsed: Parsed, now: datetime, careful: bool
) -> Stored:
    if not parsed.entries:
        return Stored()
    keys = [item.key for item in parsed.entries]
    known: dict[str, tuple[int, Any]] = {}
    conn = session.connection()
    for start in range(0, len(keys), CHUNK):
        rows = conn.execute(_KNOWN, {"source_id": source.id, "keys": keys[start : start + CHUNK]})
        known.update({key: (ident, digest) for key, ident, digest in rows})
    if known or parsed.prepared is None:  # a first poll (prepared) has no article to match
        known.update(_rekeyed(conn, source.id, parsed.entries, known))
    todo = [
        (position, item)
        for position, item in enumerate(parsed.entries)
        if item.key not in known or known[item.key][1] != item.hash
    ]
    if not todo:
        return Stored()
    base = source.home_url or source.feed_url
    try:
        # A first poll's entries come prepared (entries.parse_prepared, outside the lock).
        rows_ = parsed.rows(todo, base)
        if rows_ is None:
            rows_ = prepare(todo, base)
    except Exception as exc:  # hostile input met a bug: one source's error, not the pass's
        raise PrepareError(source.feed_url or str(source.id), describe(exc)) from exc
    authors = _Authors(session, source, rows_)
    fresh = [r for r in rows_ if r.key not in known]
    edited = [r for r in rows_ if r.key in known]
    ids: dict[str, int] = {}
    if edited:
        _update(session, source, edited, known, authors, now)
        session.flush()  # the Core statements below see these rows (byline counts)
        ids.update({r.key: known[r.key][0] for r in edited})
    if fresh:
        ids.update(_insert(session, source, fresh, authors, now, careful))
    order = tuple(ids[r.key] for r in sorted(rows_, key=lambda r: r.position))
    return Stored(len(fresh), len(edited), order)


_BY_LINK = select(
    _ARTICLES.c.original_url, _ARTICLES.c.id, _ARTICLES.c.upstream_key, _ARTICLES.c.content_hash
).where(
    _ARTICLES.c.source_id == bindparam("source_id"),
    _ARTICLES.c.original_url.in_(bindparam("links", expanding=True)),
    _ARTICLES.c.upstream_key.is_not(None),  # the newsroom's own articles citing it: never
)
_REKEY = (
    update(_ARTICLES)
    .where(_ARTICLES.c.id == bindparam("ident"))
    .values(upstream_key=bindparam("new_key"))
)


def _rekeyed(
    conn: Any, source_id: int, entries: Sequence[Incoming], known: Mapping[str, Any]
) -> dict[str, tuple[int, Any]]:
    """Entries whose id changed upstream but not their link: {new key: (article id, hash)}.

    Feeds rewrite their guids (http → https, a new CMS), and each entry then
    came back as a second article. An unknown entry is taken for the article
    of this source with the same link when that link is the entry's alone in
    the document, no other article of the source has it, and that article's
    own key has left the document; the article takes the new key (it is then
    updated in place, its content hash having changed with the id). Feeds
    whose items all link one page match nothing here.
    """
    links: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for item in entries:
        link = stored_url(item.entry.link)
        if link is not None:
            seen[link] += 1
            if item.key not in known:
                links[link] = item.key
    wanted = [link for link in links if seen[link] == 1]
    if not wanted:
        return {}
    keys = {item.key for item in entries}
    found: dict[str, list[tuple[int, str, Any]]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            _BY_LINK, {"source_id": source_id, "links": wanted[start : start + CHUNK]}
        )
        for link, ident, key, digest in rows:
            found.setdefault(link, []).append((ident, key, digest))
    moved: dict[str, tuple[int, Any]] = {}
    for link, matches in found.items():
        if len(matches) == 1 and matches[0][1] not in keys:
            ident, _old, digest = matches[0]
            moved[links[link]] = (ident, digest)
    if moved:
        conn.execute(_REKEY, [{"ident": i, "new_key": k} for k, (i, _) in moved.items()])
    return moved


def _insert(
    session: Session,
    source: Source,
    rows: list[Prepared],
    authors: _Authors,
    now: datetime,
    careful: bool,
) -> dict[str, int]:
    """Insert new articles and their bylines (Core), bump their scopes; {key: id}."""
    slugs = ArticleSlugs(session, source.id, careful, [r.title for r in rows])
    values = []
    published_at: list[datetime] = []
    for row in rows:
        published, updated = new_dates(row, now, source.id)
        published_at.append(published)
        values.append(
            {
                "slug": slugs.new(row.title, row.key),
                "source_id": source.id,
                "section_id": source.section_id,
                "upstream_key": row.key,
                "content_hash": row.hash,
                "title": row.title,
                "summary": row.summary,
                "body_html": row.body_html,
                "original_url": row.original_url,
                "published_at": published,
                "updated_at": updated,
                "created_at": now,
            }
        )
    conn = session.connection()  # Core: no ORM bookkeeping, no autoflush
    fresh = new_article_ids(conn, len(values))  # SQLite: never a deleted article's id
    if fresh is not None:
        for value, ident in zip(values, fresh, strict=True):
            value["id"] = ident
    ids = list(conn.execute(_INSERT_ARTICLES, values).scalars())
    bylines = [
        {
            "article_id": ident,
            "author_id": authors.ids[name],
            "position": position,
            "published_at": value["published_at"],
        }
        for ident, row, value in zip(ids, rows, values, strict=True)
        for position, (name, _url) in enumerate(row.authors)
    ]
    if bylines:
        conn.execute(_INSERT_BYLINES, bylines)
    n = len(rows)
    bump_scopes(
        session,
        {SITE: n, section_key(source.section_id): n, source_key(source.id): n},
        {b["author_id"] for b in bylines},
    )
    # The ORM hook does not see Core inserts: group these here (INTERFACE §10).
    entries: list[tuple[Entry, list[str]]] | None = None
    if all(row.story_doc is not None and row.story_terms is not None for row in rows):
        # worked out with the parse (a first poll), outside the write lock
        entries = [
            (Entry(ident, source.id, published, None, False, doc), list(terms))
            for ident, published, row in zip(ids, published_at, rows, strict=True)
            if (doc := row.story_doc) is not None and (terms := row.story_terms) is not None
        ]
    store_new(session, ids, entries)
    return {row.key: ident for row, ident in zip(rows, ids, strict=True)}


def _update(
    session: Session,
    source: Source,
    rows: list[Prepared],
    known: Mapping[str, tuple[int, Any]],
    authors: _Authors,
    now: datetime,
) -> None:
    """Update changed articles in place through the ORM (the flush hook bumps their scopes)."""
    wanted = [known[r.key][0] for r in rows]
    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(wanted)))}
    people = authors.objects({name for r in rows for name, _ in r.authors})
    for row in rows:
        article = articles[known[row.key][0]]
        published = instant(row.published, now, row.key, source.id)
        if published is not None:
            article.published_at = published
        article.updated_at = instant(row.updated, now, row.key, source.id) or (
            now - timedelta(microseconds=row.position)
        )
        article.title = row.title
        article.summary = row.summary
        article.body_html = row.body_html
        article.original_url = row.original_url
        article.section_id = source.section_id
        article.content_hash = row.hash
        article.updated_at = max(article.updated_at, article.published_at)
        article.set_authors([people[name] for name, _ in row.authors])


class _Authors:
    """The upstream authors of one source by name: found (one query) or inserted (one)."""

    def __init__(self, session: Session, source: Source, rows: list[Prepared]) -> None:
        self.session = session
        urls: dict[str, str | None] = {}
        for row in rows:
            for name, url in row.authors:
                urls.setdefault(name, url)
        self.ids: dict[str, int] = {}
        if not urls:
            return
        conn = session.connection()
        found = conn.execute(_AUTHORS_BY_NAME, {"source_id": source.id, "names": list(urls)})
        self.ids = {name: ident for name, ident in found}
        new = [name for name in urls if name not in self.ids]
        if new:
            slugs = free_slugs(session, Author, [f"{name} {source.slug}" for name in new], "author")
            values = [
                {"slug": slug, "name": name, "source_id": source.id, "url": urls[name], "bio": ""}
                for name, slug in zip(new, slugs, strict=True)
            ]
            ids = conn.execute(_INSERT_AUTHORS, values).scalars()
            self.ids.update(zip(new, ids, strict=True))

    def objects(self, names: set[str]) -> dict[str, Author]:
        """The Author objects of these names (for the ORM's bylines)."""
        wanted = [self.ids[name] for name in names]
        if not wanted:
            return {}
        found = self.session.scalars(select(Author).where(Author.id.in_(wanted)))
        return {a.name: a for a in found}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
