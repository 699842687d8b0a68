"""Admins split and merge stories (API and admin); their decisions stick."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.feedserver.stories.stories_support import (
    PERU,
    QUAKE,
    newsroom,
    quake_story,
    story_of,
    write,
)


def test_article_api_shows_its_story(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    body = api.get(f"/api/articles/{b}").get_json()
    assert body["story"] == [a, b, c]
    assert body["story_id"] == story_of(db, a)
    alone = write(db, ids, "peru", PERU, "a", hours=30)
    assert api.get(f"/api/articles/{alone}").get_json()["story"] == [alone]


def test_article_created_through_the_api_joins_its_story(api, db):
    ids = newsroom(db)
    first = write(db, ids, "q0", QUAKE[0], "a")
    response = api.post(
        "/api/articles",
        json={
            "title": QUAKE[1][0],
            "summary": QUAKE[1][1],
            "section": "world",
            "authors": ["ada"],
            "published_at": "2026-03-02T09:00:00Z",
        },
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["story"] == [first, response.get_json()["id"]]


def test_split_then_merge_through_the_api(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    response = api.post(f"/api/stories/{story}/split", json={"articles": [c]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [x["id"] for x in body["story"]["articles"]] == [a, b]
    assert body["story"]["curated"] is True
    assert body["split"] is None  # one article alone is no story
    assert story_of(db, c) is None
    # The split article is on the site again, in its own right.
    assert b"quake-2" in api.get("/feed.atom").data
    response = api.post("/api/stories/merge", json={"stories": [story], "articles": [c]})
    assert response.status_code == 200, response.get_json()
    assert [x["id"] for x in response.get_json()["articles"]] == [a, b, c]
    assert response.get_json()["lead"] == a
    assert b"/articles/quake-2<" not in api.get("/feed.atom").data


def test_a_split_sticks_when_new_articles_arrive(api, db):
    ids = newsroom(db)
    a, b = write(db, ids, "q0", QUAKE[0], "a"), write(db, ids, "q1", QUAKE[1], "b", hours=1)
    story = story_of(db, a)
    assert api.post(f"/api/stories/{story}/split", json={"articles": [b]}).status_code == 200
    # A third source's version arrives: it joins one of them, never both again.
    c = write(db, ids, "q2", QUAKE[2], "c", hours=2)
    assert story_of(db, c) is not None
    assert story_of(db, a) != story_of(db, b)


def test_merge_refuses_two_articles_of_one_source(api, db):
    ids = newsroom(db)
    x = write(db, ids, "x", QUAKE[0], "a")
    y = write(db, ids, "y", PERU, "a", hours=1)
    response = api.post("/api/stories/merge", json={"articles": [x, y]})
    assert response.status_code == 409
    assert "Agency Wire" in response.get_json()["error"]["message"]
    assert story_of(db, x) is None and story_of(db, y) is None


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/stories/999/split", {"articles": [1]}, 404),
        ("/api/stories/2147483648/split", {"articles": [1]}, 404),  # past PostgreSQL's integer
        ("/api/stories/99999999999999999999/split", {"articles": [1]}, 404),  # past SQLite's
        ("/api/stories/merge", {"stories": "1,2"}, 422),
        ("/api/stories/merge", {"articles": [1]}, 422),
        ("/api/stories/merge", {"articles": [True, 2]}, 422),
        ("/api/stories/merge", {"articles": list(range(1, 500))}, 422),
        ("/api/stories/merge", {"articles": [2**40, 1]}, 422),
        ("/api/stories/merge", {"articles": [123456, 123457]}, 404),
        ("/api/stories/merge", [], 400),
    ],
)
def test_bad_requests_get_a_clear_4xx(api, db, path, body, status):
    response = api.post(path, json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert set(response.get_json()["error"]) >= {"code", "message"}


@pytest.mark.parametrize("ident", ["2147483648", "99999999999999999999"])
def test_a_story_id_no_column_holds_is_a_404(api, admin, db, ident):
    response = api.get(f"/api/stories/{ident}")
    assert response.status_code == 404
    assert ident in response.get_json()["error"]["message"]
    response = admin.post(f"/admin/stories/{ident}/split", data={"articles": ["1"]})
    assert response.status_code == 302  # back to the list, which says why
    assert b"No story has the id" in admin.get("/admin/stories/").data


def test_split_refuses_strangers_and_everyone(api, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    assert api.post(f"/api/stories/{story}/split", json={"articles": [a, b, c]}).status_code == 422
    other = write(db, ids, "peru", PERU, "a", hours=40)
    assert api.post(f"/api/stories/{story}/split", json={"articles": [other]}).status_code == 422
    assert api.post(f"/api/stories/{story}/split", json={}).status_code == 422
    # An unknown field is refused, as every other JSON endpoint refuses one.
    wrong = api.post(f"/api/stories/{story}/split", json={"articles": [a], "article": [b]})
    assert wrong.status_code == 422 and set(wrong.json["error"]["fields"]) == {"article"}
    wrong = api.post("/api/stories/merge", json={"stories": [story], "artcles": [other]})
    assert wrong.status_code == 422 and set(wrong.json["error"]["fields"]) == {"artcles"}
    assert api.get(f"/api/stories/{story}").get_json()["lead"] == a


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(["stories", "articles", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda c: st.lists(c, max_size=4),
            max_leaves=8,
        ),
        max_size=3,
    )
)
def test_merge_never_fails_on_any_json(api, db, body):
    response = api.post("/api/stories/merge", json=body)
    assert response.status_code in (400, 404, 409, 422), response.get_data(as_text=True)


def test_openapi_describes_the_story_endpoints(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {
        "/api/stories",
        "/api/stories/{id}",
        "/api/stories/{id}/split",
        "/api/stories/merge",
    } <= set(paths)


def test_admin_page_splits_and_merges(admin, db):
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    page = admin.get("/admin/stories/")
    assert page.status_code == 200
    assert QUAKE[2][0].encode() in page.data
    response = admin.post(f"/admin/stories/{story}/split", data={"articles": [str(b), str(c)]})
    assert response.status_code == 302
    assert story_of(db, a) is None  # a lone article is no story
    assert story_of(db, b) == story_of(db, c) is not None
    response = admin.post("/admin/stories/merge", data={"stories": "", "articles": f"{a}, {b}"})
    assert response.status_code == 302
    assert story_of(db, a) == story_of(db, b) == story_of(db, c) is not None
    response = admin.post("/admin/stories/merge", data={"articles": "1; drop"})
    assert response.status_code == 400


def test_a_dissolved_storys_id_is_never_handed_out_again(db):
    """SQLite reused the highest free id: an old id in an open page named another story."""
    from sqlalchemy import delete

    from feedserver.models import Story
    from feedserver.stories import leads

    with db.session() as s:
        first = leads.new_story(s)
        second = leads.new_story(s)
    with db.session() as s:  # both dissolve (split, emptied)
        s.execute(delete(Story).where(Story.id.in_([first, second])))
    with db.session() as s:
        third = leads.new_story(s)
    assert first < second < third


def test_a_pinned_article_edited_to_a_source_its_story_has_leaves_it(api, db):
    # Placed by an admin (merged), it stays through edits, but not when an
    # edit makes the story credit one source twice.
    ids = newsroom(db)
    a, b, c = quake_story(db, ids)
    story = story_of(db, a)
    merged = api.post("/api/stories/merge", json={"stories": [story]})
    assert merged.status_code == 422  # one story alone is nothing to merge
    split = api.post(f"/api/stories/{story}/split", json={"articles": [c]})
    assert split.status_code == 200
    assert (
        api.post("/api/stories/merge", json={"stories": [story], "articles": [c]}).status_code
        == 200
    )
    # Pinned: a new title does not move it.
    assert (
        api.patch(f"/api/articles/{c}", json={"title": "Something else entirely"}).status_code
        == 200
    )
    assert story_of(db, c) == story
    # Its source changed to one the story already has: it leaves, the others stay.
    response = api.patch(f"/api/articles/{c}", json={"source": "agency"})
    assert response.status_code == 200, response.get_json()
    assert story_of(db, c) is None
    assert story_of(db, a) == story_of(db, b) == story


def test_merges_sent_at_once_never_let_one_source_report_twice(db):
    # Two admins each merge a lone article of one source into the same story:
    # each alone is fine, both together would credit that source twice.
    from sqlalchemy import func, select

    from feedserver.errors import Conflict
    from feedserver.models import Article
    from feedserver.stories.curation import merge
    from tests.races import at_once

    def merging(db, pair: list[int]):
        def merged() -> str:
            try:
                with db.session() as session:
                    merge(session, None, pair)
            except Conflict:
                return "409"
            return "merged"

        return merged

    ids = newsroom(db)
    other = ("Bakery on the square wins the county bread prize", "Judges praised its rye.")
    for n in range(4):
        at = 500 * n  # each round far from the others in time
        lead = write(db, ids, f"q{n}-a", QUAKE[0], "a", hours=at)
        second = write(db, ids, f"q{n}-b", QUAKE[1], "b", hours=at + 1)
        assert story_of(db, second) == story_of(db, lead) is not None
        lone = [
            write(db, ids, f"c{n}-1", PERU, "c", hours=at + 2),
            write(db, ids, f"c{n}-2", other, "c", hours=at + 3),
        ]
        outcomes = at_once(
            *(merging(db, [m, a]) for m, a in zip((lead, second), lone, strict=True))
        )
        assert sorted(outcomes) == ["409", "merged"]
        with db.session() as s:
            per_source = s.execute(
                select(Article.source_id, func.count())
                .where(Article.story_id == story_of(db, lead))
                .group_by(Article.source_id)
            ).all()
        assert all(count == 1 for _, count in per_source), per_source


def _patch_at_once(app, headers, edits: list[tuple[int, dict]]) -> list[int]:
    from tests.races import at_once

    def edit(ident: int, body: dict):
        client = app.test_client()
        return lambda: (
            client.patch(f"/api/articles/{ident}", json=body, headers=headers).status_code
        )

    return at_once(*(edit(*e) for e in edits))


def test_edits_of_one_storys_articles_at_once_take_turns(api, app, db, caplog):
    # Each edit rewrites the other members' lead flags and may move them to
    # another story: sent at once they deadlocked on PostgreSQL, and on a
    # loaded machine a victim could lose all its retries (a 409, in CI). They
    # now wait for one another: no deadlock at all, not one retried.
    ids = newsroom(db)
    members = quake_story(db, ids)
    members.append(write(db, ids, "quake-own", QUAKE[0], None, hours=3))
    story = story_of(db, members[0])
    assert all(story_of(db, m) == story for m in members)
    for attempt in range(3):
        edits = [
            (m, {"summary": f"Update {attempt}.{n}: the count of the injured rose again."})
            for n in range(2)
            for m in members
        ]
        with caplog.at_level(logging.INFO, logger="feedserver.api.common"):
            statuses = _patch_at_once(app, api.headers, edits)
        assert statuses == [200] * len(edits), statuses
        assert not [r.message for r in caplog.records if "deadlock" in r.message]
