"""Grouping in the database: paraphrases join, hard negatives and one source's repeats do not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from feedserver.models import Article, ScopeVersion, Story, StoryTerm
from feedserver.models.scopes import SITE, section_key
from feedserver.stories import index
from feedserver.stories.grouping import group_new
from feedserver.stories.similarity import MAX_INDEX_TERMS, index_terms
from tests.feedserver.stories.stories_support import (
    PERU,
    QUAKE,
    T0,
    newsroom,
    quake_story,
    story_of,
    write,
)


def _count(db, key):
    with db.session() as s:
        return s.scalar(select(ScopeVersion.item_count).where(ScopeVersion.key == key))


def test_three_sources_paraphrasing_one_story_form_one_story(db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    assert story is not None
    assert story_of(db, b) == story_of(db, c) == story
    with db.session() as s:
        flags = dict(
            s.execute(
                select(Article.id, Article.story_hidden).where(Article.id.in_([a, b, c]))
            ).all()
        )
    assert flags == {a: False, b: True, c: True}  # the earliest leads
    # The site and the section count the story once; each source keeps its article.
    assert _count(db, SITE) == 1
    assert _count(db, section_key(ids["world"])) == 1
    assert _count(db, f"source:{ids['b']}") == 1


def test_hard_negative_sharing_words_stays_apart(db):
    ids = newsroom(db)
    chile = write(db, ids, "chile", QUAKE[0], "a")
    peru = write(db, ids, "peru", PERU, "b", hours=1)
    assert story_of(db, chile) is None
    assert story_of(db, peru) is None
    assert _count(db, SITE) == 2


def test_articles_more_than_72_hours_apart_stay_apart(db):
    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    late = write(db, ids, "q1", QUAKE[1], "b", hours=73)
    assert story_of(db, late) is None
    inside = write(db, ids, "q2", QUAKE[2], "c", hours=71)
    assert story_of(db, inside) == story_of(db, first) is not None


def test_a_story_does_not_chain_past_72_hours(db):
    # Each report is within 72 hours of the one before, but the third is 142
    # hours after the first: every member must be within 72 hours of every other.
    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    second = write(db, ids, "q1", QUAKE[1], "b", hours=71)
    assert story_of(db, second) == story_of(db, first) is not None
    third = write(db, ids, "q2", QUAKE[2], "c", hours=142)
    assert story_of(db, third) is None
    # A report inside the story's span still joins it.
    inside = write(db, ids, "q3", QUAKE[2], None, hours=35)
    assert story_of(db, inside) == story_of(db, first)


def test_an_article_edited_to_a_date_past_the_span_leaves_its_story(db):
    from feedserver.models import Article

    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    middle = write(db, ids, "q1", QUAKE[1], None, hours=24)
    late = write(db, ids, "q2", QUAKE[2], "b", hours=48)
    story = story_of(db, first)
    assert story is not None and story_of(db, middle) == story_of(db, late) == story
    with db.session() as s:  # now 96 hours after the first, 72 after the middle one
        s.get(Article, late).published_at += timedelta(hours=48)
    assert story_of(db, late) is None
    assert story_of(db, first) == story_of(db, middle) == story


def test_one_source_never_reports_a_story_twice(db):
    ids = newsroom(db)
    nine = write(
        db, ids, "nine", ("Live: election results, 9pm", "Counting goes on in Lisbon."), "a"
    )
    ten = write(
        db,
        ids,
        "ten",
        ("Live: election results, 10pm", "Counting goes on in Lisbon."),
        "a",
        hours=1,
    )
    assert story_of(db, nine) is None and story_of(db, ten) is None
    # The same story retold by one source twice: the second copy stays out.
    first = write(db, ids, "q0", QUAKE[0], "a", hours=2)
    other = write(db, ids, "q1", QUAKE[1], "b", hours=3)
    again = write(db, ids, "q2", QUAKE[2], "a", hours=4)
    assert story_of(db, first) == story_of(db, other) is not None
    assert story_of(db, again) != story_of(db, first)


def test_newsroom_articles_count_as_one_source(db):
    ids = newsroom(db)
    own = write(db, ids, "own", QUAKE[0], None)
    own_again = write(db, ids, "own-again", QUAKE[1], None, hours=1)
    assert story_of(db, own_again) is None
    wire = write(db, ids, "wire", QUAKE[2], "a", hours=2)
    assert story_of(db, wire) == story_of(db, own) is not None


def test_a_back_dated_article_becomes_the_lead(db):
    ids = newsroom(db)
    later = write(db, ids, "later", QUAKE[0], "a", hours=5)
    earlier = write(db, ids, "earlier", QUAKE[1], "b", hours=1)
    with db.session() as s:
        flags = dict(
            s.execute(
                select(Article.id, Article.story_hidden).where(Article.story_id.is_not(None))
            ).all()
        )
    assert flags == {earlier: False, later: True}
    assert _count(db, SITE) == 1


def test_members_in_two_sections_each_lead_their_section(db):
    ids = newsroom(db)
    a = write(db, ids, "q0", QUAKE[0], "a", section="world")
    b = write(db, ids, "q1", QUAKE[1], "b", hours=1, section="science")
    c = write(db, ids, "q2", QUAKE[2], "c", hours=2, section="science")
    with db.session() as s:
        rows = {
            r.id: (r.story_hidden, r.story_section_hidden)
            for r in s.execute(
                select(Article.id, Article.story_hidden, Article.story_section_hidden)
            )
        }
    assert rows == {a: (False, False), b: (True, False), c: (True, True)}
    assert _count(db, SITE) == 1
    assert _count(db, section_key(ids["world"])) == 1
    assert _count(db, section_key(ids["science"])) == 1


def test_deleting_the_lead_hands_the_story_on(db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    with db.session() as s:
        s.delete(s.get(Article, a))
    with db.session() as s:
        assert not s.get(Article, b).story_hidden
        assert s.get(Article, c).story_hidden
    assert _count(db, SITE) == 1
    with db.session() as s:
        s.delete(s.get(Article, b))
    # One article left: no longer a story.
    with db.session() as s:
        left = s.get(Article, c)
        assert left.story_id is None and not left.story_hidden
        assert s.scalar(select(func.count(Story.id))) == 0
    assert _count(db, SITE) == 1


def test_moving_a_member_to_another_section_keeps_counts(db):
    ids = newsroom(db)
    a, b, _c = quake_story(db, ids)
    with db.session() as s:
        s.get(Article, b).section_id = ids["science"]
    assert _count(db, section_key(ids["world"])) == 1
    assert _count(db, section_key(ids["science"])) == 1
    with db.session() as s:
        assert not s.get(Article, b).story_section_hidden


def test_grouping_turned_off_groups_nothing(app_config, tmp_path, monkeypatch):
    from feedserver import create_app
    from feedserver.db import get_db

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**app_config, "STORIES": False})
    db = get_db(app)
    try:
        ids = newsroom(db)
        a, b, c = quake_story(db, ids)
        assert {story_of(db, i) for i in (a, b, c)} == {None}
        assert _count(db, SITE) == 3
    finally:
        db.engine.dispose()


def test_core_inserts_are_grouped_by_group_new(db):
    """The poller's store inserts with Core and calls group_new with the new ids."""
    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    with db.session() as s:
        new = s.execute(
            insert(Article).returning(Article.id),
            [
                {
                    "slug": "core",
                    "uid": "00000000-0000-4000-8000-000000000001",
                    "title": QUAKE[1][0],
                    "summary": QUAKE[1][1],
                    "body_html": "",
                    "section_id": ids["world"],
                    "source_id": ids["b"],
                    "published_at": T0,
                    "updated_at": T0,
                    "created_at": T0,
                }
            ],
        ).scalar_one()
        assert group_new(s, [new]) == {
            s.scalar(select(Article.story_id).where(Article.id == first))
        }
    assert story_of(db, new) == story_of(db, first) is not None
    with db.session() as s:
        terms = s.scalars(select(StoryTerm.term).where(StoryTerm.article_id == new)).all()
    assert 0 < len(terms) <= MAX_INDEX_TERMS


