"""The candidate index: what grouping keeps of each article, and how it finds candidates.

Each grouped article has a few significant words in ``story_terms`` (with
its publication time) and its comparison features in ``story_entries``. A
new article's candidates are the articles of ±72 hours filed under its
words: one range scan of ``ix_story_terms_term_published`` per word, each
cut at :data:`PER_TERM` rows (the nearest in time first), so a word common
in a busy window costs no more than a rare one; of those, the
:data:`CANDIDATES` that share the most words (at least :data:`MIN_SHARED`)
are read with their features (no text processing) in the same statement. Neither the archive's size nor
the window's density changes what one article costs.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from feedserver.models.content import Article
from feedserver.models.stories import StoryEntry, StoryTerm
from feedserver.stories.similarity import (
    BODY_CHARS,
    FEATURES_VERSION,
    Document,
    decode,
    document,
    encode,
    plain_text,
    remember,
)

WINDOW = timedelta(hours=72)
CANDIDATES = 40  # articles of the window scored against a new one
PER_TERM = 100  # index rows read per word: a common word's nearest only
# Candidates share at least this many index words: every same-story pair of
# the labelled set shares two or more (bench/story_quality.py), while most
# articles of a window that share one word with a new one are about
# something else, and scoring them is most of the cost.
MIN_SHARED = 2

_ARTICLES: Table = Article.__table__  # type: ignore[assignment]
_TERMS: Table = StoryTerm.__table__  # type: ignore[assignment]
_ENTRIES: Table = StoryEntry.__table__  # type: ignore[assignment]

# The text is read only where no current features are stored (articles
# stored before story_entries, or after a change of the features' format).
_STALE = or_(
    _ENTRIES.c.features.is_(None),
    func.substr(_ENTRIES.c.features, 1, len(FEATURES_VERSION) + 1) != FEATURES_VERSION + "\t",
)
_READ = (
    select(
        _ARTICLES.c.id,
        _ARTICLES.c.source_id,
        _ARTICLES.c.published_at,
        _ARTICLES.c.story_id,
        _ENTRIES.c.features,
        _ENTRIES.c.pinned,
        case((_STALE, _ARTICLES.c.title), else_=None).label("title"),
        case((_STALE, _ARTICLES.c.summary), else_=None).label("summary"),
        case((_STALE, func.substr(_ARTICLES.c.body_html, 1, BODY_CHARS)), else_=None).label("body"),
    )
    .select_from(_ARTICLES)
    .outerjoin(_ENTRIES, _ENTRIES.c.article_id == _ARTICLES.c.id)
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One article as grouping sees it."""

    id: int
    source_id: int | None
    published_at: datetime
    story_id: int | None
    pinned: bool
    doc: Document


@dataclass(frozen=True, slots=True)
class Candidate:
    """An article of the window, as scored against a new one (no dates to parse)."""

    id: int
    source_id: int | None
    story_id: int | None
    doc: Document


def _entry(found: Any, *, fresh: bool = False) -> Entry:
    doc = None if fresh else decode(found.features)
    if doc is None:
        doc = document(found.title or "", plain_text(found.summary, found.body))
    return Entry(
        id=found.id,
        source_id=found.source_id,
        published_at=found.published_at,
        story_id=found.story_id,
        pinned=bool(found.pinned),
        doc=doc,
    )


def read(session: Session, ids: Collection[int], *, fresh: bool = False) -> list[Entry]:
    """These articles, earliest first; ``fresh``: documents from their text as it is now."""
    if not ids:
        return []
    stmt = _READ.where(_ARTICLES.c.id.in_(list(ids))).order_by(
        _ARTICLES.c.published_at, _ARTICLES.c.id
    )
    if fresh:
        stmt = stmt.with_only_columns(
            *[c for c in stmt.selected_columns if c.name not in ("title", "summary", "body")],
            _ARTICLES.c.title,
            _ARTICLES.c.summary,
            func.substr(_ARTICLES.c.body_html, 1, BODY_CHARS).label("body"),
        )
    return [_entry(found, fresh=fresh) for found in session.connection().execute(stmt)]


