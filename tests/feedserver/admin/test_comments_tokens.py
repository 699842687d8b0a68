"""Comment moderation and API tokens in the admin."""

from __future__ import annotations

from sqlalchemy import select

from feedserver.models import ApiToken, Article, Comment
from tests.factories import make_article, make_comment
from tests.feedserver.admin_support import (
    make_user,
)


def test_moderate_a_comment(admin, db):
    with db.session() as s:
        article = make_article(s, slug="story")
        ident = make_comment(s, article, status="pending", author_email="r@example.net").id
    queue = admin.get("/admin/comments/").text
    assert "r@example.net" in queue  # admins see the e-mail; the public never does
    response = admin.post(
        f"/admin/comments/{ident}/status", data={"status": "approved", "back": "pending"}
    )
    assert response.status_code == 302
    assert "was approved" in admin.get(response.headers["Location"]).text
    with db.session() as s:
        assert s.get(Comment, ident).status == "approved"
        assert s.scalar(select(Article.comment_count)) == 1
    assert admin.post(f"/admin/comments/{ident}/status", data={"status": "x"}).status_code == 400
    admin.post(f"/admin/comments/{ident}/status", data={"status": "spam"})
    with db.session() as s:
        assert s.scalar(select(Article.comment_count)) == 0
    assert admin.post(f"/admin/comments/{ident}/delete").status_code == 302
    with db.session() as s:
        assert s.get(Comment, ident) is None


def test_create_use_list_and_revoke_a_token(admin, db, client):
    page = admin.post("/admin/tokens/", data={"label": "CMS sync"})
    assert page.status_code == 200
    token = page.text.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("fs_")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/sections", headers=auth).status_code == 200
    listing = admin.get("/admin/tokens/").text
    assert "CMS sync" in listing and token not in listing  # shown once only
    with db.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash != token and token[:10] == row.prefix
        ident = row.id
    assert admin.post(f"/admin/tokens/{ident}/revoke").status_code == 302
    assert "Revoked" in admin.get("/admin/tokens/").text
    assert client.get("/api/sections", headers=auth).status_code == 401


def test_cannot_revoke_someone_elses_token(admin, db):
    from feedserver import accounts

    other = make_user(db, name="someone-else")
    with db.session() as s:
        accounts.create_token(s, s.get(accounts.User, other), "theirs")
        ident = s.scalar(select(ApiToken.id))
    assert admin.post(f"/admin/tokens/{ident}/revoke").status_code == 404
    assert "theirs" not in admin.get("/admin/tokens/").text


def test_token_label_is_required(admin):
    response = admin.post("/admin/tokens/", data={"label": ""})
    assert response.status_code == 422
    assert "This field is required." in response.text


def test_deleting_a_comment_takes_its_approved_replies_out_of_the_feed_and_counts(
    admin, db, client
):
    with db.session() as s:
        article = make_article(s, slug="story")
        parent = make_comment(s, article, body="The parent remark.")
        reply = make_comment(s, article, parent=parent, body="An approved reply.")
        make_comment(s, article, parent=reply, body="A reply to the reply.")
        make_comment(s, article, body="An unrelated remark.")
        ident = parent.id
    before = client.get("/articles/story/comments.atom")
    assert b"An approved reply." in before.data and b"A reply to the reply." in before.data
    with db.session() as s:
        assert s.scalar(select(Article.comment_count)) == 4

    assert admin.post(f"/admin/comments/{ident}/delete").status_code == 302

    after = client.get("/articles/story/comments.atom")
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert b"The parent remark." not in after.data
    assert b"An approved reply." not in after.data
    assert b"A reply to the reply." not in after.data
    assert b"An unrelated remark." in after.data
    with db.session() as s:
        assert s.scalar(select(Article.comment_count)) == 1
        assert [c.body for c in s.scalars(select(Comment))] == ["An unrelated remark."]
    page = client.get("/articles/story").text
    assert "An unrelated remark." in page and "An approved reply." not in page
