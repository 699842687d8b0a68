"""The shared web rules: page numbers, paging, lookups by id or slug, URL checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from feedserver.errors import BadRequest, NotFound
from feedserver.models import Section
from feedserver.urls import UrlProblem, http_url_problem
from feedserver.web import MAX_ID, MAX_PAGE, find_by_ref, get_or_404, paginate, parse_page
from tests.factories import make_section


def test_parse_page_reads_whole_numbers_in_range() -> None:
    assert parse_page(None) == 1
    assert parse_page(None, default=20) == 20
    assert parse_page("7") == 7
    assert parse_page(str(MAX_PAGE)) == MAX_PAGE
    for bad in ("0", "-1", "1.5", "x", "", "٣", str(MAX_PAGE + 1), "9" * 5000):
        with pytest.raises(BadRequest) as caught:
            parse_page(bad)
        assert "page must be a whole number from 1 to 100000" in caught.value.message
    with pytest.raises(BadRequest) as caught:
        parse_page("101", name="per_page", top=100)
    assert caught.value.message == "per_page must be a whole number from 1 to 100, not '101'."


@given(st.text(max_size=50))
def test_parse_page_is_a_number_in_range_or_a_400(raw: str) -> None:
    try:
        page = parse_page(raw)
    except BadRequest:
        return
    assert 1 <= page <= MAX_PAGE and str(page) == raw.lstrip("0")


def test_paginate_counts_and_slices(db) -> None:
    with db.session() as s:
        for n in range(5):
            make_section(s, slug=f"s{n}", name=f"S{n}")
    with db.session() as s:
        query = select(Section).where(Section.slug.like("s%")).order_by(Section.slug)
        second = paginate(s, query, 2, 2)
        assert [r.slug for r in second.items] == ["s2", "s3"]
        assert (second.number, second.per_page, second.total, second.pages) == (2, 2, 5, 3)
        assert paginate(s, query, 9, 2).items == []
        assert paginate(s, select(Section).where(Section.slug == "none"), 1, 2).pages == 1


def test_a_slug_of_digits_is_found_as_that_slug_and_a_number_as_an_id(db) -> None:
    """Text is a slug first: "2" names the section whose slug is "2", not the one with id 2."""
    with db.session() as s:
        first = make_section(s, slug="world", name="World").id
        digits = make_section(s, slug=str(first), name="Numbered").id
    with db.session() as s:
        assert find_by_ref(s, Section, str(first)).id == digits  # the slug, as the page says
        assert find_by_ref(s, Section, first).id == first  # a JSON number is an id
        assert find_by_ref(s, Section, str(digits)).id == digits  # no such slug: the id


def test_lookups_by_id_or_slug(db) -> None:
    with db.session() as s:
        world = make_section(s, slug="world", name="World")
        ident = world.id
    with db.session() as s:
        assert find_by_ref(s, Section, ident).slug == "world"
        assert find_by_ref(s, Section, str(ident)).slug == "world"
        assert find_by_ref(s, Section, "world").id == ident
        for ref in (None, True, "", 0, -1, MAX_ID + 1, "9" * 40, "no\x00pe", "World", 1.5):
            assert find_by_ref(s, Section, ref) is None
        assert get_or_404(s, Section, ident).slug == "world"
        for bad in (0, -3, MAX_ID, MAX_ID + 1, 10**30):
            with pytest.raises(NotFound) as caught:
                get_or_404(s, Section, bad)
            assert caught.value.message == f"No section with id {bad}."


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.org/a", None),
        ("http://example.org:8080/", None),
        ("ftp://example.org/", UrlProblem.NOT_HTTP),
        ("javascript:alert(1)", UrlProblem.NOT_HTTP),
        ("/relative", UrlProblem.NOT_HTTP),
        ("http://", UrlProblem.NOT_HTTP),
        ("http://[::1", UrlProblem.MALFORMED),
        ("http://example.org:99999/", UrlProblem.MALFORMED),
        ("http://exa mple.org/", UrlProblem.SPACES),
        ("http://example.org/\x00", UrlProblem.SPACES),
        ("http://example.org/\ud800", UrlProblem.SPACES),
        ("http://example.org/" + "a" * 2000, UrlProblem.TOO_LONG),
        ("https://user:pass@evil.example\\@good.example/", UrlProblem.MALFORMED),
        ('https://evil.example/"onmouseover="x', UrlProblem.MALFORMED),
        ("https://evil.example/<b>", UrlProblem.MALFORMED),
        ("https://ex\u202eample.org/", UrlProblem.MALFORMED),  # a bidi override
        ("https://user:pass@example.org/", UrlProblem.CREDENTIALS),
        ("https://example.org/fonts?family=A|B&x={1}", None),  # seen in the wild
        ("https://example.org/it's", None),
    ],
)
def test_http_url_problem(url: str, problem: UrlProblem | None) -> None:
    assert http_url_problem(url) is problem


@given(st.text(max_size=300))
def test_any_text_is_judged_without_an_exception(value: str) -> None:
    problem = http_url_problem(value)
    assert problem is None or isinstance(problem, UrlProblem)


@pytest.mark.parametrize("kind", ["integrity", "stale", "deadlock", "bug"])
def test_a_race_no_service_caught_is_a_409_a_bug_a_500(app, kind):
    """The last guard: a lost race is the client's to retry; anything else is ours."""
    import psycopg.errors
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.orm.exc import StaleDataError

    raised = {
        "integrity": IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed")),
        "stale": StaleDataError("expected to update 2 row(s); 1 were matched"),
        "deadlock": OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected()),
        "bug": KeyError("oops"),
    }[kind]

    def racing():
        raise raised

    app.add_url_rule("/api/_race", "race", racing)
    app.add_url_rule("/_race", "race_page", racing)
    client = app.test_client()
    api, page = client.get("/api/_race"), client.get("/_race")
    if kind == "bug":
        assert api.status_code == page.status_code == 500
        assert api.json["error"]["code"] == "internal_error"
    else:
        assert api.status_code == page.status_code == 409
        assert api.json["error"]["code"] == "conflict"
        assert "try again" in api.json["error"]["message"]
        assert page.mimetype == "text/html" and b"try again" in page.data
