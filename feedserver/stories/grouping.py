"""Group new articles into stories, in the transaction that stores them.

Incremental and bounded: a new article's significant words go into
``story_terms``; its candidates are the articles of ±72 hours filed under
the same words (one range scan of ``ix_story_terms_term_published`` per
word), at most :data:`CANDIDATES` of them, scored with
:func:`feedserver.stories.similarity.similarity`. The archive is never read.

Rules (INTERFACE §10):

- articles of one source never share a story (the newsroom's own, with no
  source, count as one source), so "Live: results, 9pm" and "…, 10pm" stay
  apart however alike they are;
- only the new article moves: it joins the story of its best match, or
  forms one with it. Existing articles are never regrouped, so what an
  admin split or merged (:mod:`feedserver.stories.curation`) stays so;
- each story's lead is its earliest article: the site listing folds the
  others away (``story_hidden``), a section listing folds all but the
  earliest member in that section (``story_section_hidden``). The scope rows
  count only what listings show, and every scope whose feed credits the
  story is bumped when its membership changes, so feed validators change.

Two ways in: ORM writes (API, admin, demo) through the session hook
installed by :func:`install_hooks`; Core bulk inserts (the poller's store)
call :func:`group_new` with the ids they inserted.
"""

from __future__ import annotations

import html
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, event, func, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from feedserver.models.base import utcnow
from feedserver.models.content import Article
from feedserver.models.scopes import SITE, bump_scopes, section_key
from feedserver.models.stories import Story, StoryTerm
from feedserver.stories.similarity import THRESHOLD, Document, document, index_terms, similarity

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=72)
CANDIDATES = 40  # best-sharing articles of the window that are scored
INFO_KEY = "feedserver_stories"  # Session.info: False turns grouping off
TEXT_CHARS = 2000  # of a body, when an article has no summary

_ARTICLES: Table = Article.__table__  # type: ignore[assignment]
_TERMS: Table = StoryTerm.__table__  # type: ignore[assignment]
_STORIES: Table = Story.__table__  # type: ignore[assignment]
_TAG = re.compile(r"<[^>]*>")

_READ = select(
    _ARTICLES.c.id,
    _ARTICLES.c.title,
    _ARTICLES.c.summary,
    func.substr(_ARTICLES.c.body_html, 1, TEXT_CHARS).label("body"),
    _ARTICLES.c.source_id,
    _ARTICLES.c.published_at,
    _ARTICLES.c.story_id,
)
_INSERT_TERMS = insert(_TERMS)
_FLAGS = (
    update(_ARTICLES)
    .where(_ARTICLES.c.id == bindparam("ident"))
    .values(
        story_id=bindparam("story"),
        story_hidden=bindparam("hidden"),
        story_section_hidden=bindparam("section_hidden"),
    )
)


def enabled(session: Session) -> bool:
    """Whether this session groups new articles (FEEDSERVER_STORIES)."""
    return bool(session.info.get(INFO_KEY, True))


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    source_id: int | None
    published_at: datetime
    story_id: int | None
    doc: Document


def plain_text(summary: str | None, body_html: str | None) -> str:
    """The text an article is compared by: its summary, else its body without tags."""
    if summary and summary.strip():
        return summary
    return html.unescape(_TAG.sub(" ", body_html or ""))


def _row(found: Any) -> _Row:
    return _Row(
        id=found.id,
        source_id=found.source_id,
        published_at=found.published_at,
        story_id=found.story_id,
        doc=document(found.title or "", plain_text(found.summary, found.body)),
    )


def group_new(session: Session, ids: Collection[int]) -> set[int]:
    """File new articles in the index and join each to its story; return the stories changed."""
    if not ids or not enabled(session):
        return set()
    conn = session.connection()
    rows = [
        _row(found)
        for found in conn.execute(
            _READ.where(_ARTICLES.c.id.in_(list(ids)), _ARTICLES.c.story_id.is_(None)).order_by(
                _ARTICLES.c.published_at, _ARTICLES.c.id
            )
        )
    ]
    changed: set[int] = set()
    # One at a time, so articles stored together can join one another.
    for row in rows:
        terms = index_terms(row.doc)
        if not terms:
            continue
        conn.execute(
            _INSERT_TERMS,
            [{"article_id": row.id, "term": t, "published_at": row.published_at} for t in terms],
        )
        story = _join(session, row, terms)
        if story is not None:
            changed.add(story)
            log.info("stories: article_id=%s joined story_id=%s", row.id, story)
    refresh(session, changed)
    return changed