def file_new(session: Session, filed: Sequence[tuple[Entry, list[str]]]) -> None:
    """Store new articles' index words and features: two statements for all of them."""
    if not filed:
        return
    conn = session.connection()
    # A first poll files a dozen words per article, thousands of rows: sent
    # as the driver's own executemany, each article's time converted once
    # (through the column's type, as SQLAlchemy would per row).
    bind = _published_bind(conn.dialect)
    rows: list[tuple[int, str, Any]] = []
    for entry, terms in filed:
        published = bind(entry.published_at)
        rows.extend((entry.id, term, published) for term in terms)
    if rows:
        qmark = conn.dialect.paramstyle == "qmark"
        conn.exec_driver_sql(_INSERT_TERMS_QMARK if qmark else _INSERT_TERMS_FORMAT, rows)
    values = []
    for entry, terms in filed:
        features = encode(entry.doc)
        remember(features, entry.doc, terms)  # grouping reads it back soon
        values.append({"article_id": entry.id, "features": features, "pinned": False})
    conn.execute(insert(_ENTRIES), values)


_INSERT_TERMS_QMARK = "INSERT INTO story_terms (article_id, term, published_at) VALUES (?, ?, ?)"
_INSERT_TERMS_FORMAT = (
    "INSERT INTO story_terms (article_id, term, published_at) VALUES (%s, %s, %s)"
)


@functools.cache
def _published_bind(dialect: Dialect) -> Callable[[datetime], Any]:
    """``story_terms.published_at``'s conversion of a value for this dialect's driver."""
    process = _TERMS.c.published_at.type.bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def file(session: Session, entry: Entry, terms: list[str], *, again: bool = False) -> None:
    """Store the article's index words and features; ``again``: replace what it had."""
    conn = session.connection()
    if again:
        conn.execute(delete(_TERMS).where(_TERMS.c.article_id == entry.id))
    if terms:
        conn.execute(
            insert(_TERMS),
            [
                {"article_id": entry.id, "term": t, "published_at": entry.published_at}
                for t in terms
            ],
        )
    features = encode(entry.doc)
    if again:
        done = conn.execute(
            update(_ENTRIES).where(_ENTRIES.c.article_id == entry.id).values(features=features)
        )
        if done.rowcount:
            return
    conn.execute(insert(_ENTRIES).values(article_id=entry.id, features=features, pinned=False))


@functools.cache
def _candidates_statement(words: int) -> Select[Any]:
    """The candidate query for an article filed under ``words`` words (built once per count)."""
    per_term = [
        select(_TERMS.c.article_id)
        .where(
            _TERMS.c.term == bindparam(f"t{i}"),
            _TERMS.c.published_at.between(bindparam("low"), bindparam("high")),
        )
        .order_by(_TERMS.c.published_at.desc())
        .limit(PER_TERM)
        .subquery()
        for i in range(words)
    ]
    hits = union_all(*(select(sub.c.article_id) for sub in per_term)).subquery("hits")
    best = (
        select(hits.c.article_id)
        .where(hits.c.article_id.not_in(bindparam("skip", expanding=True)))
        .group_by(hits.c.article_id)
        .having(func.count() >= bindparam("shared"))
        .order_by(func.count().desc(), hits.c.article_id.desc())
        .limit(CANDIDATES)
        .subquery("best")
    )
    wanted = [c for c in _READ.selected_columns if c.name not in ("published_at", "pinned")]
    return _READ.with_only_columns(*wanted).join(best, best.c.article_id == _ARTICLES.c.id)


def _candidate(row: Any) -> Candidate:
    return Candidate(
        id=row.id,
        source_id=row.source_id,
        story_id=row.story_id,
        doc=decode(row.features) or document(row.title or "", plain_text(row.summary, row.body)),
    )


def candidates(
    session: Session, entry: Entry, terms: list[str], skip: Collection[int] = ()
) -> list[Candidate]:
    """The articles of the window that share the most index words with ``entry``.

    ``skip``: articles not to consider (besides ``entry`` itself) — its
    siblings of the same source, filed in the same batch, which could never
    join it and must not crowd out those that could.
    """
    if not terms:
        return []
    params: dict[str, Any] = {f"t{i}": term for i, term in enumerate(terms)}
    params.update(
        low=entry.published_at - WINDOW,
        high=entry.published_at + WINDOW,
        skip=[entry.id, *skip],
        shared=min(MIN_SHARED, len(terms)),
    )
    found = session.connection().execute(_candidates_statement(len(terms)), params)
    return [_candidate(row) for row in found]


_CHUNK = 500  # bound parameters per IN list


