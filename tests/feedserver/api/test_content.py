"""The content API's success paths: articles, sections, authors, and what feeds show."""

from __future__ import annotations

import feedparser
import pytest
from sqlalchemy import select

from feedserver.models import ApiToken
from tests.feedserver.api_support import article_payload

BASE = "http://localhost"


def make(api, **overrides):
    response = api.post("/api/articles", json=article_payload(**overrides))
    assert response.status_code == 201, response.json
    return response.json


# --- articles ------------------------------------------------------------------------


def test_create_article_answers_the_whole_object(api, newsroom):
    response = api.post(
        "/api/articles",
        json=article_payload(
            title="Ünïcode & the Moon!",
            authors=["bo", newsroom["ada"]],  # a slug and an id, in byline order
            source=newsroom["wire"],
            original_url="https://wire.example.org/moon",
            published_at="2026-03-01T12:30:00.250+02:00",
            comments_open=False,
            body_html='<p onclick="x()">Hi <a href="/more">more</a><script>evil()</script></p>',
        ),
    )
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"{BASE}/api/articles/{body['id']}"
    assert body["slug"] == "unicode-and-the-moon"
    assert body["url"] == f"{BASE}/articles/unicode-and-the-moon"
    assert body["feed_id"] == f"urn:uuid:{body['uid']}"
    assert body["title"] == "Ünïcode & the Moon!"
    assert body["section"] == {
        "id": newsroom["world"], "slug": "world", "name": "World", "url": f"{BASE}/sections/world",
    }  # fmt: skip
    assert [a["slug"] for a in body["authors"]] == ["bo", "ada"]
    assert body["authors"][0]["url"] == f"{BASE}/authors/bo"
    assert body["source"]["slug"] == "wire" and body["source"]["url"] == f"{BASE}/sources/wire"
    assert body["original_url"] == "https://wire.example.org/moon"
    assert body["published_at"] == "2026-03-01T10:30:00.250000Z"
    assert body["updated_at"] == body["published_at"]
    assert body["comments_open"] is False and body["comment_count"] == 0
    # Sanitized with the one allowlist: no handler, no script, links made absolute.
    assert "onclick" not in body["body_html"] and "script" not in body["body_html"]
    assert f'href="{BASE}/articles/unicode-and-the-moon/more"' not in body["body_html"]
    assert 'href="http://localhost/more"' in body["body_html"]
    assert api.get(f"/api/articles/{body['id']}").json == body


def test_defaults_and_generated_unique_slugs(api, newsroom):
    first = make(api, title="Same title", summary=None)
    second = make(api, title="Same title")
    third = make(api, title="!!!")
    assert (first["slug"], second["slug"], third["slug"]) == (
        "same-title",
        "same-title-2",
        "article",
    )
    assert first["summary"] == "" and first["source"] is None and first["original_url"] is None
    assert first["comments_open"] is True
    assert first["published_at"].endswith("Z")


def test_list_is_paginated_newest_first_with_totals(api, newsroom):
    for day in range(1, 6):
        make(api, title=f"Day {day}", published_at=f"2026-03-0{day}T08:00:00Z")
    page = api.get("/api/articles?per_page=2").json
    assert page["total"] == 5 and page["pages"] == 3 and page["page"] == 1
    assert [a["title"] for a in page["items"]] == ["Day 5", "Day 4"]
    last = api.get("/api/articles?per_page=2&page=3").json
    assert [a["title"] for a in last["items"]] == ["Day 1"]
    beyond = api.get("/api/articles?per_page=2&page=4").json
    assert beyond["items"] == [] and beyond["total"] == 5


