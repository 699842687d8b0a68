"""Group new and edited articles into stories, in the transaction that stores them.

Incremental and bounded: a new article's significant words and features go
into the candidate index (:mod:`feedserver.stories.index`); its candidates
are at most :data:`~feedserver.stories.index.CANDIDATES` articles of ±72
hours filed under the same words, scored with
:func:`feedserver.stories.similarity.similarity`. The archive is never read.

Rules (INTERFACE §10):

- articles of one source never share a story (the newsroom's own, with no
  source, count as one source), so "Live: results, 9pm" and "…, 10pm" stay
  apart however alike they are;
- only the article stored or edited moves: it joins the story of its best
  match, or forms one with it. An edited article that no longer matches
  any other member of its story leaves it (and may join another);
- what an admin placed by hand (a split or merge pins its articles) is never
  undone: a pinned article is not moved when edited, and since only the
  newcomer moves, it joins one side of a split, never both.

Two ways in: ORM writes (API, admin, demo, the poller's updates) through the
session hook installed by :func:`install_hooks`; Core bulk inserts (the
poller's store, pushes) call :func:`store_new` with the ids they inserted.

The poller's passes store inside :func:`deferred`: new articles are filed in
the index at once and queued (``story_queue``), and the pass groups the
queue in batches (:func:`group_queued`) at least every second and when it
ends — within the five seconds §10 allows. A batch reads the index once
(:class:`feedserver.stories.index.Window`) instead of running the candidate
statement per article, and finds the same candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, event, func, insert, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from feedserver.models.content import Article
from feedserver.models.stories import StoryQueue
from feedserver.stories import index, leads
from feedserver.stories.index import WINDOW, Candidate, Entry
from feedserver.stories.similarity import THRESHOLD, index_terms, similarity

log = logging.getLogger(__name__)

INFO_KEY = "feedserver_stories"  # Session.info: False turns grouping off

_ARTICLES: Table = Article.__table__  # type: ignore[assignment]
_QUEUE: Table = StoryQueue.__table__  # type: ignore[assignment]


def enabled(session: Session) -> bool:
    """Whether this session groups new articles (FEEDSERVER_STORIES)."""
    return bool(session.info.get(INFO_KEY, True))


# A batch bigger than this reads the index once (index.Window) instead of
# running the candidate statement per article.
SMALL_BATCH = 24
QUEUE_BATCH = 500  # queued articles grouped per transaction
DETAILS_BATCH = 200  # articles whose candidates are read (and held) together
_QUEUE_LOCK = 0x66656564  # PostgreSQL advisory lock: one queue grouper at a time

_DEFER: ContextVar[bool] = ContextVar("feedserver_stories_defer", default=False)


def is_deferred() -> bool:
    """Whether new articles stored now are queued (inside :func:`deferred`)."""
    return _DEFER.get()


@contextmanager
def deferred(on: bool = True) -> Iterator[None]:
    """Inside, the poller's new articles are filed and queued, not grouped at once.

    The poller then groups the queue in batches (:func:`group_queued`), at
    least every second while it stores and at the end of every pass: within
    the five seconds INTERFACE §10 allows, and a first poll's thousands of
    articles cost one read of the index instead of a statement each.

    ``on`` false: grouped at once inside, as outside any :func:`deferred`
    (a thread that writes another's refresh does it in that one's mode).
    """
    token = _DEFER.set(on)
    try:
        yield
    finally:
        _DEFER.reset(token)


def store_new(
    session: Session,
    ids: Collection[int],
    entries: list[tuple[Entry, list[str]]] | None = None,
) -> set[int]:
    """Articles a bulk insert just stored: grouped now, or filed and queued (:func:`deferred`)."""
    if not _DEFER.get():
        return group_new(session, ids, entries)
    if not ids or not enabled(session):
        return set()
    filed = _file(session, ids, entries)
    if filed:
        session.connection().execute(
            insert(_QUEUE), [{"article_id": entry.id} for entry, _ in filed]
        )
    return set()


def group_new(
    session: Session,
    ids: Collection[int],
    entries: list[tuple[Entry, list[str]]] | None = None,
) -> set[int]:
    """File new articles in the index and join each to its story; return the stories changed.

    ``entries``: these articles as grouping sees them, with their index
    words, when the caller has them already (a first poll works them out
    with the parse), so they are not read back and worked out here.
    """
    if not ids or not enabled(session):
        return set()
    return _group(session, _file(session, ids, entries))


def group_queued(
    session: Session, limit: int = QUEUE_BATCH, *, wait: bool = True
) -> tuple[int, set[int]] | None:
    """Group up to ``limit`` queued articles, earliest first; return how many, and the stories changed.

    On PostgreSQL one transaction at a time does this (an advisory lock), so
    two poller processes never group each other's articles at once; with
    ``wait`` false, None when another one holds it (it groups the queue).
    """
    if session.get_bind().dialect.name == "postgresql":
        if not wait:
            taken = session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _QUEUE_LOCK}
            )
            if not taken:
                return None
        else:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _QUEUE_LOCK})
    planned = plan_queued(session, limit)
    return (0, set()) if planned is None else apply_queued(session, planned)


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch of queued articles with their matches, found by reading alone.

    On SQLite the poller plans outside the write lock (reading the index
    window and scoring candidates is most of grouping's time) while others
    store, then applies under it (:func:`apply_queued`). Which story a match
    is in is read again when applying, so a change in between (an article
    grouped at once, a split) is seen; only the index words and features
    scored, which a filed article keeps, come from the plan.
    """

    ids: list[int]  # the queue rows taken
    filed: list[tuple[Entry, list[str]]]
    matches: dict[int, list[int]]  # article id → its matches' ids, best first


