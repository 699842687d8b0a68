"""Slugs for aggregated articles and upstream authors (reads only; store.py writes).

Article slugs: the title's, or the title's with a stable suffix (a hash of
source and key) when taken; one query for every plain slug a batch wants.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Table, bindparam, select, union
from sqlalchemy.orm import Session

from feedserver.content.slugs import slugify
from feedserver.models import Article, ArticleTombstone

_ARTICLES: Table = Article.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_TOMBSTONES: Table = ArticleTombstone.__table__  # type: ignore[assignment]  # likewise
# A deleted article's address answers 410 while its tombstone is kept (README,
# Deletions): its slug is as taken as a live one's.
_SLUGS_TAKEN = union(
    select(_ARTICLES.c.slug).where(_ARTICLES.c.slug.in_(bindparam("slugs", expanding=True))),
    select(_TOMBSTONES.c.slug).where(_TOMBSTONES.c.slug.in_(bindparam("slugs", expanding=True))),
)
_SLUG_TAKEN = union(
    select(_ARTICLES.c.id).where(_ARTICLES.c.slug == bindparam("slug")),
    select(_TOMBSTONES.c.id).where(_TOMBSTONES.c.slug == bindparam("slug")),
)


class ArticleSlugs:
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
        return self.session.connection().execute(_SLUG_TAKEN, {"slug": slug}).first() is not None


def free_slugs(session: Session, model: Any, texts: list[str], fallback: str) -> list[str]:
    """Unused slugs for these texts: one query for the plain ones, "-2", "-3"… when taken."""
    bases = [slugify(text, max_length=100, fallback=fallback) for text in texts]
    table = model.__table__  # Core on the session's connection: no ORM query, no autoflush
    wanted = select(table.c.slug).where(table.c.slug.in_(set(bases)))
    taken = set(session.connection().execute(wanted).scalars())
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