@pytest.mark.parametrize("by", ["slug", "id"])
def test_list_filters_by_section_author_source(api, newsroom, by):
    make(api, title="World one", authors=["ada", "bo"])
    make(api, title="Science one", section="science", authors=["bo"], source="wire")
    make(api, title="World two", authors=["cy"])

    def titles(**query):
        ref = {k: (v if by == "slug" else newsroom[v]) for k, v in query.items()}
        qs = "&".join(f"{k}={v}" for k, v in ref.items())
        listing = api.get(f"/api/articles?{qs}").json
        assert listing["total"] == len(listing["items"])
        return sorted(a["title"] for a in listing["items"])

    assert titles(section="world") == ["World one", "World two"]
    assert titles(author="bo") == ["Science one", "World one"]
    assert titles(source="wire") == ["Science one"]
    assert titles(section="world", author="bo") == ["World one"]


def test_patch_changes_only_the_given_fields(api, newsroom):
    article = make(api, authors=["ada", "bo"], original_url="https://example.org/a")
    response = api.patch(f"/api/articles/{article['id']}", json={"summary": "New summary."})
    assert response.status_code == 200
    changed = response.json
    assert changed["summary"] == "New summary."
    for field in ("title", "slug", "body_html", "section", "authors", "original_url", "uid"):
        assert changed[field] == article[field], field
    assert changed["updated_at"] > article["updated_at"]  # what readers see changed


def test_patch_keeps_the_slug_and_the_feed_id_when_the_title_changes(api, newsroom):
    article = make(api)
    changed = api.patch(f"/api/articles/{article['id']}", json={"title": "A new headline"}).json
    assert changed["title"] == "A new headline"
    assert changed["slug"] == article["slug"] and changed["uid"] == article["uid"]
    assert changed["updated_at"] > article["updated_at"]
    moved = api.patch(f"/api/articles/{article['id']}", json={"slug": "new-headline"}).json
    assert moved["url"] == f"{BASE}/articles/new-headline" and moved["uid"] == article["uid"]


def test_coauthor_order_survives_create_and_patch(api, newsroom):
    article = make(api, authors=["cy", "ada", "bo"])
    assert [a["slug"] for a in article["authors"]] == ["cy", "ada", "bo"]
    path = f"/api/articles/{article['id']}"
    reordered = api.patch(path, json={"authors": ["bo", "cy", "ada"]}).json
    assert [a["slug"] for a in reordered["authors"]] == ["bo", "cy", "ada"]
    assert [a["slug"] for a in api.get(path).json["authors"]] == ["bo", "cy", "ada"]
    shrunk = api.patch(path, json={"authors": [newsroom["ada"]]}).json
    assert [a["slug"] for a in shrunk["authors"]] == ["ada"]
    # The feeds show the byline in the same order.
    api.patch(path, json={"authors": ["bo", "ada"]})
    entry = feedparser.parse(api.client.get("/feed.atom").data).entries[0]
    assert [a["name"] for a in entry.authors] == ["Bo Chen", "Ada Lovelace"]


def test_patch_nulls_and_published_at(api, newsroom):
    article = make(api, source="wire", original_url="https://example.org/x")
    path = f"/api/articles/{article['id']}"
    changed = api.patch(
        path,
        json={"source": None, "original_url": None, "section": None,
              "published_at": "2026-01-02T03:04:05Z", "comments_open": False},
    ).json  # fmt: skip
    assert changed["source"] is None and changed["original_url"] is None
    assert changed["section"] is None
    assert changed["published_at"] == "2026-01-02T03:04:05Z"
    assert changed["comments_open"] is False


def _section_feed(client, slug):
    response = client.get(f"/sections/{slug}/feed.atom")
    assert response.status_code == 200
    return response.headers["ETag"], [e.title for e in feedparser.parse(response.data).entries]


