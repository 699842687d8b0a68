"""The scope-version flush hook (models.scopes), directly, on both databases.

Each write through the ORM must bump exactly the scopes whose feeds it changes
and keep their item counts, in the same transaction.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from feedserver.models import Article, Author, Comment, Section, Source
from feedserver.models.scopes import (
    GLOBAL,
    ScopeVersion,
    bump_scopes,
    comments_key,
    recount_scopes,
    scope_key,
)
from tests.factories import make_article, make_comment, make_section, make_source


def rows(db) -> dict[str, tuple[int, int]]:
    """Every scope key → (version, item count)."""
    with db.session() as s:
        return {r.key: (r.version, r.item_count) for r in s.scalars(select(ScopeVersion))}


def bumped(before, after) -> set[str]:
    return {k for k in after if before.get(k, (0, 0))[0] != after[k][0]}


def test_scope_keys_have_one_spelling():
    assert scope_key("site") == "site"
    assert scope_key("section", 3) == "section:3"
    assert comments_key(7) == "comments:7"
    with pytest.raises(ValueError):
        scope_key("nonsense", 1)


def test_world_counts(db, world):
    now = rows(db)
    assert now["site"][1] == 3
    assert now[scope_key("section", world.sections["world"])][1] == 2
    assert now[scope_key("author", world.authors["bo"])][1] == 2
    assert now[scope_key("source", world.source)][1] == 1
    assert now[comments_key(world.articles["one"])][1] == 2  # the pending one is not counted


def test_new_article_bumps_and_counts_its_scopes(db, world):
    before = rows(db)
    with db.session() as s:
        make_article(s, section=s.get(Section, world.sections["science"]), authors=[])
    after = rows(db)
    science = scope_key("section", world.sections["science"])
    assert bumped(before, after) == {"site", science}
    assert after["site"][1] == 4 and after[science][1] == 2


def test_edit_bumps_without_counting_and_polling_state_bumps_nothing(db, world):
    before = rows(db)
    with db.session() as s:
        s.get(Article, world.articles["two"]).title = "Engines, revised"
    after = rows(db)
    assert bumped(before, after) == {
        "site",
        scope_key("section", world.sections["world"]),
        scope_key("source", world.source),
        scope_key("author", world.authors["ada"]),
        scope_key("author", world.authors["bo"]),
        comments_key(world.articles["two"]),  # the comment feed shows the title
    }
    assert all(after[k][1] == count for k, (_, count) in before.items())
    with db.session() as s:
        s.get(Source, world.source).last_status = 304
    assert bumped(after, rows(db)) == set()


def test_moving_an_article_moves_its_count(db, world):
    with db.session() as s:
        s.get(Article, world.articles["one"]).section_id = world.sections["science"]
    now = rows(db)
    assert now[scope_key("section", world.sections["world"])][1] == 1
    assert now[scope_key("section", world.sections["science"])][1] == 2


def test_delete_and_rename(db, world):
    before = rows(db)
    with db.session() as s:
        s.delete(s.get(Article, world.articles["three"]))
    after = rows(db)
    assert after["site"][1] == 2 and after[scope_key("author", world.authors["bo"])][1] == 1
    assert GLOBAL not in bumped(before, after)
    with db.session() as s:
        gone = make_section(s, slug="gone", name="Gone").id
    before = rows(db)
    with db.session() as s:
        s.delete(s.get(Section, gone))
    assert bumped(before, rows(db)) == {scope_key("section", gone)}  # no other feed shows it


def test_removing_a_source_bumps_the_feeds_of_its_articles_not_every_feed(db, world):
    from feedserver.aggregation.removal import remove_source

    with db.session() as s:
        science = s.get(Section, world.sections["science"])
        other = make_source(s, slug="other", name="Other", feed_url="https://o.example/f")
        make_article(s, slug="o1", section=science, authors=[], source=other)
        other_id = other.id
    before = rows(db)
    with db.session() as s:
        remove_source(s, s.get(Source, other_id))
    changed = bumped(before, rows(db))
    assert GLOBAL not in changed
    assert changed == {"site", scope_key("section", world.sections["science"]),
                       scope_key("source", other_id)}  # fmt: skip
    assert scope_key("section", world.sections["world"]) not in changed


def test_a_source_deleted_behind_its_articles_back_bumps_every_feed(db, world):
    """Its articles lose it through ON DELETE SET NULL, which no flush hook sees."""
    before = rows(db)
    with db.session() as s:
        s.delete(s.get(Source, world.source))
    assert GLOBAL in bumped(before, rows(db))


def test_a_rename_bumps_the_feeds_that_show_the_name_and_no_other(db, world):
    """A section's, author's or source's name shows in the feeds of its articles' scopes.

    Not in every feed: a renamed section changes no feed it has no article
    in, and an author's bio or a section's description only its own, if any.
    """
    world_key = scope_key("section", world.sections["world"])
    science = scope_key("section", world.sections["science"])
    ada, bo = (scope_key("author", world.authors[n]) for n in ("ada", "bo"))
    source = scope_key("source", world.source)
    before = rows(db)
    with db.session() as s:
        s.get(Section, world.sections["world"]).name = "Planet"
    after = rows(db)
    assert bumped(before, after) == {"site", world_key, source, ada, bo}
    with db.session() as s:
        s.get(Section, world.sections["world"]).description = "The planet, daily."
    assert bumped(after, rows(db)) == {world_key}
    before = rows(db)
    with db.session() as s:
        s.get(Author, world.authors["ada"]).bio = "Writes about engines."
    assert bumped(before, rows(db)) == set()
    before = rows(db)
    with db.session() as s:
        s.get(Author, world.authors["ada"]).name = "Ada King"
    # Her article is in World, with Bo on the byline; Science has none of hers.
    assert bumped(before, rows(db)) == {"site", world_key, source, ada, bo}
    before = rows(db)
    with db.session() as s:
        s.get(Source, world.source).name = "The Wire"
    assert bumped(before, rows(db)) == {"site", world_key, source, ada, bo}
    with db.session() as s:
        empty = make_section(s, slug="empty", name="Empty").id
    before = rows(db)
    with db.session() as s:
        s.get(Section, empty).name = "Still empty"
    assert bumped(before, rows(db)) == {scope_key("section", empty)}
    assert science not in bumped(before, rows(db))


def test_comments_count_only_when_approved(db, world):
    key = comments_key(world.articles["one"])
    with db.session() as s:
        s.get(Comment, world.comments["held"]).status = "approved"
    assert rows(db)[key][1] == 3
    with db.session() as s:
        assert s.get(Article, world.articles["one"]).comment_count == 3
        make_comment(s, s.get(Article, world.articles["one"]), status="spam")
    assert rows(db)[key][1] == 3


def test_bulk_writes_bump_by_hand_and_recount_repairs(db, world):
    before = rows(db)
    with db.session() as s:
        bump_scopes(s, {"site": 0, None: 5}, authors=[world.authors["ada"]])
    after = rows(db)
    assert bumped(before, after) == {"site", scope_key("author", world.authors["ada"])}
    with db.session() as s:  # bulk SQL behind the hook's back, then a recount
        s.execute(delete(ScopeVersion).where(ScopeVersion.key == "site"))
        recount_scopes(s)
    assert rows(db)["site"][1] == 3
    assert rows(db)[comments_key(world.articles["one"])][1] == 2


def test_no_scope_row_is_locked_before_the_commit(db, world):
    """Bumps wait for the commit, so two writers never hold each other's rows.

    A transaction that bumped ``source:N`` in a flush and ``site`` in a later
    statement deadlocked against one that did the reverse (CI, two poll
    workers). Now every bump is written at the commit, in key order: while
    the transaction runs, another one can lock any scope row at once.
    """
    before = rows(db)
    science = scope_key("section", world.sections["science"])
    with db.session() as s:
        art = s.get(Article, world.articles["one"])
        art.title = "A new title"
        s.flush()  # the hook runs here
        bump_scopes(s, {"site": 0, science: 0})
        make_article(s, section=s.get(Section, world.sections["science"]), authors=[])
        s.flush()
        with db.engine.connect() as other:
            if db.engine.dialect.name == "postgresql":
                locked = other.execute(
                    select(ScopeVersion.key).with_for_update(nowait=True).order_by(ScopeVersion.key)
                ).scalars()
            else:  # SQLite: a second writer would fail with "database is locked"
                locked = other.execute(select(ScopeVersion.key)).scalars()
            assert set(locked) == set(before)
            other.rollback()
        assert rows(db) == before  # nothing written yet
    after = rows(db)
    assert {"site", science} <= bumped(before, after)
    assert after["site"][1] == before["site"][1] + 1
    assert after[science][1] == before[science][1] + 1


def test_a_rollback_drops_the_queued_bumps(db, world):
    before = rows(db)
    with db.sessions() as s:
        make_article(s, section=s.get(Section, world.sections["science"]), authors=[])
        s.flush()
        bump_scopes(s, {"site": 5})
        s.rollback()
        s.get(Article, world.articles["one"]).title = "Kept"  # the next transaction's
        s.commit()
    after = rows(db)
    assert after["site"] == (before["site"][0] + 1, before["site"][1])


def test_a_recount_in_the_same_transaction_is_not_counted_twice(db, world):
    with db.session() as s:
        make_article(s, section=s.get(Section, world.sections["science"]), authors=[])
        art = s.get(Article, world.articles["one"])
        make_comment(s, art, status="approved")
        recount_scopes(s)
    after = rows(db)
    assert after["site"][1] == 4
    assert after[scope_key("section", world.sections["science"])][1] == 2
    assert after[comments_key(world.articles["one"])][1] == 3  # not recounted: its bump kept
