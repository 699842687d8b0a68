"""Migration 0012 keeps what admins decided: members of curated stories come out pinned."""

from __future__ import annotations

from sqlalchemy import select, update

from feedserver.migrate import downgrade, upgrade
from feedserver.models import Story, StoryEntry
from tests.feedserver.stories.stories_support import PERU, newsroom, quake_story, story_of, write


def test_upgrade_pins_the_members_of_curated_stories(db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    write(db, ids, "peru", PERU, "a", hours=30)
    with db.session() as s:
        s.execute(update(Story).where(Story.id == story_of(db, a)).values(curated=True))
    db.engine.dispose()
    downgrade(db.engine, "0004")
    upgrade(db.engine)
    with db.session() as s:
        entries = {e.article_id: (e.features, e.pinned) for e in s.scalars(select(StoryEntry))}
    # Features unknown until next needed (read from the text), the decision kept.
    assert entries == {a: ("", True), b: ("", True), c: ("", True)}
    # Grouping still works over articles with no stored features.
    later = write(db, ids, "peru-2", (PERU[0] + " again", PERU[1]), "b", hours=31)
    assert story_of(db, later) is not None