def test_patch_section_moves_the_article_between_section_feeds(api, newsroom):
    article = make(api, title="Moving story")
    make(api, title="Staying story", section="science")
    world_etag, world = _section_feed(api.client, "world")
    science_etag, science = _section_feed(api.client, "science")
    assert world == ["Moving story"] and science == ["Staying story"]

    response = api.patch(f"/api/articles/{article['id']}", json={"section": "science"})
    assert response.json["section"]["slug"] == "science"

    new_world_etag, world = _section_feed(api.client, "world")
    new_science_etag, science = _section_feed(api.client, "science")
    assert world == [] and sorted(science) == ["Moving story", "Staying story"]
    assert new_world_etag != world_etag and new_science_etag != science_etag
    # A client holding the old validator gets the new feed, not a 304.
    again = api.client.get("/sections/world/feed.atom", headers={"If-None-Match": world_etag})
    assert again.status_code == 200


def test_delete_article_removes_it_from_every_feed(api, newsroom):
    article = make(api, title="Doomed story", authors=["bo"], source="wire")
    keep = make(api, title="Kept story")
    for path in ("/feed.atom", "/sections/world/feed.atom", "/authors/bo/feed.atom",
                 "/sources/wire/feed.atom"):  # fmt: skip
        assert "Doomed story" in api.client.get(path).get_data(as_text=True)
    response = api.delete(f"/api/articles/{article['id']}")
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers  # no content, no media type
    # Deleted, with its tombstone kept: 410 Gone, not 404 (see api/articles._load).
    gone = api.get(f"/api/articles/{article['id']}")
    assert gone.status_code == 410 and gone.json["error"]["code"] == "gone"
    for path in ("/feed.atom", "/sections/world/feed.atom", "/authors/bo/feed.atom",
                 "/sources/wire/feed.atom", "/feed.rss", "/feed.json"):  # fmt: skip
        assert "Doomed story" not in api.client.get(path).get_data(as_text=True), path
    assert api.get("/api/articles").json["total"] == 1
    assert api.get(f"/api/articles/{keep['id']}").status_code == 200


def _at_once(app, requests: list[tuple[str, str, dict | None]], headers) -> list[int]:
    """Send these (method, path, json) at the same moment, each on its own client; statuses."""
    from tests.races import at_once

    def send(method: str, path: str, body: dict | None):
        client = app.test_client()
        return lambda: client.open(path, method=method, json=body, headers=headers).status_code

    return at_once(*(send(*r) for r in requests))


def test_two_deletions_at_once_leave_one_tombstone(app, api, newsroom, db):
    from feedserver.models import ArticleTombstone

    for n in range(4):
        article = make(api, title=f"Deleted twice {n}")
        path = f"/api/articles/{article['id']}"
        statuses = _at_once(app, [("DELETE", path, None)] * 2, api.headers)
        assert sorted(statuses) == [204, 410]
        with db.session() as s:
            stones = s.scalars(
                select(ArticleTombstone).where(ArticleTombstone.article_id == article["id"])
            ).all()
        assert len(stones) == 1
        feed = api.client.get("/feed.atom").get_data(as_text=True)
        assert feed.count(f'ref="{stones[0].entry_id}"') == 1


def test_an_edit_and_a_deletion_at_once_take_turns(app, api, newsroom, db):
    for n in range(4):
        article = make(api, title=f"Edited and deleted {n}", authors=["bo"])
        path = f"/api/articles/{article['id']}"
        edit = {"title": f"Edited {n}", "authors": ["bo", "ada"]}
        statuses = _at_once(app, [("PATCH", path, edit), ("DELETE", path, None)], api.headers)
        # The deletion always goes through; the edit came first (200) or met a 410.
        assert statuses[1] == 204 and statuses[0] in (200, 410), statuses
        assert api.get(path).status_code == 410