def _candidates(session: Session, row: _Row, terms: list[str]) -> list[_Row]:
    """The articles of the window that share the most index words with ``row``."""
    shared = (
        select(_TERMS.c.article_id)
        .where(
            _TERMS.c.term.in_(terms),
            _TERMS.c.published_at >= row.published_at - WINDOW,
            _TERMS.c.published_at <= row.published_at + WINDOW,
            _TERMS.c.article_id != row.id,
        )
        .group_by(_TERMS.c.article_id)
        .order_by(func.count().desc(), _TERMS.c.article_id.desc())
        .limit(CANDIDATES)
    )
    ids = list(session.connection().execute(shared).scalars())
    if not ids:
        return []
    return [
        _row(found) for found in session.connection().execute(_READ.where(_ARTICLES.c.id.in_(ids)))
    ]


def _join(session: Session, row: _Row, terms: list[str]) -> int | None:
    """Put ``row`` into the story of its best match; return that story's id, or None."""
    scored = sorted(
        (
            (similarity(row.doc, other.doc), other)
            for other in _candidates(session, row, terms)
            if other.source_id != row.source_id  # one source never reports a story twice
        ),
        key=lambda pair: (-pair[0], pair[1].id),
    )
    matches = [other for score, other in scored if score >= THRESHOLD]
    if not matches:
        return None
    conn = session.connection()
    stories = {m.story_id for m in matches if m.story_id is not None}
    sources: dict[int, set[int | None]] = defaultdict(set)
    if stories:
        for story_id, source_id in conn.execute(
            select(_ARTICLES.c.story_id, _ARTICLES.c.source_id).where(
                _ARTICLES.c.story_id.in_(stories)
            )
        ):
            sources[story_id].add(source_id)
    for match in matches:
        if match.story_id is None:
            story_id = new_story(session)
            move(session, [match.id, row.id], story_id)
            return story_id
        if row.source_id not in sources[match.story_id]:
            _lock(session, match.story_id)
            move(session, [row.id], match.story_id)
            return match.story_id
    return None


def new_story(session: Session, *, curated: bool = False) -> int:
    """Insert an empty story row and return its id."""
    now = utcnow()
    result = session.connection().execute(
        insert(_STORIES)
        .values(curated=curated, created_at=now, updated_at=now)
        .returning(_STORIES.c.id)
    )
    return int(result.scalar_one())


def _lock(session: Session, story_id: int) -> None:
    # PostgreSQL: two writers joining one story take turns, so its lead flags
    # are computed from one view of its members. SQLite has one writer anyway.
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(
            select(_STORIES.c.id).where(_STORIES.c.id == story_id).with_for_update()
        )


def move(session: Session, article_ids: Iterable[int], story_id: int) -> None:
    """Make these articles members of the story (call :func:`refresh` after)."""
    ids = list(article_ids)
    session.connection().execute(
        update(_ARTICLES).where(_ARTICLES.c.id.in_(ids)).values(story_id=story_id)
    )
    _expire(session, set(ids))


