"""Sections and authors in the admin: list, create, edit, delete — and refusing to delete one in use."""

from __future__ import annotations

from sqlalchemy import select

from feedserver.models import Author, Section
from tests.factories import make_article, make_author, make_section


def test_create_list_edit_delete_a_section(admin, db):
    response = admin.post(
        "/admin/sections/new", data={"name": "Science & Space", "description": "Stars."}
    )
    assert response.status_code == 302
    page = admin.get("/admin/sections/").text
    assert "Science &amp; Space" in page
    assert "science-and-space" in page
    assert "The section “Science &amp; Space” was created." in page
    with db.session() as s:
        section = s.scalar(select(Section).where(Section.slug == "science-and-space"))
        ident = section.id
    form = admin.get(f"/admin/sections/{ident}/edit").text
    assert 'value="Science &amp; Space"' in form
    response = admin.post(
        f"/admin/sections/{ident}/edit", data={"name": "Space", "slug": "space", "description": ""}
    )
    assert response.status_code == 302
    with db.session() as s:
        section = s.get(Section, ident)
        assert (section.name, section.slug, section.description) == ("Space", "space", "")
    assert admin.post(f"/admin/sections/{ident}/delete").status_code == 302
    assert "was deleted" in admin.get("/admin/sections/").text
    with db.session() as s:
        assert s.get(Section, ident) is None


def test_section_with_articles_is_not_deleted(admin, db):
    with db.session() as s:
        section = make_section(s, name="World")
        make_article(s, section=section)
        ident = section.id
    page = admin.get("/admin/sections/").text
    assert "In use" in page
    response = admin.post(f"/admin/sections/{ident}/delete", follow_redirects=True)
    assert "was not deleted" in response.text
    assert "still has 1 article" in response.text
    with db.session() as s:
        assert s.get(Section, ident) is not None


def test_author_with_bio_and_byline_guard(admin, db):
    response = admin.post(
        "/admin/authors/new",
        data={"name": "Ada Lovelace", "bio": "Writes on engines.", "url": "https://ada.example/"},
    )
    assert response.status_code == 302
    with db.session() as s:
        author = s.scalar(select(Author).where(Author.slug == "ada-lovelace"))
        assert author.bio == "Writes on engines."
        assert author.url == "https://ada.example/"
        make_article(s, authors=[author])
        ident = author.id
    response = admin.post(f"/admin/authors/{ident}/delete", follow_redirects=True)
    assert "was not deleted" in response.text
    assert "byline of 1 article" in response.text
    edit = admin.post(
        f"/admin/authors/{ident}/edit",
        data={"name": "Ada King", "slug": "ada-lovelace", "bio": "New bio.", "url": ""},
    )
    assert edit.status_code == 302
    with db.session() as s:
        author = s.get(Author, ident)
        assert (author.name, author.bio, author.url) == ("Ada King", "New bio.", None)


def test_taken_slug_is_shown_on_the_form(admin, db):
    with db.session() as s:
        make_section(s, slug="world", name="World")
    response = admin.post("/admin/sections/new", data={"name": "World again", "slug": "world"})
    assert response.status_code == 422
    assert "already taken" in response.text
    assert 'value="World again"' in response.text  # the input comes back


def test_missing_name_and_bad_slug(admin):
    response = admin.post("/admin/authors/new", data={"name": "", "slug": "Not A Slug!"})
    assert response.status_code == 422
    assert "This field is required." in response.text
    assert "lowercase letters and digits" in response.text
    assert 'value="Not A Slug!"' in response.text


def test_unknown_ids_are_404(admin):
    for path in ("/admin/sections/999/edit", "/admin/authors/99999999999/edit"):
        assert admin.get(path).status_code == 404
    assert admin.post("/admin/sections/4294967296/delete").status_code == 404


def test_upstream_author_is_marked(admin, db):
    from tests.factories import make_source

    with db.session() as s:
        source = make_source(s, name="Wire Service")
        make_author(s, name="Upstream Person", source=source)
    assert "Wire Service" in admin.get("/admin/authors/").text