def plan_queued(session: Session, limit: int = QUEUE_BATCH) -> Planned | None:
    """The earliest ``limit`` queued articles and their matches (no writes); None: none queued."""
    ids = list(
        session.connection()
        .execute(
            select(_QUEUE.c.article_id)
            .join(_ARTICLES, _ARTICLES.c.id == _QUEUE.c.article_id)
            .order_by(_ARTICLES.c.published_at, _ARTICLES.c.id)
            .limit(limit)
        )
        .scalars()
    )
    if not ids:
        return None
    if not enabled(session):  # turned off since: nothing to group, the queue is emptied
        return Planned(ids, [], {})
    filed = _filed(session, ids)
    return Planned(ids, filed, _plan(session, filed))


def apply_queued(session: Session, planned: Planned) -> tuple[int, set[int]]:
    """Take a planned batch off the queue and place its articles; return how many, and the stories changed.

    Articles another grouper took off the queue meanwhile are left to it.
    """
    conn = session.connection()
    still = set(
        conn.execute(
            select(_QUEUE.c.article_id).where(_QUEUE.c.article_id.in_(planned.ids))
        ).scalars()
    )
    if still:
        conn.execute(delete(_QUEUE).where(_QUEUE.c.article_id.in_(list(still))))
    filed = [pair for pair in planned.filed if pair[0].id in still]
    return len(planned.ids), _apply(session, filed, planned.matches)


def queued(session: Session) -> bool:
    """Whether any article waits in the queue."""
    return session.connection().execute(select(_QUEUE.c.article_id).limit(1)).first() is not None


def _earliest(filed: tuple[Entry, list[str]]) -> tuple[Any, int]:
    return filed[0].published_at, filed[0].id  # index.read's order


def _file(
    session: Session, ids: Collection[int], entries: list[tuple[Entry, list[str]]] | None
) -> list[tuple[Entry, list[str]]]:
    """File these new articles in the index (all at once: two statements); return them, earliest first."""
    filed = _filed(session, ids) if entries is None else sorted(entries, key=_earliest)
    index.file_new(session, filed)
    return filed


def _filed(session: Session, ids: Collection[int]) -> list[tuple[Entry, list[str]]]:
    return [(e, index_terms(e.doc)) for e in index.read(session, ids) if e.story_id is None]


def _group(session: Session, filed: list[tuple[Entry, list[str]]]) -> set[int]:
    """Join each filed article (earliest first) to its story; return the stories changed."""
    return _apply(session, filed, _plan(session, filed))


def _plan(session: Session, filed: list[tuple[Entry, list[str]]]) -> dict[int, list[int]]:
    """Each filed article's matches, best first: the candidates alike enough (reads only)."""
    by_source: dict[int | None, set[int]] = {}
    for entry, _ in filed:
        by_source.setdefault(entry.source_id, set()).add(entry.id)
    # One at a time, earliest first, so articles stored together (of different
    # sources) can join one another. An article's candidates leave out its
    # same-source siblings (they never join it) and the batch's later articles,
    # which have not had their turn: as if each were filed just before its own.
    skips: list[set[int]] = []
    later = {entry.id for entry, _ in filed}
    for entry, _ in filed:
        later.discard(entry.id)
        skips.append(by_source[entry.source_id] | later)
    lookup = _Lookup(session, filed) if len(filed) > SMALL_BATCH else None
    matches: dict[int, list[int]] = {}
    for n, ((entry, terms), skip) in enumerate(zip(filed, skips, strict=True)):
        if lookup is None:
            found = index.candidates(session, entry, terms, skip)
        else:
            if n % DETAILS_BATCH == 0:  # the next articles' candidates, read together
                lookup.load(filed[n : n + DETAILS_BATCH], skips[n : n + DETAILS_BATCH])
            found = lookup.found(entry)
        matches[entry.id] = [other.id for other in _matches(entry, found)]
    return matches


