"""Admins correct the grouping: split articles off a story, merge stories.

A corrected story is marked ``curated`` and the articles the admin placed
are pinned: grouping never moves a pinned article out of its story again, not
even when it is edited, and a newcomer joins one side of a split only (see
:mod:`feedserver.stories.grouping`), so the decision sticks.

Both operations keep the rule that one source never reports a story twice:
a merge that would put two articles of one source into one story is a 409.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from feedserver.errors import Conflict, NotFound, Unprocessable
from feedserver.models import Article, Source, Story
from feedserver.stories import leads

log = logging.getLogger(__name__)

MAX_IDS = 100  # articles or stories one request may name


def _ids(raw: Any, field: str, *, required: bool) -> list[int]:
    """Validate a list of positive ids from a request body."""
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or (required and not raw):
        raise Unprocessable(f"{field} must be a non-empty list of ids.", fields={field: "list"})
    if len(raw) > MAX_IDS:
        raise Unprocessable(f"{field}: at most {MAX_IDS} ids.", fields={field: "too many"})
    if not all(type(i) is int and 0 < i < 2**31 for i in raw):
        raise Unprocessable(f"{field} must hold whole numbers ≥ 1.", fields={field: "not ids"})
    return sorted(set(raw))


def get_story(session: Session, story_id: int) -> Story:
    story = find_story(session, story_id)
    if story is None:
        raise NotFound(f"No story has the id {story_id}.")
    return story


def member_ids(session: Session, story_id: int) -> list[int]:
    """The story's article ids, earliest first."""
    return list(
        session.scalars(
            select(Article.id)
            .where(Article.story_id == story_id)
            .order_by(Article.published_at, Article.id)
        )
    )


def split(session: Session, story_id: int, raw_ids: Any) -> tuple[int, int]:
    """Move the given articles out of the story into a story of their own.

    Returns the ids of (the story left, the new story); either may have been
    dissolved when it was left with a single article (a lone article is not
    a story): see :func:`find_story`.
    """
    wanted = _ids(raw_ids, "articles", required=True)
    _one_at_a_time(session)
    story = get_story(session, story_id)
    members = member_ids(session, story_id)
    strangers = sorted(set(wanted) - set(members))
    if strangers:
        raise Unprocessable(
            f"Articles {strangers[:10]} are not in story {story_id}.",
            fields={"articles": "not members"},
        )
    if len(wanted) == len(members):
        raise Unprocessable(
            "Name some of the story's articles, not all of them.",
            fields={"articles": "all members"},
        )
    session.flush()
    new_id = leads.new_story(session, curated=True)
    leads.move(session, wanted, new_id)
    leads.pin(session, members)  # both sides were decided by hand
    session.execute(update(Story).where(Story.id == story_id).values(curated=True))
    leads.refresh(session, {story_id, new_id})
    session.expire(story)
    log.info("stories: split article_ids=%s from story_id=%s into %s", wanted, story_id, new_id)
    return story_id, new_id


def merge(session: Session, raw_stories: Any, raw_articles: Any) -> int:
    """Make one story of the given stories and articles; the oldest story keeps its id."""
    story_ids = _ids(raw_stories, "stories", required=False)
    article_ids = _ids(raw_articles, "articles", required=False)
    if len(story_ids) + len(article_ids) < 2:
        raise Unprocessable(
            "Name at least two stories or articles to merge.", fields={"stories": "too few"}
        )
    _one_at_a_time(session)
    for story_id in story_ids:
        get_story(session, story_id)
    found = set(session.scalars(select(Article.id).where(Article.id.in_(article_ids))))
    missing = sorted(set(article_ids) - found)
    if missing:
        raise NotFound(f"No articles have the ids {missing[:10]}.")
    # The stories of the named articles come along whole.
    story_ids = sorted(
        set(story_ids)
        | {
            s
            for s in session.scalars(
                select(Article.story_id).where(
                    Article.id.in_(article_ids), Article.story_id.is_not(None)
                )
            )
            if s is not None
        }
    )
    for story_id in story_ids:  # in id order: grouping joins them under these locks
        leads.lock(session, story_id)
    everyone = select(Article.id, Article.source_id).where(
        Article.id.in_(article_ids)
        | (Article.story_id.in_(story_ids) if story_ids else Article.id.in_(article_ids))
    )
    rows = list(session.execute(everyone))
    _one_per_source(session, [source for _, source in rows])
    session.flush()
    target = story_ids[0] if story_ids else leads.new_story(session, curated=True)
    leads.move(session, [ident for ident, _ in rows], target)
    leads.pin(session, [ident for ident, _ in rows])
    session.execute(update(Story).where(Story.id == target).values(curated=True))
    leads.refresh(session, set(story_ids) | {target})
    log.info("stories: merged story_ids=%s article_ids=%s into %s", story_ids, article_ids, target)
    return target


def _one_at_a_time(session: Session) -> None:
    """Make this split or merge wait for any other under way, then read what it left.

    Each checks the one-source rule on the members it reads; two at once
    could each pass it and together break it (two merges bringing in one
    source's articles).
    """
    leads.one_writer(session)


def find_story(session: Session, story_id: int) -> Story | None:
    """The story row as stored now (None once dissolved, or for an id no column holds)."""
    if not 0 < story_id < 2**31:  # the integer keys of both backends
        return None
    return session.scalar(
        select(Story).where(Story.id == story_id).execution_options(populate_existing=True)
    )


def _one_per_source(session: Session, sources: Sequence[int | None]) -> None:
    twice = [source for source, n in Counter(sources).items() if n > 1]
    if not twice:
        return
    names = [
        session.scalar(select(Source.name).where(Source.id == s)) if s else "the newsroom"
        for s in twice[:3]
    ]
    raise Conflict(
        "One source never reports a story twice: more than one article from "
        + ", ".join(str(n) for n in names)
        + "."
    )
