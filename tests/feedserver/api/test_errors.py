"""The content API's refusals: each error status, and never a 500 for any input.

Every failed request must leave the database as it was.
"""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.feedserver.api_support import article_payload, counts


def error(response, status):
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    body = response.json["error"]
    assert body["code"] and body["message"]
    return body


# --- 415, 400, 413 ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/articles", "/api/sections", "/api/authors"])
def test_a_body_that_is_not_json_is_415(api, newsroom, db, path):
    before = counts(db)
    error(api.post(path, data={"title": "x"}), 415)
    error(api.post(path, data="title=x", content_type="text/plain"), 415)
    error(api.post(path, data=b""), 415)
    assert counts(db) == before


MALFORMED = {
    "truncated": b"{",
    "syntax": b'{"title": }',
    "array": b"[1, 2]",
    "string": b'"a string"',
    "null": b"null",
    "bom-garbage": b"\xff\xfe{}",
    "bad-utf8": b'{"title": "\xc3"}',
    "deep-array": b"[" * 50_000 + b"]" * 50_000,
    "deep-object": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "huge-int": b"1" * 5000,
    "nan": b'{"title": NaN}',  # Python's decoder takes these three; JSON has none of them
    "infinity": b'{"title": "x", "page": Infinity}',
    "minus-infinity": b'{"title": -Infinity}',
    "empty": b"",
    "duplicate-key": b'{"name": "World", "name": "Sport"}',  # which one? (RFC 8259 §4)
    "nested-duplicate": b'{"name": "x", "authors": [{"a": 1, "a": 2}]}',
}


def test_an_oversized_chunked_body_is_413_not_400(api, newsroom, app, db):
    # No Content-Length (Transfer-Encoding: chunked): Werkzeug stops reading
    # at the limit without a word, and the cut JSON was answered 400.
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(article_payload(body_html="x" * limit)).encode()
    before = counts(db)
    response = api.post(
        "/api/articles",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},  # as granian and gunicorn set it
    )
    assert "1,048,576 bytes" in error(response, 413)["message"]
    assert counts(db) == before
    # A chunked body within the limit is read as usual.
    small = json.dumps(article_payload(title="Chunked and fine")).encode()
    response = api.post(
        "/api/articles",
        input_stream=io.BytesIO(small),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},  # as granian and gunicorn set it
    )
    assert response.status_code == 201, response.data[:300]
    assert response.json["title"] == "Chunked and fine"


class _BrokenChunks:
    """gunicorn's chunked reader on a malformed chunk: it raises its own error."""

    def read(self, *size):
        from gunicorn.http.errors import ChunkMissingTerminator

        raise ChunkMissingTerminator(b"def")

    readline = read


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/healthz"), ("get", "/"), ("get", "/api/sections"), ("post", "/api/sections"),
     ("post", "/websub")],
)  # fmt: skip
def test_a_malformed_chunked_body_is_a_400_not_a_500(api, newsroom, db, method, path):
    # Under gunicorn every route Flask answered gave a 500: the site's body
    # check reads a chunked body, and gunicorn's reader raises on a bad chunk.
    before = counts(db)
    response = getattr(api, method)(
        path,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True, "wsgi.input": _BrokenChunks()},
    )
    assert response.status_code == 400, response.data[:300]
    assert b"not well-formed chunked data" in response.data
    assert counts(db) == before


def test_malformed_json_is_400(api, newsroom, db):
    before = counts(db)
    for name, raw in MALFORMED.items():
        for method, path in (("post", "/api/articles"), ("post", "/api/sections"),
                             ("post", "/api/authors"), ("patch", f"/api/sections/{newsroom['world']}")):  # fmt: skip
            response = getattr(api, method)(path, data=raw, content_type="application/json")
            body = error(response, 400)
            assert body["code"] == "malformed_json", (name, path)
            if name.endswith(("nan", "infinity")):
                assert "is not a JSON value" in body["message"], body
            if name.endswith("duplicate-key"):
                assert "twice in one object" in body["message"], body
            if name in ("null", "array", "string"):
                assert "must be a JSON object" in body["message"], body
    assert counts(db) == before