def _apply(
    session: Session, filed: list[tuple[Entry, list[str]]], matches: dict[int, list[int]]
) -> set[int]:
    """Place each filed article (earliest first) in the story of its best match that can take it.

    The stories are read now (one statement), and kept current as articles
    move: a match another article just put in a story is joined there.
    """
    wanted = {entry.id for entry, _ in filed} | {i for ids in matches.values() for i in ids}
    story_of = _stories_now(session, wanted)
    changed: set[int] = set()
    moved: set[int] = set()
    for entry, _ in filed:
        if entry.id not in story_of or story_of[entry.id] is not None:
            continue  # deleted, or placed since (grouped at once, by an edit)
        live = [(i, story_of[i]) for i in matches.get(entry.id, ()) if i in story_of]
        joined = _place(session, entry, live)
        if joined is not None:
            story_id, members = joined
            changed.add(story_id)
            moved |= members
            story_of.update(dict.fromkeys(members, story_id))
            log.info("stories: article_id=%s joined story_id=%s", entry.id, story_id)
    leads.refresh(session, changed, added=moved)
    return changed


def _stories_now(session: Session, ids: Collection[int]) -> dict[int, int | None]:
    """Each existing article's story (None: in none), as it is now."""
    found: dict[int, int | None] = {}
    wanted = list(ids)
    for at in range(0, len(wanted), 900):  # well within any backend's bound parameters
        rows = session.connection().execute(
            select(_ARTICLES.c.id, _ARTICLES.c.story_id).where(
                _ARTICLES.c.id.in_(wanted[at : at + 900])
            )
        )
        found.update({ident: story for ident, story in rows})
    return found


class _Lookup:
    """A big batch's candidates: from one read of the index, with their details read in chunks.

    Only :data:`DETAILS_BATCH` articles' candidates are held at a time (so a
    first poll's thousands of articles need no more memory than a hundred),
    and each chunk's are read after the previous chunk's joins, so their
    stories are current.
    """

    def __init__(self, session: Session, filed: list[tuple[Entry, list[str]]]) -> None:
        self.session = session
        self.window = index.Window(session, filed)
        self.ids: dict[int, list[int]] = {}
        self.known: dict[int, Candidate] = {}

    def load(self, filed: list[tuple[Entry, list[str]]], skips: list[set[int]]) -> None:
        self.ids = {
            entry.id: self.window.ids(entry, terms, skip)
            for (entry, terms), skip in zip(filed, skips, strict=True)
        }
        self.known = index.details(self.session, {i for ids in self.ids.values() for i in ids})

    def found(self, entry: Entry) -> list[Candidate]:
        return [self.known[i] for i in self.ids[entry.id] if i in self.known]


def regroup(session: Session, ids: Collection[int]) -> set[int]:
    """Re-file edited articles; each leaves its story if no longer alike, or joins one.

    Pinned articles (placed by an admin) are re-filed but stay where they are.
    Returns the stories changed.
    """
    if not ids or not enabled(session):
        return set()
    changed: set[int] = set()
    for entry in index.read(session, ids, fresh=True):
        terms = index_terms(entry.doc)
        index.file(session, entry, terms, again=True)
        if entry.pinned and not (entry.story_id is not None and _source_twice(session, entry)):
            continue  # placed by hand: stays, unless its story would credit a source twice
        if entry.story_id is not None:
            if _still_belongs(session, entry):
                continue
            leads.lock(session, entry.story_id)
            changed |= leads.leave(session, [entry.id])
            log.info("stories: edited article_id=%s left story_id=%s", entry.id, entry.story_id)
            leads.refresh(session, changed)  # before joining: its members' flags are read
            if entry.pinned:
                continue  # the admin's story rule broke, not theirs to regroup
        alone = _alone(entry)
        joined = _join(session, alone, index.candidates(session, alone, terms))
        if joined is not None:
            changed.add(joined[0])
            log.info("stories: edited article_id=%s joined story_id=%s", entry.id, joined[0])
            leads.refresh(session, {joined[0]}, added=joined[1])
    return changed


def _alone(entry: Entry) -> Entry:
    return Entry(entry.id, entry.source_id, entry.published_at, None, entry.pinned, entry.doc)


def _source_twice(session: Session, entry: Entry) -> bool:
    """Whether another member of the entry's story is of its source (it was edited to one)."""
    same = _of_source(entry.source_id)
    found = session.connection().execute(
        select(_ARTICLES.c.id)
        .where(_ARTICLES.c.story_id == entry.story_id, _ARTICLES.c.id != entry.id, same)
        .limit(1)
    )
    return found.first() is not None