def refresh(session: Session, story_ids: Collection[int]) -> None:
    """Recompute the leads of these stories, fix the listing counts, bump their scopes.

    A story left with one article (or none) is dissolved: a lone article is
    not a story.
    """
    story_ids = {s for s in story_ids if s is not None}
    if not story_ids:
        return
    conn = session.connection()
    members: dict[int, list[Any]] = defaultdict(list)
    for found in conn.execute(
        select(
            _ARTICLES.c.id,
            _ARTICLES.c.story_id,
            _ARTICLES.c.section_id,
            _ARTICLES.c.published_at,
            _ARTICLES.c.story_hidden,
            _ARTICLES.c.story_section_hidden,
        ).where(_ARTICLES.c.story_id.in_(story_ids))
    ):
        members[found.story_id].append(found)
    deltas: Counter[str | None] = Counter()
    writes: list[dict[str, Any]] = []
    dissolved = [s for s in story_ids if len(members.get(s, ())) <= 1]
    for story_id in story_ids:
        rows = sorted(members.get(story_id, ()), key=lambda r: (r.published_at, r.id))
        keep = story_id not in dissolved
        section_leads: dict[int | None, int] = {}
        for found in rows:
            section_leads.setdefault(found.section_id, found.id)
        for found in rows:
            hidden = keep and found.id != rows[0].id
            section_hidden = keep and section_leads[found.section_id] != found.id
            deltas[SITE] += int(found.story_hidden) - int(hidden)
            key = section_key(found.section_id)
            deltas[key] += int(found.story_section_hidden) - int(section_hidden)
            if (hidden, section_hidden, keep) != (
                found.story_hidden,
                found.story_section_hidden,
                True,
            ):
                writes.append(
                    {
                        "ident": found.id,
                        "story": story_id if keep else None,
                        "hidden": hidden,
                        "section_hidden": section_hidden,
                    }
                )
    if writes:
        conn.execute(_FLAGS, writes)
    if dissolved:
        conn.execute(delete(_STORIES).where(_STORIES.c.id.in_(dissolved)))
    kept = story_ids - set(dissolved)
    if kept:
        conn.execute(update(_STORIES).where(_STORIES.c.id.in_(kept)).values(updated_at=utcnow()))
    _expire(session, {w["ident"] for w in writes})
    deltas.pop(None, None)
    # Every scope whose feed credits the story changes (its via links), even
    # where no count does: 0 bumps the version alone.
    bump_scopes(session, dict(deltas))


def _expire(session: Session, article_ids: set[int]) -> None:
    """Make loaded Article objects re-read what Core statements just changed."""
    if not article_ids:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Article) and obj.id in article_ids:
            session.expire(obj, ["story_id", "story_hidden", "story_section_hidden"])


# --- the session hook ----------------------------------------------------------------

_MOVES = ("published_at", "section_id")


def _after_flush(session: Session, _ctx: Any) -> None:
    """Group articles the ORM just inserted; refresh stories whose members moved or went."""
    new_ids = [obj.id for obj in session.new if isinstance(obj, Article)]
    touched: set[int] = set()
    for obj in session.deleted:
        if isinstance(obj, Article):
            hist = inspect(obj).attrs.story_id.history
            old = hist.deleted[0] if hist.deleted else obj.story_id
            if old is not None:
                touched.add(old)
    for obj in session.dirty:
        if isinstance(obj, Article) and obj not in session.deleted and obj.story_id is not None:
            state = inspect(obj)
            if any(state.attrs[a].history.has_changes() for a in _MOVES):
                touched.add(obj.story_id)
    if new_ids:
        group_new(session, new_ids)
        _reload_new(session)
    refresh(session, touched)


def _reload_new(session: Session) -> None:
    """Give the ORM's new Article objects their story columns as grouping wrote them.

    They are still pending while after_flush runs (not yet in the identity
    map, so they cannot be expired): set the stored values as committed.
    """
    pending = {obj.id: obj for obj in session.new if isinstance(obj, Article)}
    rows = session.connection().execute(
        select(
            _ARTICLES.c.id,
            _ARTICLES.c.story_id,
            _ARTICLES.c.story_hidden,
            _ARTICLES.c.story_section_hidden,
        ).where(_ARTICLES.c.id.in_(list(pending)))
    )
    for ident, story_id, hidden, section_hidden in rows:
        obj = pending[ident]
        set_committed_value(obj, "story_id", story_id)
        set_committed_value(obj, "story_hidden", hidden)
        set_committed_value(obj, "story_section_hidden", section_hidden)


def install_hooks() -> None:
    """Register the grouping hook on every Session, after the scope hook (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
