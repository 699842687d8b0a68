"""The editing operations the API and the admin share, and their building blocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from feedserver.comments.text import check_website
from feedserver.content import editing
from feedserver.content.deletion import delete_article
from feedserver.content.slugs import is_valid_slug, slugify, unique_slug
from feedserver.content.validation import Fields, parse_time, text_problem, url_problem
from feedserver.errors import Conflict, Unprocessable
from feedserver.models import Article, ArticleAuthor, Section
from feedserver.urls import UrlProblem, http_url_problem
from tests.factories import make_article, make_author, make_section, make_source

SITE = "https://news.example"

# --- pure functions (no database) -------------------------------------------------------


@pytest.mark.parametrize(
    "text, slug",
    [
        ("Hello, World!", "hello-world"),
        ("  --Already-slugged--  ", "already-slugged"),
        ("Ünïcode & Straße", "unicode-and-strasse"),
        ("Łódź — Øresund", "lodz-oresund"),
        ("東京", "item"),
        ("", "item"),
        ("2026: the year", "2026-the-year"),
    ],
)
def test_slugify(text, slug):
    assert slugify(text) == slug
    assert is_valid_slug(slug)


def test_slugify_cuts_long_text_at_a_word_boundary():
    slug = slugify("word " * 100, max_length=50)
    assert len(slug) <= 50 and is_valid_slug(slug) and slug.endswith("word")
    assert slugify("x" * 300, max_length=20) == "x" * 20


@pytest.mark.parametrize(
    "value, ok",
    [("a", True), ("a-b-1", True), ("a" * 120, True), ("a" * 121, False), ("-a", False),
     ("a-", False), ("a--b", False), ("A", False), ("a b", False), ("é", False), ("", False)],
)  # fmt: skip
def test_is_valid_slug(value, ok):
    assert is_valid_slug(value) is ok


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01t10:00:00z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01 10:00:00+02:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01T10:00:00.123456789-01:30", datetime(2026, 3, 1, 11, 30, 0, 123456, UTC)),
        ("2026-03-01T10:00:00", None),  # no offset
        ("2026-03-01", None),
        ("20260301T100000Z", None),  # ISO 8601 basic form, not RFC 3339
        ("2026-02-29T10:00:00Z", None),  # not a leap year
        ("2026-03-01T10:00:60Z", None),
        ("1969-12-31T23:59:59Z", None),
        ("2026-03-01T10:00:00+24:00", None),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "url, ok",
    [("https://example.org/a?b=c#d", True), ("HTTP://EXAMPLE.ORG", True),
     ("http://[::1]:8080/", True), ("https://example.org:99999/", False),
     ("javascript:alert(1)", False), ("data:text/html,x", False), ("//example.org/", False),
     ("/relative", False), ("https://", False), ("https://exa\tmple.org", False),
     ("https://example.org/\x00", False), ("http://[::1/", False)],
)  # fmt: skip
def test_url_problem(url, ok):
    assert (url_problem(url) is None) is ok


def test_text_problem():
    assert text_problem("fine ünïcode", multiline=False) is None
    assert text_problem("two\nlines\ttab", multiline=True) is None
    assert "control" in text_problem("two\nlines", multiline=False)
    assert "NUL" in text_problem("a\x00", multiline=True)
    assert "Unicode" in text_problem("\udfff", multiline=True)
    assert "control" in text_problem("bell\x07", multiline=True)


def test_fields_gathers_every_problem_in_one_error():
    check = Fields({"a": 1, "b": "x" * 11, "zzz": True}, {"a", "b", "c"})
    check.text("a", max_length=10)
    check.text("b", max_length=10)
    check.text("c", max_length=10, required=True)
    with pytest.raises(Unprocessable) as caught:
        check.done()
    fields = caught.value.details["fields"]
    assert set(fields) == {"a", "b", "c", "zzz"}
    assert fields["zzz"] == "is not a field of this object"
    assert "at most 10" in fields["b"]


def test_fields_names_at_most_twenty_unknown_fields():
    check = Fields({f"f{i}": i for i in range(1000)}, set())
    assert len(check.errors) == 20


# --- operations on the database ----------------------------------------------------------


def test_unique_slug_counts_up_past_taken_ones(db):
    with db.session() as s:
        make_section(s, slug="news")
        make_section(s, slug="news-2")
        make_section(s, slug="news-flash")
        assert unique_slug(s, Section, "News") == "news-3"
        assert unique_slug(s, Section, "Sport") == "sport"
        own = s.scalar(select(Section).where(Section.slug == "news"))
        assert unique_slug(s, Section, "News", exclude_id=own.id) == "news"


def test_create_article_accepts_a_datetime_and_sets_bylines(db):
    published = datetime(2026, 5, 1, 9, 30, 0, 123, tzinfo=UTC)
    with db.session() as s:
        ada, bo = make_author(s), make_author(s)
        section = make_section(s)
        article = editing.create_article(
            s,
            {"title": "Story", "authors": [bo.slug, ada.id], "section": section.id,
             "published_at": published},
            site_url=SITE,
        )  # fmt: skip
        assert article.authors == [bo, ada]
        assert [b.published_at for b in article.bylines] == [published, published]
        assert article.updated_at == published and article.slug == "story"
    with db.session() as s:
        stored = s.scalar(select(Article))
        assert stored.published_at == published
        assert [b.author_id for b in stored.bylines] == [bo.id, ada.id]


def test_update_article_moves_published_at_into_the_bylines(db):
    later = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as s:
        article = make_article(s, authors=[make_author(s), make_author(s)])
        editing.update_article(s, article, {"published_at": "2025-01-01T00:00:00Z"}, site_url=SITE)
    with db.session() as s:
        links = s.scalars(select(ArticleAuthor)).all()
        assert [link.published_at for link in links] == [later, later]


def test_body_html_is_sanitized_against_the_article_url(db):
    with db.session() as s:
        article = editing.create_article(
            s,
            {"title": "Links", "authors": [make_author(s).id], "slug": "links",
             "body_html": '<p><a href="more">more</a><img src="javascript:x"><iframe></iframe></p>'},
            site_url=SITE,
        )  # fmt: skip
        assert 'href="https://news.example/articles/more"' in article.body_html
        assert "javascript" not in article.body_html and "iframe" not in article.body_html
        editing.update_article(
            s, article, {"body_html": "<b>bold</b><script>x</script>"}, site_url=SITE
        )
        assert article.body_html == "<b>bold</b>"


def test_saving_rolls_back_everything_on_error(db):
    with db.session() as s:
        make_section(s, slug="taken")
    session = db.sessions()
    with pytest.raises(Unprocessable), editing.saving(session):
        session.add(Section(slug="fresh", name="Fresh"))
        session.flush()
        editing.create_section(session, {"name": ""})
    # A race that only the database notices becomes a 409, and nothing stays.
    with pytest.raises(Conflict), editing.saving(session):
        session.add(Section(slug="other", name="Other"))
        session.add(Section(slug="taken", name="Twin"))
    session.close()
    with db.session() as s:
        assert s.scalars(select(Section.slug)).all() == ["taken"]


def test_delete_section_and_author_refuse_while_used(db):
    with db.session() as s:
        section, author = make_section(s), make_author(s)
        article = make_article(s, section=section, authors=[author])
        with pytest.raises(Conflict, match="still has 1 article"):
            editing.delete_section(s, section)
        with pytest.raises(Conflict, match="byline of 1 article"):
            editing.delete_author(s, author)
        delete_article(s, article)
        editing.delete_section(s, section)
        editing.delete_author(s, author)
        assert s.scalar(select(Section)) is None


def test_author_web_address_field_name(db):
    with db.session() as s:
        # The admin calls it "url" (the model's name); the API passes url_field="homepage".
        plain = editing.create_author(s, {"name": "Plain", "url": "https://plain.example"})
        assert plain.url == "https://plain.example"
        api_style = editing.create_author(
            s, {"name": "Api", "homepage": "https://api.example"}, url_field="homepage"
        )
        assert api_style.url == "https://api.example"
        with pytest.raises(Unprocessable) as caught:
            editing.update_author(s, api_style, {"url": "https://x.example"}, url_field="homepage")
        assert "homepage" in caught.value.details["fields"]["url"]


def test_source_reference_and_section_null(db):
    with db.session() as s:
        source = make_source(s)
        article = editing.create_article(
            s,
            {"title": "Wire copy", "authors": [make_author(s).slug], "source": source.slug},
            site_url=SITE,
        )
        assert article.source is source and article.section is None


def test_bylines_rewritten_by_a_concurrent_request_are_a_409_not_a_500(db):
    """Two requests change an article's authors at once: the later flush finds the rows gone."""
    with db.session() as s:
        article = make_article(s)
        a, b, c = make_author(s), make_author(s), make_author(s)
        editing.update_article(s, article, {"authors": [a.id, b.id]}, site_url=SITE)
        ident, ids = article.id, (a.id, b.id, c.id)
    first = db.sessions()
    try:
        mine = first.get(Article, ident)
        assert len(mine.bylines) == 2  # loaded before the other request commits
        with db.session() as other:  # the other request wins
            editing.update_article(
                other, other.get(Article, ident), {"authors": [ids[2]]}, site_url=SITE
            )
        with pytest.raises(Conflict, match="at the same time"), editing.saving(first):
            editing.update_article(first, mine, {"authors": [ids[1], ids[0]]}, site_url=SITE)
    finally:
        first.close()
    with db.session() as s:  # the winner's change stands, whole
        authors = s.scalars(
            select(ArticleAuthor.author_id).where(ArticleAuthor.article_id == ident)
        ).all()
        assert authors == [ids[2]]