def test_an_oversized_body_is_413_json(api, newsroom, app, db):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(article_payload(body_html="x" * limit)).encode()
    before = counts(db)
    response = api.post("/api/articles", data=body, content_type="application/json")
    assert error(response, 413)["code"] == "payload_too_large"
    assert counts(db) == before


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_413_on_routes_that_read_none(api, newsroom, app, db, chunked):
    # DELETE and GET read no body, yet one over the limit is refused before
    # anything is done (README: "with a Content-Length or sent chunked").
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b"x" * (limit + 10)
    headers = {"Content-Type": "application/json"}
    extra = {}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        extra = {"environ_overrides": {"wsgi.input_terminated": True}}
    section = api.post("/api/sections", json={"name": "Doomed desk"}).json
    before = counts(db)
    for method, path in (
        ("delete", f"/api/sections/{section['id']}"),
        ("get", "/api/sections"),
        ("get", "/api/sources/export"),
    ):
        response = getattr(api, method)(
            path, input_stream=io.BytesIO(body), headers=headers, **extra
        )
        assert "1,048,576 bytes" in error(response, 413)["message"], (method, path)
    assert counts(db) == before
    assert api.get(f"/api/sections/{section['id']}").status_code == 200  # not deleted


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "GZIP"])
def test_a_body_with_a_content_coding_is_415(api, newsroom, db, coding):
    # The body is read as sent: one declared compressed is never taken for
    # plain JSON (nor a compressed one answered "malformed").
    before = counts(db)
    plain = json.dumps({"name": "Coded desk"}).encode()
    response = api.post(
        "/api/sections",
        data=plain,
        headers={"Content-Type": "application/json", "Content-Encoding": coding},
    )
    assert "without a content coding" in error(response, 415)["message"]
    assert counts(db) == before
    identity = api.post(
        "/api/sections",
        data=plain,
        headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
    )
    assert identity.status_code == 201


def test_lone_surrogates_in_what_is_quoted_back_become_replacement_characters(api, newsroom):
    # I-JSON (RFC 7493 §2.1): an error must not carry "\ud800" back, or
    # strict clients cannot read it.
    response = api.post(
        "/api/sections",
        data=b'{"\\ud800": 1, "name": "x"}',
        content_type="application/json",
    )
    body = error(response, 422)
    assert "\ud800" not in response.get_data(as_text=True)
    assert "\\ud800" not in response.get_data(as_text=True)
    assert "\ufffd" in body["message"] and "\ufffd" in body["fields"]
    response.data.decode("utf-8")  # strictly valid UTF-8 (raises otherwise)


def test_bad_list_parameters_are_400(api, newsroom):
    for query in ("page=0", "page=-1", "page=abc", "per_page=0", "per_page=101", "per_page=1e3",
                  "page=99999999999999999999", "section=nope", "author=99999999999999999999",
                  "source=-1"):  # fmt: skip
        error(api.get(f"/api/articles?{query}"), 400)


# --- 404, 405 ------------------------------------------------------------------------------


def test_unknown_ids_are_404(api, newsroom):
    for kind in ("articles", "sections", "authors"):
        for ident in ("0", "424242", "2147483648", "99999999999999999999", "-1", "x1"):
            for method in ("get", "patch", "delete"):
                response = getattr(api, method)(f"/api/{kind}/{ident}", json={})
                assert error(response, 404)["code"] == "not_found", (method, kind, ident)


def test_an_id_is_written_in_ascii_digits_without_leading_zeros(api, newsroom, client, db):
    # Werkzeug's int converter matches every script's digits: section 1 also
    # answered at /api/sections/١ (Arabic-Indic) and ０ (full-width), and at 0001.
    ident = newsroom["world"]
    assert api.get(f"/api/sections/{ident}").status_code == 200
    for spelt in ("\u0661", "\uff11", "\u0967", f"0{ident}", f"000{ident}"):
        if spelt.isascii() or ident == 1:
            for method in ("get", "patch", "delete"):
                response = getattr(api, method)(f"/api/sections/{quote(spelt)}", json={})
                assert error(response, 404)["code"] == "not_found", (method, spelt)
    assert api.get(f"/api/sections/{ident}").json["name"] == "World"  # nothing deleted


def test_a_wrong_method_is_405_json(api):
    response = api.client.put("/api/articles", headers=api.headers, json={})
    assert error(response, 405)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


# --- 409 ---------------------------------------------------------------------------------