def test_a_deleted_articles_id_is_never_given_again(api, newsroom, db):
    """SQLite gives the largest id + 1; the newest article deleted, its id would come back.

    The API must keep answering 410 for it (and a retried DELETE must not
    delete another article), on both backends, for the ORM's inserts and the
    poller's.
    """
    from feedserver.models.tombstones import new_article_ids

    first = make(api, title="First story")
    newest = make(api, title="Newest story")
    assert api.delete(f"/api/articles/{newest['id']}").status_code == 204
    again = make(api, title="After the deletion")
    assert again["id"] > newest["id"]
    gone = api.delete(f"/api/articles/{newest['id']}")  # a retried DELETE
    assert gone.status_code == 410 and gone.json["error"]["code"] == "gone"
    assert api.get(f"/api/articles/{again['id']}").status_code == 200
    assert api.get(f"/api/articles/{first['id']}").status_code == 200
    # The poller's bulk inserts take their ids from the same place.
    assert api.delete(f"/api/articles/{again['id']}").status_code == 204
    with db.engine.connect() as conn:
        fresh = new_article_ids(conn, 3)
    if db.is_sqlite:
        assert fresh == [again["id"] + 1, again["id"] + 2, again["id"] + 3]
    else:
        assert fresh is None  # sequences never give an id twice


def test_a_deleted_articles_slug_is_not_taken_while_its_tombstone_lives(api, newsroom, db):
    """INTERFACE §8: the page answers 410 Gone while the tombstone is kept."""
    from datetime import timedelta

    from feedserver.models import ArticleTombstone

    doomed = make(api, title="Doomed story", slug="doomed-story")
    assert api.delete(f"/api/articles/{doomed['id']}").status_code == 204
    taken = api.post("/api/articles", json=article_payload(title="New", slug="doomed-story"))
    assert taken.status_code == 409 and taken.json["error"]["fields"] == {"slug": "taken"}
    assert "410 Gone" in taken.json["error"]["message"]
    other = make(api, title="Another")
    moved = api.patch(f"/api/articles/{other['id']}", json={"slug": "doomed-story"})
    assert moved.status_code == 409
    assert api.client.get("/articles/doomed-story").status_code == 410
    with db.session() as s:  # the tombstone's time is up
        for stone in s.query(ArticleTombstone):
            stone.deleted_at -= timedelta(days=31)
    assert make(api, title="Back again", slug="doomed-story")["slug"] == "doomed-story"


# --- sections and authors ---------------------------------------------------------------


def test_section_lifecycle(api):
    created = api.post("/api/sections", json={"name": "Arts & Culture", "description": "Shows."})
    assert created.status_code == 201
    section = created.json
    assert section["slug"] == "arts-and-culture"
    assert section["url"] == f"{BASE}/sections/arts-and-culture"
    assert section["feeds"]["atom"] == f"{BASE}/sections/arts-and-culture/feed.atom"
    assert section["description"] == "Shows." and section["created_at"].endswith("Z")
    assert created.headers["Location"] == f"{BASE}/api/sections/{section['id']}"
    path = f"/api/sections/{section['id']}"
    assert api.get(path).json == section

    changed = api.patch(path, json={"name": "Arts", "slug": "arts"}).json
    assert (changed["name"], changed["slug"], changed["description"]) == ("Arts", "arts", "Shows.")
    assert api.client.get("/sections/arts/feed.atom").status_code == 200

    listing = api.get("/api/sections").json
    assert listing["total"] == 1 and listing["items"][0]["slug"] == "arts"
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.get("/api/sections").json["total"] == 0


def test_section_names_are_unique(api):
    """Two sections named alike would be one to readers, and to OPML's lookup by name."""
    first = api.post("/api/sections", json={"name": "World"}).json
    twice = api.post("/api/sections", json={"name": " world "})
    assert twice.status_code == 409 and twice.json["error"]["code"] == "section_exists"
    assert "'world'" in twice.json["error"]["message"]
    other = api.post("/api/sections", json={"name": "Sport"}).json
    renamed = api.patch(f"/api/sections/{other['id']}", json={"name": "WORLD"})
    assert renamed.status_code == 409
    same = api.patch(f"/api/sections/{first['id']}", json={"name": "World", "description": "x"})
    assert same.status_code == 200  # its own name is no conflict
    bad = api.post("/api/sections", json={"name": "World", "slug": "Not A Slug"})
    assert bad.status_code == 422  # the fields are checked first
    assert api.get("/api/sections").json["total"] == 2


