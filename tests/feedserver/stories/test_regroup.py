"""Edits regroup: an article leaves a story it no longer matches and joins one it now
matches; what an admin placed by hand stays; a busy window and old rows still work."""

from __future__ import annotations

from sqlalchemy import delete, select

from feedserver.models import Article, ScopeVersion, Source, StoryEntry, StoryTerm
from feedserver.models.scopes import SITE
from feedserver.stories import index
from feedserver.stories.similarity import decode, document
from tests.feedserver.stories.stories_support import (
    PERU,
    QUAKE,
    T0,
    hours,
    newsroom,
    quake_story,
    story_of,
    write,
)

TRAIN = (
    "Night trains return between Vienna and Hamburg",
    "The ÖBB sleeper service between Vienna and Hamburg resumes in May after four years.",
)


def _site_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(ScopeVersion.item_count).where(ScopeVersion.key == SITE))


def _hidden(db, *ids: int) -> dict[int, bool]:
    with db.session() as s:
        return dict(
            s.execute(select(Article.id, Article.story_hidden).where(Article.id.in_(ids))).all()
        )


def test_an_edit_that_changes_the_subject_leaves_the_story(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    assert _site_count(db) == 1
    response = api.patch(f"/api/articles/{b}", json={"title": TRAIN[0], "summary": TRAIN[1]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["story"] == [b]
    assert story_of(db, b) is None
    assert story_of(db, a) == story_of(db, c) == story  # the others stay together
    assert _hidden(db, a, b, c) == {a: False, b: False, c: True}
    assert _site_count(db) == 2  # the story once, and b on its own
    body = api.get(f"/api/articles/{a}").get_json()
    assert body["story"] == [a, c]
    # Its index words follow the edit: filed under the train, not the quake.
    with db.session() as s:
        terms = set(s.scalars(select(StoryTerm.term).where(StoryTerm.article_id == b)))
        features = s.scalar(select(StoryEntry.features).where(StoryEntry.article_id == b))
    assert {"vienna", "hamburg"} <= terms and "antofagasta" not in terms
    assert decode(features) == document(*TRAIN)


def test_leaving_a_two_article_story_dissolves_it(api, db):
    ids = newsroom(db)
    a = write(db, ids, "q0", QUAKE[0], "a")
    b = write(db, ids, "q1", QUAKE[1], "b", hours=1)
    assert story_of(db, a) == story_of(db, b) is not None
    api.patch(f"/api/articles/{a}", json={"title": PERU[0], "summary": PERU[1]})
    assert story_of(db, a) is None and story_of(db, b) is None
    assert _hidden(db, a, b) == {a: False, b: False}
    assert _site_count(db) == 2


def test_an_edit_that_now_tells_the_story_joins_it(api, db):
    ids = newsroom(db)
    a, b = write(db, ids, "q0", QUAKE[0], "a"), write(db, ids, "q1", QUAKE[1], "b", hours=1)
    train = write(db, ids, "train", TRAIN, "c", hours=2)
    assert story_of(db, train) is None
    assert _site_count(db) == 2
    response = api.patch(
        f"/api/articles/{train}", json={"title": QUAKE[2][0], "summary": QUAKE[2][1]}
    )
    assert response.get_json()["story"] == [a, b, train]
    assert _hidden(db, a, b, train) == {a: False, b: True, train: True}
    assert _site_count(db) == 1


def test_a_small_correction_keeps_the_article_in_its_story(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    api.patch(f"/api/articles/{b}", json={"title": QUAKE[1][0] + " (corrected)"})
    assert story_of(db, b) == story
    assert _hidden(db, a, b, c) == {a: False, b: True, c: True}


def test_moving_an_article_to_a_source_the_story_has_takes_it_out(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    with db.session() as s:
        s.get(Article, c).source = s.get(Source, ids["a"])  # as the poller or admin would
    assert story_of(db, c) is None
    assert story_of(db, a) == story_of(db, b) is not None


def test_moving_an_article_out_of_the_window_takes_it_out(db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    with db.session() as s:
        s.get(Article, c).published_at = T0 + hours(100)
    assert story_of(db, c) is None
    assert story_of(db, a) == story_of(db, b) is not None
    with db.session() as s:
        when = set(s.scalars(select(StoryTerm.published_at).where(StoryTerm.article_id == c)))
    assert when == {T0 + hours(100)}


def test_a_split_sticks_when_the_article_is_edited(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    assert api.post(f"/api/stories/{story}/split", json={"articles": [c]}).status_code == 200
    assert story_of(db, c) is None
    # An edit that keeps it alike the quake: the admin said apart, apart it stays.
    api.patch(f"/api/articles/{c}", json={"summary": QUAKE[2][1] + " Aftershocks followed."})
    assert story_of(db, c) is None
    # And the rest, also placed by the admin, stays together even when edited away.
    api.patch(f"/api/articles/{b}", json={"title": TRAIN[0], "summary": TRAIN[1]})
    assert story_of(db, a) == story_of(db, b) == story


def test_a_merge_sticks_when_a_member_is_edited(api, db):
    ids = newsroom(db)
    quake = write(db, ids, "q0", QUAKE[0], "a")
    peru = write(db, ids, "peru", PERU, "b", hours=1)
    response = api.post("/api/stories/merge", json={"articles": [quake, peru]})
    assert response.status_code == 200, response.get_json()
    story = story_of(db, quake)
    api.patch(f"/api/articles/{peru}", json={"summary": PERU[1] + " Schools stay closed."})
    assert story_of(db, peru) == story_of(db, quake) == story


def test_articles_without_stored_features_are_still_candidates(db):
    """Articles stored before story_entries existed are read from their text."""
    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    with db.session() as s:
        s.execute(delete(StoryEntry).where(StoryEntry.article_id == first))
    second = write(db, ids, "q1", QUAKE[1], "b", hours=1)
    assert story_of(db, second) == story_of(db, first) is not None


def test_a_busy_window_still_finds_the_rewrite(db, monkeypatch):
    """Each word reads a capped number of index rows, the nearest in time first."""
    monkeypatch.setattr(index, "PER_TERM", 4)
    index._candidates_statement.cache_clear()
    try:
        ids = newsroom(db)
        first = write(db, ids, "q0", QUAKE[0], "a")
        # Twenty other Chile stories (from a source of their own) crowd the window.
        for n in range(20):
            write(
                db,
                ids,
                f"wine-{n}",
                (f"Chile wine exports rise {n + 3}%", f"Vineyards in Maule sold {n + 40} tonnes."),
                "c",
                hours=0.5 + n / 100,
            )
        second = write(db, ids, "q1", QUAKE[1], "b", hours=1)
        assert story_of(db, second) == story_of(db, first) is not None
    finally:
        index._candidates_statement.cache_clear()