class Window:
    """The candidate index of a batch of new articles, read once and kept in memory.

    :meth:`ids` gives exactly what :func:`candidates`' statement selects
    (per word the :data:`PER_TERM` latest rows of the article's ±72 hours,
    then the :data:`CANDIDATES` sharing the most words), but a batch of
    thousands of articles costs one range read of their words instead of a
    statement each. For batches whose articles are all filed already (the
    queue): what each may see is decided by ``skip``, as in the statement.
    """

    def __init__(self, session: Session, filed: Sequence[tuple[Entry, list[str]]]) -> None:
        # Times as POSIX seconds computed by the database: a float per row
        # instead of a datetime built in Python (most of the read's cost).
        self._times: dict[str, list[float]] = {}  # per word, ascending
        self._ids: dict[str, list[int]] = {}  # the article of each of those times
        if not filed:
            return
        words = sorted({t for _, terms in filed for t in terms})
        low = min(e.published_at for e, _ in filed) - WINDOW
        high = max(e.published_at for e, _ in filed) + WINDOW
        conn = session.connection()
        sql = _WINDOW_SQL[conn.dialect.name]
        bind = _published_bind(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # a live connection has one
        try:
            for start in range(0, len(words), _CHUNK):
                chunk = words[start : start + _CHUNK]
                # The driver's own cursor: tens of thousands of plain tuples a
                # batch, without a Row object each (a third of the read's cost).
                # Sorted by the database, each word's rows arrive together and
                # in order: no sort and no per-row Python beyond two list builds.
                marks = ", ".join([_MARK[conn.dialect.paramstyle]] * len(chunk))
                cursor.execute(sql.format(marks=marks), (*chunk, bind(low), bind(high)))
                for term, group in itertools.groupby(cursor.fetchall(), key=_FIRST):
                    rows = list(group)
                    self._times[term] = [row[1] for row in rows]
                    self._ids[term] = [row[2] for row in rows]
        finally:
            cursor.close()

    def ids(self, entry: Entry, terms: list[str], skip: Collection[int] = ()) -> list[int]:
        """The ids :func:`candidates` would return for ``entry``, best first."""
        if not terms:
            return []
        at = entry.published_at.timestamp()
        low, high = at - _WINDOW_SECONDS, at + _WINDOW_SECONDS
        shared: dict[int, int] = {}
        for term in terms:
            times = self._times.get(term)
            if not times:
                continue
            end = bisect.bisect_right(times, high)
            start = max(bisect.bisect_left(times, low), end - PER_TERM)
            for article_id in self._ids[term][start:end]:
                shared[article_id] = shared.get(article_id, 0) + 1
        least = min(MIN_SHARED, len(terms))
        left_out = {entry.id, *skip}
        best = sorted(
            ((n, ident) for ident, n in shared.items() if n >= least and ident not in left_out),
            reverse=True,
        )
        return [ident for _, ident in best[:CANDIDATES]]


_WINDOW_SECONDS = WINDOW.total_seconds()
_FIRST = operator.itemgetter(0)


# The window's read per dialect, its time as POSIX seconds (a float) computed
# by the database: SQLite stores ISO 8601 text in UTC.
_WINDOW_SQL = {
    dialect: (
        f"SELECT term, {seconds}, article_id FROM story_terms"  # noqa: S608 - constants; values are bound
        " WHERE term IN ({marks}) AND published_at BETWEEN {mark} AND {mark}"
        " ORDER BY 1, 2, 3"
    ).replace("{mark}", mark)
    for dialect, seconds, mark in (
        ("sqlite", "(julianday(published_at) - 2440587.5) * 86400.0", "?"),
        ("postgresql", "CAST(EXTRACT(epoch FROM published_at) AS DOUBLE PRECISION)", "%s"),
    )
}
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def details(session: Session, ids: Collection[int]) -> dict[int, Candidate]:
    """These articles as candidates (source, story, features): one statement per 500."""
    wanted = sorted(set(ids))
    columns = [c for c in _READ.selected_columns if c.name not in ("published_at", "pinned")]
    found: dict[int, Candidate] = {}
    conn = session.connection()
    for start in range(0, len(wanted), _CHUNK):
        stmt = _READ.with_only_columns(*columns).where(
            _ARTICLES.c.id.in_(wanted[start : start + _CHUNK])
        )
        for row in conn.execute(stmt):
            found[row.id] = _candidate(row)
    return found