def _still_belongs(session: Session, entry: Entry) -> bool:
    """Whether an edited member is still alike another member, and its source still single."""
    member_ids = session.connection().execute(
        select(_ARTICLES.c.id).where(
            _ARTICLES.c.story_id == entry.story_id, _ARTICLES.c.id != entry.id
        )
    )
    others = index.read(session, list(member_ids.scalars()))
    if any(other.source_id == entry.source_id for other in others):
        return False  # its source was changed to one the story already has
    # Still within 72 hours of every member (a date edit may have moved it
    # out), and still alike one of them.
    if any(abs(other.published_at - entry.published_at) > WINDOW for other in others):
        return False
    return any(similarity(entry.doc, other.doc) >= THRESHOLD for other in others)


def _join(session: Session, entry: Entry, found: list[Candidate]) -> tuple[int, set[int]] | None:
    """Put ``entry`` into the story of its best candidate; return that story and who moved."""
    return _place(session, entry, [(m.id, m.story_id) for m in _matches(entry, found)])


def _matches(entry: Entry, found: list[Candidate]) -> list[Candidate]:
    """The candidates alike enough to be one story with ``entry``, best first."""
    scored = sorted(
        (
            (similarity(entry.doc, other.doc), other)
            for other in found
            if other.source_id != entry.source_id  # one source never reports a story twice
        ),
        key=lambda pair: (-pair[0], pair[1].id),
    )
    return [other for score, other in scored if score >= THRESHOLD]


def _place(
    session: Session, entry: Entry, matches: list[tuple[int, int | None]]
) -> tuple[int, set[int]] | None:
    """Join the first match (id, story) whose story has no article of ``entry``'s source yet."""
    if not matches:
        return None
    stories = {story for _, story in matches}
    taken = _stories_with_source(session, stories, entry.source_id)
    spans = _spans(session, stories)
    for match_id, story_id in matches:
        if story_id is None:  # a match is within the window of its newcomer
            story_id = leads.new_story(session)
            leads.move(session, [match_id, entry.id], story_id)
            return story_id, {match_id, entry.id}
        if story_id in taken:
            continue
        # Every member reports it within 72 hours of every other (§10): a
        # story does not chain on, a day at a time, through its newest members.
        first, last = spans.get(story_id, (entry.published_at, entry.published_at))
        if entry.published_at - first > WINDOW or last - entry.published_at > WINDOW:
            continue
        leads.lock(session, story_id)
        leads.move(session, [entry.id], story_id)
        return story_id, {entry.id}
    return None


def _spans(session: Session, stories: set[int | None]) -> dict[int, tuple[Any, Any]]:
    """Each of these stories' earliest and latest publication times."""
    wanted = [s for s in stories if s is not None]
    if not wanted:
        return {}
    published = _ARTICLES.c.published_at
    found = session.connection().execute(
        select(_ARTICLES.c.story_id, func.min(published), func.max(published))
        .where(_ARTICLES.c.story_id.in_(wanted))
        .group_by(_ARTICLES.c.story_id)
    )
    return {story: (first, last) for story, first, last in found}


def _stories_with_source(
    session: Session, stories: set[int | None], source_id: int | None
) -> set[int]:
    """Which of these stories already have an article of this source."""
    wanted = [s for s in stories if s is not None]
    if not wanted:
        return set()
    found = session.connection().execute(
        select(_ARTICLES.c.story_id)
        .where(_ARTICLES.c.story_id.in_(wanted), _of_source(source_id))
        .distinct()
    )
    return {s for s in found.scalars() if s is not None}


def _of_source(source_id: int | None) -> Any:
    """Articles of this source (None: the newsroom's own, which count as one source)."""
    if source_id is None:
        return _ARTICLES.c.source_id.is_(None)
    return _ARTICLES.c.source_id == source_id


# --- the session hook ----------------------------------------------------------------

_MOVES = ("published_at", "section_id")  # its story's leads may change
_REGROUPS = ("title", "summary", "body_html", "source_id", "published_at")  # alike to whom


def _changed(obj: Article, attrs: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in attrs)


def _after_flush(session: Session, _ctx: Any) -> None:
    """Group articles the ORM inserted or edited; refresh stories whose members moved or went."""
    new_ids = [obj.id for obj in session.new if isinstance(obj, Article)]
    touched: set[int | None] = set()
    edited: list[int] = []
    for obj in session.deleted:
        if isinstance(obj, Article):
            hist = inspect(obj).attrs.story_id.history
            touched.add(hist.deleted[0] if hist.deleted else obj.story_id)
    for obj in session.dirty:
        if not isinstance(obj, Article) or obj in session.deleted:
            continue
        if obj.story_id is not None and _changed(obj, _MOVES):
            touched.add(obj.story_id)
        if _changed(obj, _REGROUPS):
            edited.append(obj.id)
    if new_ids:
        group_new(session, new_ids)
        _reload_new(session)
    leads.refresh(session, touched)
    regroup(session, edited)


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