def test_a_section_name_a_concurrent_request_took_is_a_409(db, monkeypatch):
    """Both requests passed the name check; the database refuses the second (uq_sections_name)."""
    with db.session() as s, editing.saving(s):
        editing.create_section(s, {"name": "Weather"})
    monkeypatch.setattr(editing, "_name_free", lambda *_a, **_k: None)  # it checked before
    with (
        db.session() as s,
        pytest.raises(Conflict, match="at the same time"),
        editing.saving(s),
    ):
        editing.create_section(s, {"name": "WEATHER"})
    with db.session() as s:
        assert s.scalars(select(Section.name).where(Section.slug.like("weather%"))).all() == [
            "Weather"
        ]


@pytest.mark.parametrize("problem", list(UrlProblem))
def test_every_url_problem_has_its_words_wherever_urls_are_given(problem):
    # A reason added to feedserver.urls without its words here was a KeyError:
    # an API article or author with "https://user:pw@host/" was a 500.
    url = {
        UrlProblem.TOO_LONG: "https://example.org/" + "a" * 3000,
        UrlProblem.SPACES: "https://exa mple.org/",
        UrlProblem.MALFORMED: "https://example.org:99999/",
        UrlProblem.NOT_HTTP: "ftp://example.org/",
        UrlProblem.CREDENTIALS: "https://user:pw@example.org/",
    }[problem]
    assert http_url_problem(url, 2000) is problem
    assert url_problem(url).startswith(("must", "is not"))
    assert check_website(url).startswith("Website")