@pytest.mark.parametrize(
    "lookalike",
    ["Business\u200b", "\ufeffBusiness", "ＢＵＳＩＮＥＳＳ", "BUSINESS"],
    ids=["zero-width-space", "bom", "fullwidth", "upper"],
)
def test_names_that_read_alike_are_one_name(api, lookalike):
    assert api.post("/api/sections", json={"name": "Business"}).status_code == 201
    again = api.post("/api/sections", json={"name": lookalike})
    assert again.status_code == 409 and again.json["error"]["code"] == "section_exists"
    assert api.get("/api/sections").json["total"] == 1


def test_casefolding_makes_strasse_one_name(api):
    assert api.post("/api/sections", json={"name": "Hauptstraße"}).status_code == 201
    assert api.post("/api/sections", json={"name": "HAUPTSTRASSE"}).status_code == 409


@pytest.mark.parametrize("name", ["a\u202eb", "News\u2066x\u2069"])
def test_text_that_displays_out_of_order_is_refused(api, name):
    answer = api.post("/api/sections", json={"name": name})
    assert answer.status_code == 422
    assert "bidirectional control character" in answer.json["error"]["fields"]["name"]
    assert (
        api.post("/api/sections", json={"name": "\u05d7\u05d3\u05e9\u05d5\u05ea\u200f"}).status_code
        == 201
    )


def test_a_title_of_invisible_characters_is_empty(api, world):
    answer = api.post("/api/articles", json={"title": "\u200b\u2060", "authors": ["ada"]})
    assert answer.status_code == 422 and "empty" in answer.json["error"]["fields"]["title"]


def test_sections_list_by_name_with_totals(api):
    for name in ("Zoology", "Arts", "Music"):
        api.post("/api/sections", json={"name": name})
    page = api.get("/api/sections?per_page=2").json
    assert [s["name"] for s in page["items"]] == ["Arts", "Music"]
    assert page["total"] == 3 and page["pages"] == 2


def test_author_lifecycle(api):
    created = api.post(
        "/api/authors",
        json={
            "name": "Zoë Ångström",
            "bio": "Writes\nabout light.",
            "homepage": "https://zoe.example",
        },
    )
    assert created.status_code == 201
    author = created.json
    assert author["slug"] == "zoe-angstrom"
    assert author["url"] == f"{BASE}/authors/zoe-angstrom"
    assert author["homepage"] == "https://zoe.example"
    assert author["bio"] == "Writes\nabout light." and author["source"] is None
    path = f"/api/authors/{author['id']}"
    changed = api.patch(path, json={"homepage": None, "bio": ""}).json
    assert (
        changed["homepage"] is None and changed["bio"] == "" and changed["name"] == "Zoë Ångström"
    )
    assert api.get("/api/authors").json["total"] == 1
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_a_bio_written_in_a_browser_keeps_its_paragraphs(api, client):
    # Forms send CRLF line ends; paragraphs are told apart by a blank line.
    created = api.post(
        "/api/authors", json={"name": "Yara Field", "bio": "Yara writes.\r\n\r\nSecond\rpart."}
    ).json
    assert created["bio"] == "Yara writes.\n\nSecond\npart."
    page = client.get("/authors/yara-field").text
    assert "<p>Yara writes.</p>" in page and "Second\npart.</p>" in page