def _core_articles(s, ids, rows):
    """Insert articles with Core, as the poller's store does; return their ids in order."""
    return [
        s.execute(
            insert(Article).returning(Article.id),
            [
                {
                    "slug": slug,
                    "uid": f"00000000-0000-4000-8000-{n:012d}",
                    "title": text[0],
                    "summary": text[1],
                    "body_html": "",
                    "section_id": ids["world"],
                    "source_id": ids[source],
                    "published_at": T0 + timedelta(hours=hours),
                    "updated_at": T0,
                    "created_at": T0,
                }
            ],
        ).scalar_one()
        for n, (slug, text, source, hours) in enumerate(rows, start=1)
    ]


def test_a_batch_of_several_sources_joins_in_order_as_one_at_a_time(db):
    """Filed all at once, joined earliest first: each sees only what came before it."""
    ids = newsroom(db)
    with db.session() as s:
        a, b, c = _core_articles(
            s,
            ids,
            [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1), ("qc", QUAKE[2], "a", 2)],
        )
        changed = group_new(s, [c, a, b])  # the order given does not matter
    assert story_of(db, a) == story_of(db, b) is not None
    assert changed == {story_of(db, a)}
    assert story_of(db, c) is None  # its source already reports the story
    with db.session() as s:
        filed = s.scalars(select(StoryTerm.article_id).distinct()).all()
    assert set(filed) == {a, b, c}  # every article is in the index for the next ones


def test_same_source_siblings_do_not_crowd_out_a_match(db):
    """A live blog's 45 near-identical updates, filed together, leave room for the real match."""
    ids = newsroom(db)
    earlier = write(db, ids, "herald", QUAKE[1], "b")
    with db.session() as s:
        updates = _core_articles(
            s,
            ids,
            [
                (f"live-{n}", (f"{QUAKE[0][0]}: update {n}", QUAKE[0][1]), "a", 1 + n / 60)
                for n in range(45)
            ],
        )
        entries = index.read(s, updates)
        index.file_new(s, [(e, index_terms(e.doc)) for e in entries])
        last = entries[-1]
        found = index.candidates(s, last, index_terms(last.doc), skip=set(updates))
        assert [c.id for c in found] == [earlier]
        crowded = index.candidates(s, last, index_terms(last.doc))
        assert earlier not in [c.id for c in crowded]  # without the skip, siblings fill the 40
