"""Write upstream entries as articles: new ones in bulk, changed ones in place.

Called inside the refresh's one transaction (:func:`feedserver.aggregation.refresh.store`):

- the source's known keys and content hashes are read in one query per 500
  keys; entries whose hash is unchanged are not touched (our feeds' validators
  don't churn);
- **new** entries — the whole of a first poll — are inserted with Core
  ``INSERT … RETURNING`` (one executemany for the articles, one for their
  bylines, one for new upstream authors). That bypasses the ORM flush hook, so
  :func:`~feedserver.models.scopes.bump_scopes` bumps the scopes the hook
  would have (site, section, source +n items; each author recounted);
- **changed** entries go through the ORM, so the hook keeps ``updated_at``,
  bylines and every scope (comments feeds included) as for any other edit.

Slugs: one query for every plain slug the batch wants; a taken one gets a
stable suffix (a hash of source and key), checked one by one (rare).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from feedserver.aggregation.entries import Incoming, Parsed, Prepared, prepare
from feedserver.content.slugs import slugify
from feedserver.models import Article, ArticleAuthor, Author, Source
from feedserver.models.scopes import SITE, bump_scopes, section_key, source_key
from feedserver.stories.grouping import group_new

CHUNK = 500  # keys per IN (…) list

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
_SLUGS_TAKEN = select(_ARTICLES.c.slug).where(
    _ARTICLES.c.slug.in_(bindparam("slugs", expanding=True))
)


def fallback_base(source: Source) -> str | None:
    """What relative links resolve against when an entry gives no base and no link."""
    return source.home_url or source.feed_url


def known_entries(session: Session, source_id: int, keys: list[str]) -> dict[str, tuple[int, Any]]:
    """{upstream key: (article id, content hash)} of the keys this source already has."""
    known: dict[str, tuple[int, Any]] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.connection().execute(
            _KNOWN, {"source_id": source_id, "keys": keys[start : start + CHUNK]}
        )
        known.update({key: (ident, digest) for key, ident, digest in rows})
    return known


def to_write(parsed: Parsed, known: Mapping[str, tuple[int, Any]]) -> list[tuple[int, Incoming]]:
    """(feed position, entry) of the entries that are new or changed."""
    return [
        (position, item)
        for position, item in enumerate(parsed.entries)
        if item.key not in known or known[item.key][1] != item.hash
    ]


def upsert_entries(
    session: Session,
    source: Source,
    parsed: Parsed,
    now: datetime,
    *,
    careful: bool = False,
) -> tuple[int, int]:
    """Insert new entries and update changed ones; return (added, updated)."""
    if not parsed.entries:
        return 0, 0
    known = known_entries(session, source.id, [i.key for i in parsed.entries])
    todo = to_write(parsed, known)
    if not todo:
        return 0, 0
    rows = prepare(todo, fallback_base(source))
    authors = _Authors(session, source, rows)
    fresh = [r for r in rows if r.key not in known]
    edited = [r for r in rows if r.key in known]
    if edited:
        _update(session, source, edited, known, authors, now)
        session.flush()  # the Core statements below see these rows (byline counts)
    if fresh:
        _insert(session, source, fresh, authors, now, careful)
    return len(fresh), len(edited)


def _insert(
    session: Session,
    source: Source,
    rows: list[Prepared],
    authors: _Authors,
    now: datetime,
    careful: bool,
) -> None:
    """Insert new articles and their bylines (Core), then bump their scopes."""
    slugs = _Slugs(session, source.id, careful, [r.title for r in rows])
    values = []
    for row in rows:
        published, updated = _dates(row, now, source.id)
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
        authors={b["author_id"] for b in bylines},
    )
    # The ORM hook does not see Core inserts: group these here (INTERFACE §10).
    group_new(session, ids)


def _update(
    session: Session,
    source: Source,
    rows: list[Prepared],
    known: Mapping[str, tuple[int, Any]],
    authors: _Authors,
    now: datetime,
) -> None:
    """Update changed articles in place through the ORM (the flush hook bumps their scopes)."""
    articles = {
        a.id: a
        for a in session.scalars(
            select(Article).where(Article.id.in_([known[r.key][0] for r in rows]))
        )
    }
    people = authors.objects({name for r in rows for name, _ in r.authors})
    for row in rows:
        article = articles[known[row.key][0]]
        if row.published is not None:
            article.published_at = _instant(row.published, now, row.key, source.id)
        article.updated_at = (
            _instant(row.updated, now, row.key, source.id)
            if row.updated
            else now - timedelta(microseconds=row.position)
        )
        article.title = row.title
        article.summary = row.summary
        article.body_html = row.body_html
        article.original_url = row.original_url
        article.section_id = source.section_id
        article.content_hash = row.hash
        article.updated_at = max(article.updated_at, article.published_at)
        article.set_authors([people[name] for name, _ in row.authors])


def _dates(row: Prepared, now: datetime, source_id: int) -> tuple[datetime, datetime]:
    """(published, updated) of a new article.

    Feeds list newest first: an undated entry further down gets an earlier
    first-seen instant, so the feed order survives and no two are equal.
    """
    seen = now - timedelta(microseconds=row.position)
    published = _instant(row.published or row.updated, now, row.key, source_id) or seen
    updated = _instant(row.updated, now, row.key, source_id) or published
    return published, max(updated, published)


def _instant(moment: datetime | None, now: datetime, key: str, source_id: int) -> Any:
    """A stored instant: future clamped to now; whole seconds get a stable sub-second part."""
    if moment is None:
        return None
    moment = min(moment.astimezone(UTC), now)
    if moment.microsecond == 0 and moment != now:
        # Upstream dates have second precision; two entries of one second
        # would share an Atom <updated>. A stable fraction keeps them apart.
        digest = hashlib.blake2b(f"{source_id}:{key}".encode(), digest_size=4).digest()
        moment = moment.replace(microsecond=1 + int.from_bytes(digest, "big") % 999_998)
        moment = min(moment, now)
    return moment


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


class _Slugs:
    """Article slugs: the title's, or the title's with a stable suffix when taken."""

    def __init__(self, session: Session, source_id: int, careful: bool, titles: list[str]) -> None:
        self.session = session
        self.source_id = source_id
        self.careful = careful
        self.used: set[str] = set()
        bases = {slugify(t, max_length=100, fallback="article") for t in titles}
        # One query for every plain slug this batch may want.
        taken = session.connection().execute(_SLUGS_TAKEN, {"slugs": list(bases)}).scalars()
        self.taken = set(taken)

    def new(self, title: str, key: str) -> str:
        base = slugify(title, max_length=100, fallback="article")
        slug = base
        if self.careful or slug in self.used or slug in self.taken:
            digest = hashlib.blake2b(f"{self.source_id}:{key}".encode(), digest_size=5)
            slug = f"{base}-{digest.hexdigest()}"
            n = 2
            while slug in self.used or self._taken(slug):
                slug = f"{base}-{digest.hexdigest()}-{n}"
                n += 1
        self.used.add(slug)
        return slug

    def _taken(self, slug: str) -> bool:
        return self.session.scalar(select(Article.id).where(Article.slug == slug)) is not None


def free_slugs(session: Session, model: Any, texts: list[str], fallback: str) -> list[str]:
    """Unused slugs for these texts: one query for the plain ones, "-2", "-3"… when taken."""
    bases = [slugify(text, max_length=100, fallback=fallback) for text in texts]
    taken = set(session.scalars(select(model.slug).where(model.slug.in_(set(bases)))))
    used: set[str] = set()
    slugs = []
    for base in bases:
        slug, n = base, 2
        while slug in used or slug in taken:
            slug, n = f"{base}-{n}", n + 1
            if slug not in used and session.scalar(select(model.id).where(model.slug == slug)):
                taken.add(slug)
        used.add(slug)
        slugs.append(slug)
    return slugs