def test_renaming_an_author_changes_the_feeds(api, newsroom):
    make(api, authors=["ada"])
    etag = api.client.get("/feed.atom").headers["ETag"]
    api.patch(f"/api/authors/{newsroom['ada']}", json={"name": "Augusta Ada King"})
    response = api.client.get("/feed.atom", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "Augusta Ada King" in response.get_data(as_text=True)


def test_a_used_section_or_author_cannot_be_deleted(api, newsroom):
    article = make(api, authors=["ada", "bo"])
    response = api.delete(f"/api/sections/{newsroom['world']}")
    assert response.status_code == 409
    assert "still has 1 article" in response.json["error"]["message"]
    response = api.delete(f"/api/authors/{newsroom['bo']}")
    assert response.status_code == 409
    assert "byline of 1 article" in response.json["error"]["message"]
    kept = api.get(f"/api/sections/{newsroom['world']}")
    assert kept.status_code == 200 and kept.json["id"] == newsroom["world"]
    # Once the article is gone, both can go.
    api.delete(f"/api/articles/{article['id']}")
    assert api.delete(f"/api/sections/{newsroom['world']}").status_code == 204
    assert api.delete(f"/api/authors/{newsroom['bo']}").status_code == 204


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer fs_not-a-real-token", "Bearer é"],
)
def test_every_endpoint_wants_a_valid_token(client, newsroom, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path in [
        ("get", "/api/articles"), ("post", "/api/articles"), ("get", "/api/articles/1"),
        ("patch", "/api/articles/1"), ("delete", "/api/articles/1"),
        ("get", "/api/sections"), ("post", "/api/sections"), ("patch", "/api/sections/1"),
        ("delete", "/api/sections/1"), ("get", "/api/authors"), ("post", "/api/authors"),
        ("get", "/api/authors/1"), ("delete", "/api/authors/1"),
    ]:  # fmt: skip
        response = getattr(client, method)(path, headers=headers, json={"name": "x"})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["error"]["code"] in ("unauthorized", "invalid_token")


def test_a_revoked_token_is_refused_and_use_is_recorded(api, db):
    listed = api.get("/api/sections")
    assert listed.status_code == 200 and listed.json["total"] == len(listed.json["items"])
    listed.close()  # as a WSGI server does once the answer is sent: the use is recorded then
    with db.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.last_used_at is not None
        row.revoked_at = row.last_used_at
    response = api.get("/api/sections")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_read_never_waits_for_recording_the_tokens_use(api, db, db_backend, caplog):
    # While another process holds the write lock, the API still reads, and
    # the "last used" time is given up at once (not after the busy time-out,
    # holding the web server's thread): recorded after the answer, best effort.
    import sqlite3
    import time

    if db_backend != "sqlite":
        pytest.skip("SQLite's one write lock")
    path = db.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    caplog.set_level("INFO", logger="feedserver.api.common")
    try:
        started = time.monotonic()
        listed = api.get("/api/sections")
        assert listed.status_code == 200 and listed.json["total"] == len(listed.json["items"])
        listed.close()  # as a WSGI server does once the answer is sent
        assert time.monotonic() - started < 5  # the busy time-out is 30 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "use could not be recorded" in caplog.text
    with db.session() as s:
        assert s.scalar(select(ApiToken)).last_used_at is None
    # With the lock gone, the next request records it.
    again = api.get("/api/sections")
    again.close()
    with db.session() as s:
        assert s.scalar(select(ApiToken)).last_used_at is not None


# --- the OpenAPI document ------------------------------------------------------------------


def test_openapi_document_is_valid_and_describes_every_content_route(client, app):
    validator = pytest.importorskip("openapi_spec_validator")
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validator.validate(document)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/articles", "/api/sections", "/api/authors")):
            continue
        path = rule.rule.replace("<int:ident>", "{id}")
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            assert operation["responses"], (path, method)
            if method != "GET" or "{id}" in path:
                assert any(code in operation["responses"] for code in ("404", "422")), (
                    path,
                    method,
                )


def test_answers_match_their_openapi_schemas(api, client, newsroom):
    # What the server sends is what the document says: every field it marks
    # required is there, with the type it gives; and the inputs it accepts
    # (null for "left out") are inputs the document allows.
    import jsonschema

    document = client.get("/api/openapi.json").json
    schemas = document["components"]["schemas"]

    def check(name, value):
        schema = {**schemas[name], "components": document["components"]}  # for its $refs
        jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)

    section = api.post("/api/sections", json={"name": "Schema desk", "slug": None}).json
    check("Section", section)
    author = api.post("/api/authors", json={"name": "Sam Schema", "bio": None}).json
    check("Author", author)
    payload = {"title": "Checked", "authors": [author["id"]], "summary": None, "slug": None}
    check("ArticleCreate", payload)
    article = api.post("/api/articles", json=payload).json
    check("Article", article)
    check("Article", api.get(f"/api/articles/{article['id']}").json)
    check("ArticleList", api.get("/api/articles").json)
    check("SectionList", api.get("/api/sections").json)
    check("AuthorList", api.get("/api/authors").json)
    for required_object in ("Article", "Section", "Author", "Story"):
        assert {"id", "url"} <= set(schemas[required_object]["required"])
    with pytest.raises(jsonschema.ValidationError):
        check("SourceInput", {"url": "https://x.example/feed", "enabled": True})
    check("SourceInput", {"url": "https://x.example/feed", "section": None})
    check("SourceInput", {"url": "https://x.example/feed", "section": ""})
    # Errors: a deleted article's 410 names when; every operation may meet an outage.
    assert api.delete(f"/api/articles/{article['id']}").status_code == 204
    gone = api.get(f"/api/articles/{article['id']}")
    assert gone.status_code == 410 and "deleted_at" in gone.json["error"]
    check("Error", gone.json)
    assert "deleted_at" in schemas["Error"]["properties"]["error"]["properties"]
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method in ("get", "post", "patch", "delete"):
                assert "503" in operation["responses"], (method, operation.get("summary"))