def test_a_taken_slug_is_409(api, newsroom, db):
    first = api.post("/api/articles", json=article_payload(slug="scoop")).json
    second = api.post("/api/articles", json=article_payload(title="Other")).json
    before = counts(db)
    body = error(api.post("/api/articles", json=article_payload(slug="scoop")), 409)
    assert "scoop" in body["message"] and body["fields"] == {"slug": "taken"}
    error(api.patch(f"/api/articles/{second['id']}", json={"slug": "scoop"}), 409)
    # Its own slug is not "taken".
    assert api.patch(f"/api/articles/{first['id']}", json={"slug": "scoop"}).status_code == 200
    error(api.post("/api/sections", json={"name": "Another", "slug": "world"}), 409)
    error(api.patch(f"/api/sections/{newsroom['science']}", json={"slug": "world"}), 409)
    error(api.post("/api/authors", json={"name": "Ada Again", "slug": "ada"}), 409)
    error(api.patch(f"/api/authors/{newsroom['bo']}", json={"slug": "ada"}), 409)
    assert counts(db) == before


# --- 422 ---------------------------------------------------------------------------------

HUGE = 10**30
ARTICLE_422 = {
    "no title": ({"title": None}, "title"),
    "title missing": ({"title": ...}, "title"),
    "empty title": ({"title": ""}, "title"),
    "blank title": ({"title": "   \t "}, "title"),
    "long title": ({"title": "x" * 501}, "title"),
    "title number": ({"title": 42}, "title"),
    "title object": ({"title": {"$gt": ""}}, "title"),
    "title list": ({"title": ["a"]}, "title"),
    "title NUL": ({"title": "a\x00b"}, "title"),
    "title newline": ({"title": "a\nb"}, "title"),
    "title surrogate": ({"title": "\ud800"}, "title"),
    "long summary": ({"summary": "x" * 5001}, "summary"),
    "summary NUL": ({"summary": "\x00"}, "summary"),
    "summary noncharacter": ({"summary": "a\ufffeb"}, "summary"),
    "title noncharacter": ({"title": "a\U0010ffff"}, "title"),
    "long body": ({"body_html": "x" * 1_000_001}, "body_html"),
    # Within the limit as sent, past it once cleaned ("&" is stored as "&amp;").
    "body long once cleaned": ({"body_html": "&" * 300_000}, "body_html"),
    "body number": ({"body_html": 1.5}, "body_html"),
    "authors missing": ({"authors": ...}, "authors"),
    "authors empty": ({"authors": []}, "authors"),
    "authors null": ({"authors": None}, "authors"),
    "authors string": ({"authors": "ada"}, "authors"),
    "authors object": ({"authors": {"0": "ada"}}, "authors"),
    "authors unknown": ({"authors": ["ada", "nobody"]}, "authors"),
    "authors twice": ({"authors": ["ada", "ada"]}, "authors"),
    "authors bool": ({"authors": [True]}, "authors"),
    "authors float": ({"authors": [1.0]}, "authors"),
    "authors huge id": ({"authors": [HUGE]}, "authors"),
    "authors negative": ({"authors": [-1]}, "authors"),
    "authors nested": ({"authors": [["ada"]]}, "authors"),
    "authors 10k": ({"authors": ["ada"] * 10_000}, "authors"),
    "section unknown": ({"section": "nope"}, "section"),
    "section huge": ({"section": HUGE}, "section"),
    "section zero": ({"section": 0}, "section"),
    "section object": ({"section": {"id": 1}}, "section"),
    "section empty": ({"section": ""}, "section"),
    "section long": ({"section": "a" * 5000}, "section"),
    "source unknown": ({"source": "nope"}, "source"),
    "source bool": ({"source": False}, "source"),
    "url javascript": ({"original_url": "javascript:alert(1)"}, "original_url"),
    "url ftp": ({"original_url": "ftp://example.org/x"}, "original_url"),
    "url relative": ({"original_url": "/story"}, "original_url"),
    "url no host": ({"original_url": "https:///path"}, "original_url"),
    "url bad port": ({"original_url": "https://example.org:99999/"}, "original_url"),
    "url bad ipv6": ({"original_url": "http://[::1/"}, "original_url"),
    "url space": ({"original_url": "https://exa mple.org/"}, "original_url"),
    "url long": ({"original_url": "https://example.org/" + "a" * 2000}, "original_url"),
    "url number": ({"original_url": 7}, "original_url"),
    "url credentials": ({"original_url": "https://user:pw@ok.example/"}, "original_url"),
    "url user": ({"original_url": "https://user@ok.example/"}, "original_url"),
    "time garbage": ({"published_at": "yesterday"}, "published_at"),
    "time naive": ({"published_at": "2026-03-01T10:00:00"}, "published_at"),
    "time date only": ({"published_at": "2026-03-01"}, "published_at"),
    "time feb 30": ({"published_at": "2026-02-30T10:00:00Z"}, "published_at"),
    "time hour 24": ({"published_at": "2026-02-01T24:00:00Z"}, "published_at"),
    "time year 0001": ({"published_at": "0001-01-01T00:00:00Z"}, "published_at"),
    "time number": ({"published_at": 1700000000}, "published_at"),
    # Feeds cannot carry these (the W3C validator's "Implausible date"); found by the audit.
    "time 1975": ({"published_at": "1975-05-01T10:00:00Z"}, "published_at"),
    "time epoch": ({"published_at": "1970-01-01T00:00:00Z"}, "published_at"),
    "time 2100": ({"published_at": "2100-01-01T00:00:00Z"}, "published_at"),
    "time tomorrow": (
        {"published_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        "published_at",
    ),
    "time null": ({"published_at": None}, "published_at"),
    "time long": ({"published_at": "2026-03-01T10:00:00" + "0" * 100 + "Z"}, "published_at"),
    "comments string": ({"comments_open": "yes"}, "comments_open"),
    "comments int": ({"comments_open": 1}, "comments_open"),
    "slug spaces": ({"slug": "Hello World"}, "slug"),
    "slug upper": ({"slug": "Hello"}, "slug"),
    "slug double hyphen": ({"slug": "a--b"}, "slug"),
    "slug long": ({"slug": "a" * 121}, "slug"),
    "slug number": ({"slug": 5}, "slug"),
    "slug unicode": ({"slug": "café"}, "slug"),
    "unknown field": ({"headline": "x"}, "headline"),
    "read-only field": ({"id": 5}, "id"),
}


def _payload(change):
    body = article_payload()
    for key, value in change.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def test_invalid_article_fields_are_422_and_change_nothing(api, newsroom, db):
    before = counts(db)
    article = api.post("/api/articles", json=article_payload()).json
    path = f"/api/articles/{article['id']}"
    after_create = counts(db)
    assert after_create != before
    for case, (change, field) in ARTICLE_422.items():
        body = error(api.post("/api/articles", json=_payload(change)), 422)
        assert field in body["fields"], (case, body)
        assert field in body["message"], case
        if ... not in change.values():  # PATCH gives only the bad field
            body = error(api.patch(path, json=change), 422)
            assert field in body["fields"], (case, body)
    assert counts(db) == after_create
    assert api.get(path).json == article


def test_every_bad_field_is_named_at_once(api, newsroom):
    body = error(
        api.post("/api/articles", json={"title": "", "authors": [], "colour": "red", "foo": 1}), 422
    )
    assert set(body["fields"]) == {"title", "authors", "colour", "foo"}


def test_a_failed_patch_changes_nothing(api, newsroom, db):
    article = api.post("/api/articles", json=article_payload(authors=["ada", "bo"])).json
    path = f"/api/articles/{article['id']}"
    for change in (
        {"title": "Good title", "authors": ["nobody"]},
        {"summary": "Fine", "section": "nowhere"},
        {"title": "Fine", "slug": "Bad Slug"},
        {"authors": ["cy"], "published_at": "soon"},
        {"title": "Good", "authors": []},
    ):
        error(api.patch(path, json=change), 422)
        assert api.get(path).json == article
    api.post("/api/articles", json=article_payload(slug="taken"))
    error(api.patch(path, json={"title": "Changed", "slug": "taken"}), 409)
    assert api.get(path).json == article


TAXONOMY_422 = [
    ({"name": ""}, "name"), ({"name": None}, "name"), ({"name": "x" * 201}, "name"),
    ({"name": ["x"]}, "name"), ({"name": "a\x00"}, "name"), ({"name": " \n "}, "name"),
    ({"slug": "No Good"}, "slug"), ({"slug": ""}, "slug"), ({"nickname": "x"}, "nickname"),
    ({"description": 5}, "description"), ({"description": "x" * 5001}, "description"),
    ({"bio": {"x": 1}}, "bio"), ({"bio": "x" * 10_001}, "bio"),
    ({"homepage": "javascript:x"}, "homepage"), ({"homepage": 5}, "homepage"),
    ({"homepage": "https://user:pw@ok.example/"}, "homepage"),
    ({"url": "https://example.org/"}, "url"),
]  # fmt: skip


def test_invalid_section_and_author_fields_are_422(api, newsroom, db):
    before = counts(db)
    for kind, ident in (("sections", newsroom["world"]), ("authors", newsroom["ada"])):
        for change, field in TAXONOMY_422:
            # A field of the other kind (bio on a section) is an unknown field: 422 too.
            response = api.post(f"/api/{kind}", json={"name": "Valid", **change})
            assert field in error(response, 422)["fields"], (kind, change)
            response = api.patch(f"/api/{kind}/{ident}", json=change)
            assert field in error(response, 422)["fields"], (kind, change)
    assert counts(db) == before
    assert api.get(f"/api/sections/{newsroom['world']}").json["name"] == "World"


def test_author_url_is_read_only_with_a_hint(api):
    body = error(api.post("/api/authors", json={"name": "X", "url": "https://x.example"}), 422)
    assert "homepage" in body["fields"]["url"]


def test_a_name_is_required_for_sections_and_authors(api):
    for kind in ("sections", "authors"):
        body = error(api.post(f"/api/{kind}", json={"slug": "no-name"}), 422)
        assert body["fields"] == {"name": "is required"}


def test_names_written_as_markup_are_refused_and_plain_ones_kept(api, newsroom, client):
    # Section and author names are plain text in feeds (Atom <name>, category
    # labels, subtitles): "</b>" or "&amp;" drew the W3C validator's "should
    # not contain HTML" there (found by the audit).
    for kind in ("sections", "authors"):
        for name in ("R&amp;D", "<b>Bold</b>", "Zoë </em> O'Brien", "it&#8217;s"):
            body = error(api.post(f"/api/{kind}", json={"name": name}), 422)
            assert body["fields"]["name"].startswith("must be plain text"), (kind, name)
    ok = api.post("/api/authors", json={"name": "AT&T <3 Research & Zoë", "slug": "att"})
    assert ok.status_code == 201 and ok.json["name"] == "AT&T <3 Research & Zoë"
    renamed = api.patch(f"/api/sections/{newsroom['world']}", json={"name": "World </b>"})
    assert error(renamed, 422)["fields"]["name"].startswith("must be plain text")
    assert api.get(f"/api/sections/{newsroom['world']}").json["name"] == "World"


def test_an_author_name_holding_an_e_mail_address_is_refused(api, newsroom):
    # "Pat Doe <pat@example.com>" is no tag, so it passed, and drew the W3C
    # validator's ContainsEmail warning on every feed's <author><name> (found by an audit).
    for name in ("Pat Doe <pat@example.com>", "pat.doe+news@mail.example.org"):
        body = error(api.post("/api/authors", json={"name": name}), 422)
        assert body["fields"]["name"].startswith("must not contain an e-mail address"), name
    assert api.post("/api/authors", json={"name": "Pat @ Doe Co."}).status_code == 201
    # A section may be named after an address (it is no person's <name>).
    assert api.post("/api/sections", json={"name": "Tips via tips@news.example"}).status_code == 201


def test_a_section_description_is_plain_text_in_and_out(api, db, client, newsroom):
    # It is the section feed's RSS description and Atom subtitle, plain text by
    # definition: markup there drew the validator's "should not contain HTML".
    body = error(api.post("/api/sections", json={"name": "R", "description": "Odd <b>x</b>"}), 422)
    assert body["fields"]["description"].startswith("must be plain text")
    ok = api.post("/api/sections", json={"name": "Q", "description": "Tips & <3 to\n\nus"})
    assert ok.status_code == 201 and ok.json["description"] == "Tips & <3 to\n\nus"
    from feedserver.models import Section

    with db.session() as s:  # what an older version stored as it came
        s.get(Section, newsroom["world"]).description = "Odd <b>desc</b> &amp; stuff"
        s.commit()
    from tests.factories import make_article

    with db.session() as s:
        make_article(s, slug="in-world", section=s.get(Section, newsroom["world"]))
    rss = client.get("/sections/world/feed.rss").text
    atom = client.get("/sections/world/feed.atom").text
    assert "<description>Odd desc &#x26; stuff</description>" in rss
    assert ">Odd desc &amp; stuff</subtitle>" in atom and "&lt;b&gt;" not in atom


# --- never a 500 ----------------------------------------------------------------------------


def _hostile_values(rng: random.Random):
    """Values of every JSON type, and strings and numbers that break naive code."""
    atoms = [
        None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 1.5, 1e308, -0.0,
        "", " ", "a", "ada", "world", "1", "0", "-1", "99999999999999999999", "\x00", "\ud800",
        "\u202e", "a" * 5000, "<script>alert(1)</script>", "'; DROP TABLE articles; --",
        "%", "_", "../../etc/passwd", "javascript:alert(1)", "https://example.org/",
        "2026-03-01T10:00:00Z", "9999-12-31T23:59:59Z", "2026-13-01T00:00:00Z",
    ]  # fmt: skip
    value = rng.choice(atoms)
    roll = rng.random()
    if roll < 0.15:
        return [value, rng.choice(atoms)]
    if roll < 0.25:
        return {"k": value, "id": rng.choice(atoms)}
    if roll < 0.3:
        return [[[value]]]
    return value


ARTICLE_KEYS = ["title", "slug", "summary", "body_html", "section", "authors", "source",
                "original_url", "published_at", "comments_open", "id", "url", ""]  # fmt: skip
TAXONOMY_KEYS = ["name", "slug", "description", "bio", "homepage", "url", "id"]


def test_hostile_input_never_gets_a_500(api, newsroom):
    rng = random.Random(20261124)  # deterministic: a failure reproduces
    article = api.post("/api/articles", json=article_payload()).json
    targets = [
        ("post", "/api/articles", ARTICLE_KEYS),
        ("patch", f"/api/articles/{article['id']}", ARTICLE_KEYS),
        ("post", "/api/sections", TAXONOMY_KEYS),
        ("patch", f"/api/sections/{newsroom['science']}", TAXONOMY_KEYS),
        ("post", "/api/authors", TAXONOMY_KEYS),
        ("patch", f"/api/authors/{newsroom['cy']}", TAXONOMY_KEYS),
    ]
    for _ in range(60):
        for method, path, keys in targets:
            body = {key: _hostile_values(rng) for key in rng.sample(keys, rng.randint(1, 5))}
            if rng.random() < 0.5 and "articles" in path:
                body.setdefault("title", "A title")
                body.setdefault("authors", ["ada"])
            raw = json.dumps(body, allow_nan=True)
            response = getattr(api, method)(path, data=raw, content_type="application/json")
            assert response.status_code < 500, (method, path, raw[:300], response.data[:300])
            assert response.mimetype == "application/json"


def test_hostile_query_strings_never_get_a_500(api, newsroom):
    for query in ("section=%00", "author=%ff%fe", "source=" + "9" * 500, "page=%00",
                  "section=ada&section=world", "per_page=%ef%bf%bd", "section=" + "a" * 5000):  # fmt: skip
        response = api.get(f"/api/articles?{query}")
        assert response.status_code < 500, query


def test_refused_token_says_why_and_oversized_body_names_the_limit(client, app, api):
    """RFC 6750 §3 error="invalid_token"; a 413 says how large a body may be."""
    refused = client.get("/api/articles", headers={"Authorization": "Bearer fs_not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="feedserver", error="invalid_token"'
    missing = client.get("/api/articles")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="feedserver"'
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = api.post(
        "/api/articles",
        data=b"{" + b" " * (limit + 10) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert big.json["error"]["code"] == "payload_too_large"
    assert f"{limit:,} bytes" in big.json["error"]["message"]


def test_a_reference_of_the_wrong_type_reads_right(api, newsroom):
    body = error(api.post("/api/articles", json=_payload({"authors": [True], "section": 1.5})), 422)
    assert body["fields"]["authors"] == "entry 1: must be the id or slug of an author"
    assert body["fields"]["section"] == "must be the id or slug of a section"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0001-01-01T00:00:00Z", "must lie between 1990-01-01 and now"),  # well formed, too early
        ("9999-12-31T23:59:59Z", "must lie between 1990-01-01 and now"),  # … too late
        ("1989-12-31T23:59:59+05:30", "must lie between 1990-01-01 and now"),
        ("2026-03-01T10:00:00", "must be an RFC 3339 time with an offset"),  # no offset
        ("yesterday", "must be an RFC 3339 time with an offset"),
    ],
)
def test_a_time_out_of_range_says_so_and_a_malformed_one_says_that(api, newsroom, value, says):
    body = error(api.post("/api/articles", json=article_payload(published_at=value)), 422)
    assert says in body["fields"]["published_at"], body
