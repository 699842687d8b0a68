"""A story's membership and leads: who is in it, who shows, what is pinned.

Every change of membership goes through here — grouping a new or edited
article (:mod:`feedserver.stories.grouping`), an admin's split or merge
(:mod:`feedserver.stories.curation`) — so the listing flags, the scope
counts and the feeds' validators follow it in the same transaction.

Each story's lead is its earliest article: the site listing folds the others
away (``story_hidden``), a section listing folds all but the earliest member
in that section (``story_section_hidden``). The scope rows count only what
listings show, and every scope whose feed credits the story is bumped when
its membership changes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, or_, select, text, update
from sqlalchemy.orm import Session

from feedserver.db import write_first
from feedserver.models.base import utcnow
from feedserver.models.content import Article
from feedserver.models.scopes import SITE, bump_scopes, section_key
from feedserver.models.stories import Story, StoryEntry

_ARTICLES: Table = Article.__table__  # type: ignore[assignment]
_STORIES: Table = Story.__table__  # type: ignore[assignment]
_ENTRIES: Table = StoryEntry.__table__  # type: ignore[assignment]

_FLAGS = (
    update(_ARTICLES)
    .where(_ARTICLES.c.id == bindparam("ident"))
    .values(
        story_id=bindparam("story"),
        story_hidden=bindparam("hidden"),
        story_section_hidden=bindparam("section_hidden"),
    )
)
_MEMBERS = select(
    _ARTICLES.c.id,
    _ARTICLES.c.story_id,
    _ARTICLES.c.section_id,
    _ARTICLES.c.published_at,
    _ARTICLES.c.story_hidden,
    _ARTICLES.c.story_section_hidden,
)


def new_story(session: Session, *, curated: bool = False) -> int:
    """Insert an empty story row and return its id (never a dissolved story's)."""
    now = utcnow()
    conn = session.connection()
    values: dict[str, Any] = {"curated": curated, "created_at": now, "updated_at": now}
    if conn.dialect.name == "sqlite":
        # Above every id handed out so far (models.stories.StoryIdFloor).
        floor = conn.execute(_NEXT_STORY_ID).scalar()
        if floor is not None:
            values["id"] = int(floor)
    result = conn.execute(insert(_STORIES).values(**values).returning(_STORIES.c.id))
    return int(result.scalar_one())


_NEXT_STORY_ID = text(
    "INSERT INTO story_id_floor (id, last)"
    " SELECT 1, coalesce(max(id), 0) + 1 FROM stories WHERE true"
    " ON CONFLICT (id) DO UPDATE SET last = max(story_id_floor.last + 1, excluded.last)"
    " RETURNING last"
)


ONE_WRITER = "stories-curation"  # the advisory key of write_first below


def one_writer(session: Session) -> None:
    """Make this transaction the only one changing story membership by hand, until it ends.

    Taken first (before any row is written) by each admin's split or merge
    and by each edit or deletion of an article: an edit re-files its article,
    which may leave one story and join another, each under its row lock, and
    rewrites both stories' lead flags. Two such edits at once took those locks
    in opposite orders and deadlocked (on PostgreSQL; SQLite has one writer
    anyway), and a loaded machine could lose every retry to it (409).
    """
    write_first(session, _STORIES, ONE_WRITER)


def lock(session: Session, story_id: int) -> None:
    """Take the story's row lock (PostgreSQL) before changing who is in it.

    Two writers joining one story take turns, so its lead flags are computed
    from one view of its members. SQLite has one writer anyway.
    """
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
    expire(session, set(ids))


def leave(session: Session, article_ids: Collection[int]) -> set[int]:
    """Take these articles out of their stories; return those stories (to :func:`refresh`)."""
    if not article_ids:
        return set()
    conn = session.connection()
    rows = list(conn.execute(_MEMBERS.where(_ARTICLES.c.id.in_(list(article_ids)))))
    deltas: Counter[str | None] = Counter()
    for found in rows:
        # Folded away until now, each shows again in its listings.
        deltas[SITE] += int(found.story_hidden)
        deltas[section_key(found.section_id)] += int(found.story_section_hidden)
    conn.execute(
        update(_ARTICLES)
        .where(_ARTICLES.c.id.in_([r.id for r in rows]))
        .values(story_id=None, story_hidden=False, story_section_hidden=False)
    )
    expire(session, {r.id for r in rows})
    deltas.pop(None, None)
    bump_scopes(session, dict(deltas))
    return {r.story_id for r in rows if r.story_id is not None}


def refresh(
    session: Session, story_ids: Collection[int | None], *, added: Collection[int] = ()
) -> None:
    """Recompute the leads of these stories, fix the listing counts, bump their scopes.

    A story left with one article (or none) is dissolved: a lone article is
    not a story. ``added``: the only change was that these articles joined
    (grouping), so only they and the current leads are read, not every
    member: a story's 200th article costs what its 3rd did. (Adding members
    can only fold more away: whoever was folded stays folded.)
    """
    wanted = {s for s in story_ids if s is not None}
    if not wanted:
        return
    conn = session.connection()
    members: dict[int, list[Any]] = defaultdict(list)
    which = _MEMBERS.where(_ARTICLES.c.story_id.in_(wanted))
    if added:
        which = which.where(
            or_(
                _ARTICLES.c.id.in_(list(added)),
                _ARTICLES.c.story_hidden.is_(False),
                _ARTICLES.c.story_section_hidden.is_(False),
            )
        )
    for found in conn.execute(which):
        members[found.story_id].append(found)
    deltas: Counter[str | None] = Counter()
    writes: list[dict[str, Any]] = []
    dissolved = set() if added else {s for s in wanted if len(members.get(s, ())) <= 1}
    for story_id in wanted:
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
        writes.sort(key=lambda w: w["ident"])  # rows locked in one order by every writer
        conn.execute(_FLAGS, writes)
    if dissolved:
        conn.execute(delete(_STORIES).where(_STORIES.c.id.in_(dissolved)))
    kept = wanted - dissolved
    if kept:
        conn.execute(update(_STORIES).where(_STORIES.c.id.in_(kept)).values(updated_at=utcnow()))
    expire(session, {w["ident"] for w in writes})
    deltas.pop(None, None)
    # Every scope whose feed credits the story changes (its via links), even
    # where no count does: 0 bumps the version alone.
    bump_scopes(session, dict(deltas))


def pin(session: Session, article_ids: Collection[int]) -> None:
    """Mark these articles as placed by an admin: grouping never moves them again."""
    ids = sorted(set(article_ids))
    if not ids:
        return
    conn = session.connection()
    conn.execute(update(_ENTRIES).where(_ENTRIES.c.article_id.in_(ids)).values(pinned=True))
    have = set(
        conn.execute(select(_ENTRIES.c.article_id).where(_ENTRIES.c.article_id.in_(ids))).scalars()
    )
    missing = [i for i in ids if i not in have]
    if missing:
        # Features unknown yet: read from the text when next needed.
        conn.execute(
            insert(_ENTRIES), [{"article_id": i, "features": "", "pinned": True} for i in missing]
        )


def expire(session: Session, article_ids: set[int]) -> None:
    """Make loaded Article objects re-read what Core statements just changed."""
    if not article_ids:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Article) and obj.id in article_ids:
            session.expire(obj, ["story_id", "story_hidden", "story_section_hidden"])