def test_an_upstream_article_without_authors_keeps_its_source_or_gains_authors(api, db):
    # An upstream entry that named no author has no byline while it is the
    # source's; taking the source away leaves it the newsroom's, which names
    # its authors (INTERFACE §5: "authors — one or more").
    from tests.factories import make_article, make_section, make_source

    with db.session() as s:
        source = make_source(s, name="Wire", feed_url="https://wire.example/feed")
        ident = make_article(
            s, section=make_section(s), source=source, authors=[], upstream_key="w-1"
        ).id
    assert api.patch(f"/api/articles/{ident}", json={"summary": "Fine."}).status_code == 200
    refused = api.patch(f"/api/articles/{ident}", json={"source": None})
    assert refused.status_code == 422
    assert "names at least one author" in refused.json["error"]["message"]
    kept = api.get(f"/api/articles/{ident}").json
    assert kept["source"] is not None and kept["summary"] == "Fine."
    author = api.post("/api/authors", json={"name": "Desk Writer"}).json
    moved = api.patch(f"/api/articles/{ident}", json={"source": None, "authors": [author["id"]]})
    assert moved.status_code == 200 and [a["id"] for a in moved.json["authors"]] == [author["id"]]


def test_articles_created_at_once_by_two_writers_both_get_ids(api, newsroom, db):
    """SQLite: both writers read the same largest id, and the second INSERT was a 409.

    One session flushes its new article and keeps its transaction open (as a
    poller storing a feed does); another writer's article must wait for it,
    then take the next id, not fail.
    """
    import threading

    from tests.factories import make_article

    if not db.is_sqlite:
        pytest.skip("PostgreSQL's sequences give every writer its own id")
    holder = db.sessions()
    holder.begin()
    held = make_article(holder, title="Stored by the poller")
    answers = []
    other = threading.Thread(target=lambda: answers.append(make(api, title="Written meanwhile")))
    other.start()
    other.join(1.0)
    assert other.is_alive()  # waiting for the write lock, as it must
    holder.commit()
    holder.close()
    other.join(30)
    assert answers and answers[0]["id"] == held.id + 1
    assert api.get(f"/api/articles/{held.id}").json["title"] == "Stored by the poller"
