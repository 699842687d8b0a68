"""A form that makes something makes it once: double clicks, reloads, two tabs.

Each create form carries a one-time key (feedserver.admin.once). Sent again,
sequentially or at the same moment, the form is answered with what the first
sending made, and nothing is made twice.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from feedserver.models import ApiToken, Article, Author, FormSubmission, Section
from tests.factories import make_author, make_section
from tests.feedserver.admin_support import sign_in


def _key(page: str) -> str:
    match = re.search(r'name="once" type="hidden" value="([A-Za-z0-9_-]+)"', page)
    assert match, "the form carries a one-time key"
    return match.group(1)


def _count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _article_form(db, key: str, title: str = "Moon base opens") -> dict[str, str]:
    with db.session() as s:
        section = make_section(s, name=f"World {title}").id
        author = make_author(s, name=f"Ada {title}").id
    return {
        "once": key,
        "title": title,
        "summary": "A short summary.",
        "body_html": "<p>Hello</p>",
        "section": str(section),
        "authors-0": str(author),
        "comments_open": "y",
        "submit": "Save article",
    }


def test_each_new_form_has_its_own_key_and_no_duplicate_ids(admin):
    first, second = (admin.get("/admin/articles/new").text for _ in range(2))
    assert _key(first) != _key(second)
    sources = admin.get("/admin/sources/").text
    ids = re.findall(r'\bid="([^"]+)"', sources)
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert 'for="opml-section"' in sources and 'id="opml-section"' in sources


def test_an_article_form_sent_twice_makes_one_article(admin, db):
    data = _article_form(db, _key(admin.get("/admin/articles/new").text))
    first = admin.post("/admin/articles/new", data=data)
    assert first.status_code == 302
    again = admin.post("/admin/articles/new", data=data)  # a reload of the answer
    assert again.status_code == 302 and again.location == first.location
    page = admin.get(again.location).text
    assert "This form had already been sent" in page and "Moon base opens" in page
    with db.session() as s:
        assert s.scalars(select(Article.title)).all() == ["Moon base opens"]
    # A new form (a new key) makes a new article, even with the same fields.
    data["once"] = _key(admin.get("/admin/articles/new").text)
    assert admin.post("/admin/articles/new", data=data).status_code == 302
    assert _count(db, Article) == 2


def test_a_form_sent_without_a_key_still_makes_what_it_says(admin, db):
    data = _article_form(db, "")
    del data["once"]
    assert admin.post("/admin/articles/new", data=data).status_code == 302
    assert admin.post("/admin/articles/new", data=data).status_code == 302
    assert _count(db, Article) == 2


@pytest.mark.parametrize("key", ["x" * 65, "<script>", "a b", "ключ", "abc\n"])
def test_a_damaged_key_is_a_form_error_not_a_500(admin, db, key):
    data = _article_form(db, key, title=f"Damaged {len(key)}")
    response = admin.post("/admin/articles/new", data=data)
    assert response.status_code == 422
    assert "This form is damaged; open it again." in response.text
    assert "<script>" not in response.text
    assert _count(db, Article) == 0


def test_a_validation_error_does_not_use_up_the_key(admin, db):
    data = _article_form(db, _key(admin.get("/admin/articles/new").text))
    bad = dict(data, title="")
    assert admin.post("/admin/articles/new", data=bad).status_code == 422
    assert admin.post("/admin/articles/new", data=data).status_code == 302
    assert _count(db, Article) == 1


def test_a_token_form_reloaded_does_not_make_a_second_token(admin, db):
    data = {"once": _key(admin.get("/admin/tokens/").text), "label": "CMS sync"}
    first = admin.post("/admin/tokens/", data=data)
    assert first.status_code == 200 and 'id="new-token"' in first.text
    again = admin.post("/admin/tokens/", data=data)
    assert again.status_code == 302 and again.location.endswith("/admin/tokens/")
    page = admin.get(again.location).text
    assert "its token was made then" in page and 'id="new-token"' not in page
    assert _count(db, ApiToken) == 1


@pytest.mark.parametrize(("path", "model"), [("sections", Section), ("authors", Author)])
def test_a_taxonomy_form_sent_twice_makes_one(admin, db, path, model):
    data = {"once": _key(admin.get(f"/admin/{path}/new").text), "name": "Science"}
    assert admin.post(f"/admin/{path}/new", data=data).status_code == 302
    again = admin.post(f"/admin/{path}/new", data=data)
    assert again.status_code == 302 and again.location.endswith(f"/admin/{path}/")
    assert "This form had already been sent" in admin.get(again.location).text
    with db.session() as s:
        assert s.scalars(select(model.slug)).all() == ["science"]


def test_a_double_click_sent_at_the_same_moment_makes_one_article(admin, app, db):
    from tests.races import at_once

    other = app.test_client()  # the second request of one browser: same session
    other.set_cookie(
        "session", admin.get_cookie("session").value, domain=admin.get_cookie("session").domain
    )
    for n in range(4):
        data = _article_form(db, _key(admin.get("/admin/articles/new").text), title=f"Race {n}")
        answers = at_once(
            lambda data=data: admin.post("/admin/articles/new", data=data),
            lambda data=data: other.post("/admin/articles/new", data=data),
        )
        assert [a.status_code for a in answers] == [302, 302], [a.text[:300] for a in answers]
        assert answers[0].location == answers[1].location
        with db.session() as s:
            assert s.scalars(select(Article.title).where(Article.title == f"Race {n}")).all() == [
                f"Race {n}"
            ]


def test_old_keys_are_forgotten(admin, db):
    from datetime import timedelta

    from feedserver.models import utcnow

    data = {"once": _key(admin.get("/admin/sections/new").text), "name": "Old"}
    assert admin.post("/admin/sections/new", data=data).status_code == 302
    with db.session() as s:
        s.execute(FormSubmission.__table__.update().values(created_at=utcnow() - timedelta(days=3)))
        s.commit()
    data = {"once": _key(admin.get("/admin/sections/new").text), "name": "New"}
    assert admin.post("/admin/sections/new", data=data).status_code == 302
    with db.session() as s:
        assert s.scalars(select(FormSubmission.target)).all() == ["/admin/sections/"]
        assert s.scalar(select(func.count()).select_from(FormSubmission)) == 1


def test_someone_elses_key_makes_nothing_of_theirs_visible(admin, app, db):
    from tests.feedserver.admin_support import make_user

    data = {"once": _key(admin.get("/admin/sections/new").text), "name": "Mine"}
    assert admin.post("/admin/sections/new", data=data).status_code == 302
    make_user(db, "second-editor")
    other = app.test_client()
    assert sign_in(other, "second-editor").status_code == 302
    response = other.post("/admin/sections/new", data=dict(data, name="Theirs"))
    # The key is taken by another user: a conflict, shown on the form; nothing made.
    assert response.status_code == 409 or response.status_code == 422, response.text[:300]
    assert "already been sent" not in response.text
    with db.session() as s:
        assert s.scalars(select(Section.name)).all() == ["Mine"]
