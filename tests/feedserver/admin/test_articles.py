"""Articles in the admin: a searchable list with paging, create with a byline, edit, preview, delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from feedserver.models import Article
from tests.factories import make_article, make_author, make_section, make_source


def _arrange(db):
    with db.session() as s:
        section = make_section(s, name="World")
        ada = make_author(s, name="Ada Lovelace")
        bo = make_author(s, name="Bo Chen")
        source = make_source(s, name="Wire")
        return section.id, ada.id, bo.id, source.id


def _form(section, authors, **kw):
    data = {
        "title": "Moon base opens",
        "summary": "A short summary.",
        "body_html": "<p>Hello <b>moon</b></p>",
        "section": str(section),
        "original_url": "",
        "source": "",
        "published_at": "",
        "comments_open": "y",
        "submit": "Save article",
    }
    for n, author in enumerate(authors):
        data[f"authors-{n}"] = str(author)
    data.update(kw)
    return data


def test_create_with_byline_in_order_and_sanitized_body(admin, db):
    section, ada, bo, source = _arrange(db)
    data = _form(
        section,
        [bo, ada],
        body_html='<p onclick="x()">Hi</p><script>alert(1)</script><a href="javascript:x">l</a>',
        source=str(source),
        original_url="https://wire.example/story",
        published_at="2026-03-01T09:30:15",
    )
    response = admin.post("/admin/articles/new", data=data)
    assert response.status_code == 302, response.text
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.slug == "moon-base-opens"))
        assert [a.name for a in article.authors] == ["Bo Chen", "Ada Lovelace"]
        assert "<script" not in article.body_html
        assert "onclick" not in article.body_html
        assert "javascript:" not in article.body_html
        assert article.source_id == source
        assert article.original_url == "https://wire.example/story"
        assert article.published_at == datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
        ident = article.id
    page = admin.get(response.headers["Location"]).text
    assert "was published" in page
    assert "Moon base opens" in page
    # The public feed has it with the byline in order.
    feed = admin.get("/feed.rss").text
    assert "Moon base opens" in feed
    assert "Bo Chen and Ada Lovelace" in feed
    assert ident


def test_edit_keeps_time_and_changes_fields(admin, db):
    section, ada, bo, _ = _arrange(db)
    with db.session() as s:
        published = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        article = make_article(
            s, section_id=section, authors=[make_author(s)], published_at=published
        )
        ident = article.id
    form = admin.get(f"/admin/articles/{ident}/edit").text
    assert 'value="2026-01-02T03:04:05"' in form
    response = admin.post(
        f"/admin/articles/{ident}/edit",
        data=_form(section, [ada], title="A new title", published_at="2026-01-02T03:04:05"),
    )
    assert response.status_code == 302
    with db.session() as s:
        article = s.get(Article, ident)
        assert article.title == "A new title"
        assert article.published_at == published  # microseconds kept: the time was not changed
        assert [a.id for a in article.authors] == [ada]


def test_an_upstream_article_without_a_byline_can_be_edited(admin, db):
    # An upstream entry that named no author has no byline: it is saved
    # without one (as the API allows), not refused until a newsroom author is
    # credited with the source's work. A new article still needs an author.
    section, ada, _, source = _arrange(db)
    with db.session() as s:
        ident = make_article(
            s, section_id=section, source_id=source, authors=[], upstream_key="wire-9"
        ).id
    form = admin.get(f"/admin/articles/{ident}/edit")
    assert form.status_code == 200
    saved = admin.post(
        f"/admin/articles/{ident}/edit",
        data=_form(section, [], summary="An editor's summary.", source=str(source)),
    )
    assert saved.status_code == 302, saved.text
    with db.session() as s:
        article = s.get(Article, ident)
        assert (article.summary, article.authors) == ("An editor's summary.", [])
    credited = admin.post(
        f"/admin/articles/{ident}/edit", data=_form(section, [ada], source=str(source))
    )
    assert credited.status_code == 302
    with db.session() as s:
        assert [a.id for a in s.get(Article, ident).authors] == [ada]
    # Without its source it would be the newsroom's own: that needs an author.
    with db.session() as s:
        make_article(s, section_id=section, source_id=source, authors=[], upstream_key="w-8")
        orphan = s.scalar(select(Article.id).where(Article.upstream_key == "w-8"))
    unsourced = admin.post(f"/admin/articles/{orphan}/edit", data=_form(section, [], source=""))
    assert unsourced.status_code == 422 and "Choose at least one author." in unsourced.text
    # Once it has a byline, emptying it is refused as for any article.
    emptied = admin.post(
        f"/admin/articles/{ident}/edit", data=_form(section, [], source=str(source))
    )
    assert emptied.status_code == 422
    assert "Choose at least one author." in emptied.text


def test_authors_of_the_same_name_are_told_apart_in_the_byline_choices(admin, db):
    with db.session() as s:
        make_section(s, name="World")
        one = make_author(s, name="Zed Plain", slug="zed-plain")
        two = make_author(s, name="Zed Plain", slug="zed-plain-2")
        make_author(s, name="Una Only", slug="una")
        one_id, two_id = one.id, two.id
    page = admin.get("/admin/articles/new").text
    assert f'<option value="{one_id}">Zed Plain (zed-plain)</option>' in page
    assert f'<option value="{two_id}">Zed Plain (zed-plain-2)</option>' in page
    assert ">Una Only</option>" in page


def test_preview_shows_the_sanitized_body_without_saving(admin, db):
    section, ada, _, _ = _arrange(db)
    data = _form(section, [ada], body_html="<p>Preview me</p><script>alert(1)</script>")
    data.pop("submit")
    data["preview"] = "Preview"
    response = admin.post("/admin/articles/new", data=data)
    assert response.status_code == 200
    assert "Preview — not saved yet" in response.text
    assert "<p>Preview me</p>" in response.text
    assert "<script>alert(1)</script>" not in response.text
    with db.session() as s:
        assert s.scalar(select(Article)) is None


def test_errors_reshow_the_input(admin, db):
    section, _, _, _ = _arrange(db)
    response = admin.post(
        "/admin/articles/new",
        data=_form(section, [], title="<b>Bold</b> & brave", original_url="ftp://x"),
    )
    assert response.status_code == 422
    assert "Choose at least one author." in response.text
    assert "http:// or https://" in response.text or "full web address" in response.text
    assert 'value="&lt;b&gt;Bold&lt;/b&gt; &amp; brave"' in response.text


def test_list_search_filter_and_paging(admin, db):
    with db.session() as s:
        world = make_section(s, name="World")
        other = make_section(s, name="Other")
        writer = make_author(s, name="Writer")
        for n in range(30):
            make_article(s, title=f"Daily story {n}", section=world, authors=[writer])
        make_article(s, title="100% sure_thing", section=other)
    page = admin.get("/admin/articles/").text
    assert "31 articles" in page
    assert "Page 1 of 2" in page
    assert "Page 2 of 2" in admin.get("/admin/articles/?page=2").text
    found = admin.get("/admin/articles/", query_string={"q": "100%"}).text
    assert "1 article match" in found and "100% sure_thing" in found
    none = admin.get("/admin/articles/", query_string={"q": "1%0"}).text
    assert "No article matches." in none
    by_section = admin.get("/admin/articles/", query_string={"section": other.id}).text
    assert "1 article match" in by_section
    by_author = admin.get("/admin/articles/", query_string={"author": writer.id}).text
    assert "30 articles match" in by_author
    for bad in ("abc", "0"):
        refused = admin.get(f"/admin/articles/?page={bad}")
        assert refused.status_code == 400
        assert f"page must be a whole number from 1 to 100000, not &#39;{bad}&#39;" in refused.text
    ignored = admin.get("/admin/articles/?section=xyz")  # not a section id: no filter
    assert ignored.status_code == 200 and "31 articles" in ignored.text


def test_delete(admin, db):
    with db.session() as s:
        ident = make_article(s, title="Doomed").id
    response = admin.post(f"/admin/articles/{ident}/delete", follow_redirects=True)
    assert "The article “Doomed” was deleted." in response.text
    with db.session() as s:
        assert s.get(Article, ident) is None
    # Named again while its tombstone is kept: 410 Gone, as its page and the API say.
    again = admin.post(f"/admin/articles/{ident}/delete")
    assert again.status_code == 410 and "was deleted on" in again.text
    assert admin.get(f"/admin/articles/{ident}/edit").status_code == 410
    assert admin.get("/admin/articles/999999/edit").status_code == 404


def test_delete_asks_first_and_says_what_goes(admin, db):
    from tests.factories import make_comment

    with db.session() as s:
        article = make_article(s, title="Doomed <b>twice</b>")
        make_comment(s, article)
        make_comment(s, article, status="pending")
        ident = article.id
    edit = admin.get(f"/admin/articles/{ident}/edit").text
    assert f'href="/admin/articles/{ident}/delete"' in edit
    assert f'action="/admin/articles/{ident}/delete"' not in edit  # no one-click deletion
    page = admin.get(f"/admin/articles/{ident}/delete")
    assert page.status_code == 200
    assert "Delete the article “Doomed &lt;b&gt;twice&lt;/b&gt;”?" in page.text
    assert "<strong>2</strong> comments are deleted with it" in page.text
    assert f'action="/admin/articles/{ident}/delete"' in page.text
    assert 'name="csrf_token"' in page.text
    with db.session() as s:
        assert s.get(Article, ident) is not None  # asking deletes nothing
    assert admin.get("/admin/articles/999999/delete").status_code == 404


def _edit_and_delete_at_once(editor, deleter, ident: int, data: dict) -> dict[str, int]:
    from tests.races import at_once

    edited, deleted = at_once(
        lambda: editor.post(f"/admin/articles/{ident}/edit", data=data).status_code,
        lambda: deleter.post(f"/admin/articles/{ident}/delete").status_code,
    )
    return {"edit": edited, "delete": deleted}


def test_an_edit_racing_a_deletion_is_never_a_500(admin, app, db):
    # Sent at once, the edit and the deletion take turns: the edit is saved
    # and then deleted, or meets the deletion's 410 (it met a deleted row: 500).
    from tests.feedserver.admin_support import sign_in

    section, ada, bo, _ = _arrange(db)
    other = app.test_client()
    assert sign_in(other).status_code == 302
    for n in range(4):
        with db.session() as s:
            ident = make_article(s, section_id=section, authors=[make_author(s)]).id
        data = _form(section, [ada, bo], title=f"Edited {n}")
        statuses = _edit_and_delete_at_once(admin, other, ident, data)
        assert statuses["delete"] == 302 and statuses["edit"] in (302, 410), statuses
        with db.session() as s:
            assert s.get(Article, ident) is None


def _edited_from(page: str) -> str:
    match = re.search(r'name="edited_from" type="hidden" value="([0-9a-f]+)"', page) or re.search(
        r'id="edited_from" name="edited_from" type="hidden" value="([0-9a-f]+)"', page
    )
    assert match, "the edit form carries what it was filled from"
    return match.group(1)


def test_a_save_over_someone_elses_change_is_refused_not_silently_undone(admin, db):
    # Two tabs (or two editors): the form sends every field, so the second save
    # put the old title back over the first one's, and both said "saved".
    section, ada, _, _ = _arrange(db)
    with db.session() as s:
        ident = make_article(s, title="Double submit test", section_id=section, authors=[]).id
    edit = f"/admin/articles/{ident}/edit"
    tab_a = _edited_from(admin.get(edit).text)
    tab_b = _edited_from(admin.get(edit).text)
    assert tab_a == tab_b
    saved = admin.post(edit, data=_form(section, [ada], title="Edited in tab A", edited_from=tab_a))
    assert saved.status_code == 302
    refused = admin.post(
        edit,
        data=_form(section, [ada], title="Double submit test", summary="B's", edited_from=tab_b),
    )
    assert refused.status_code == 409 and "Someone else changed this article" in refused.text
    with db.session() as s:
        article = s.get(Article, ident)
        assert article.title == "Edited in tab A" and article.summary == "A short summary."
    # The form now carries the current version: saving again is deliberate.
    again = _edited_from(refused.text)
    assert again != tab_b
    kept = admin.post(
        edit,
        data=_form(section, [ada], title="Double submit test", summary="B's", edited_from=again),
    )
    assert kept.status_code == 302
    with db.session() as s:
        assert s.get(Article, ident).summary == "B's"
