"""Hostile input in every admin form field: shown back escaped, refused with a message, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from feedserver.models import Article, Author, Section, Source
from tests.factories import make_author, make_section, make_source
from tests.feedserver.admin_support import (
    make_user,
)

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "nul": "a\x00b",
    "control": "bell\x07 and escape\x1b[31m",
    "oversize": "A" * 20_000,
    "unicode": "\u202eevil\u200b😀 \ufeff",
    "sql": "'; DROP TABLE articles; --",
    "template": "{{ config.SECRET_KEY }}{% raw %}",
    "number": "-99999999999999999999",
}
RAW = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")

# form path -> (a valid submission, the fields to spoil one at a time)
FORMS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "/admin/sections/new": ({"name": "Fine", "description": ""}, ("name", "slug", "description")),
    "/admin/authors/new": ({"name": "Fine"}, ("name", "slug", "url", "bio")),
    "/admin/articles/new": (
        {"title": "Fine", "section": "{section}", "authors-0": "{author}", "submit": "Save"},
        (
            "title",
            "slug",
            "summary",
            "body_html",
            "section",
            "authors-0",
            "source",
            "original_url",
            "published_at",
        ),
    ),
    "/admin/sources/add": ({"url": "https://203.0.113.9/feed"}, ("url", "section")),
    "/admin/sources/{source}/edit": (
        {"name": "Fine"},
        ("name", "section", "poll_interval"),
    ),
    "/admin/sources/{source}/delete": ({}, ("articles",)),
    "/admin/tokens/": ({"label": "Fine"}, ("label",)),
    "/admin/comments/1/status": ({}, ("status",)),
}
CASES = [(path, field) for path, (_, fields) in FORMS.items() for field in fields]


@pytest.fixture
def rows(db):
    with db.session() as s:
        return {
            "section": str(make_section(s).id),
            "author": str(make_author(s).id),
            "source": str(make_source(s, feed_url="https://feeds.example/f.xml").id),
        }


def _counts(db):
    with db.session() as s:
        return [s.scalar(select(func.count()).select_from(m)) for m in (Section, Author, Article)]


@pytest.mark.parametrize("path, field", CASES, ids=[f"{p}:{f}" for p, f in CASES])
def test_hostile_field(admin, db, rows, path, field):
    valid, _ = FORMS[path]
    for kind, value in HOSTILE.items():
        data = {k: v.format(**rows) for k, v in valid.items()}
        data[field] = value
        response = admin.post(path.format(**rows), data=data)
        where = f"{field}={kind}"
        assert response.status_code < 500, (where, response.text[:500])
        assert response.status_code in (200, 302, 400, 404, 413, 422), where
        body = response.get_data(as_text=True)
        for raw in RAW:
            assert raw not in body, where
        assert "test-secret-key" not in body, where
        if response.status_code in (400, 422) and "<form" in body and field != "status":
            # The input comes back (escaped) next to a message saying what is wrong.
            assert "error-text" in body or "form-errors" in body, where


@pytest.mark.parametrize("path", ["/admin/articles/new", "/admin/sections/new", "/admin/tokens/"])
def test_oversized_request_is_a_clean_413(admin, db, path):
    before = _counts(db)
    response = admin.post(path, data={"name": "x", "title": "x", "body_html": "B" * 1_200_000})
    assert response.status_code == 413
    assert "too much" in response.text.lower()
    assert _counts(db) == before


def test_stored_hostile_text_is_escaped_everywhere(admin, db):
    with db.session() as s:
        make_section(s, name=HOSTILE["attribute"], description=HOSTILE["script"])
        make_source(s, name=HOSTILE["script"], feed_url="https://f.example/x", last_error=RAW[1])
    for path in ("/admin/", "/admin/sections/", "/admin/sources/", "/admin/articles/new"):
        body = admin.get(path).text
        for raw in RAW:
            assert raw not in body, path


@pytest.mark.parametrize(
    "query",
    [
        {"q": HOSTILE["attribute"]},
        {"q": "%_\\"},
        {"q": "x" * 5000},
        {"section": "1 OR 1=1"},
        {"author": "99999999999999"},
        {"page": "-1"},
        {"page": "99999999999"},
        {"health": "<b>"},
        {"status": "<b>"},
    ],
)
def test_hostile_query_strings(admin, query):
    for path in ("/admin/articles/", "/admin/sources/", "/admin/comments/"):
        response = admin.get(path, query_string=query)
        assert response.status_code in (200, 400), (path, query)
        assert RAW[1] not in response.text


def test_hostile_sign_in(client, db):
    make_user(db)
    for value in HOSTILE.values():
        response = client.post("/admin/login", data={"name": value, "password": value})
        assert response.status_code == 422
        assert RAW[0] not in response.text and RAW[1] not in response.text


def test_hostile_next_parameter(client):
    response = client.get("/admin/login", query_string={"next": HOSTILE["attribute"]})
    assert response.status_code == 200
    assert RAW[1] not in response.text


def test_counts_unchanged_by_refused_sources(admin, db):
    admin.post("/admin/sources/add", data={"url": HOSTILE["script"]})
    with db.session() as s:
        assert s.scalar(select(func.count(Source.id))) == 0
