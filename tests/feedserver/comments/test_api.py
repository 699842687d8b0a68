"""The moderation API: listing, filtering, changing status, deleting — token only."""

from __future__ import annotations

import pytest

from tests.factories import make_article, make_comment
from tests.feedserver.comments_support import article_row, comments, post_comment


@pytest.fixture
def rows(db):
    """Two articles; "story" has 3 pending (one from the form) and 1 approved comment."""
    with db.session() as s:
        story = make_article(s, slug="story", title="A story")
        other = make_article(s, slug="other")
        approved = make_comment(s, story, author_email="approved@example.net")
        pending = [make_comment(s, story, status="pending") for _ in range(2)]
        make_comment(s, other, status="pending")
        make_comment(s, other, status="spam")
        ids = {"story": story.id, "approved": approved.id, "pending": [c.id for c in pending]}
    return ids


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/comments"),
        ("get", "/api/comments/1"),
        ("patch", "/api/comments/1"),
        ("delete", "/api/comments/1"),
    ],
)
def test_token_required(client, db, rows, method, path):
    response = getattr(client, method)(path, json={"status": "approved"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["error"]["code"] == "unauthorized"
    bad = getattr(client, method)(path, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert [c.status for c in comments(db)].count("approved") == 1


def test_list_filters_and_paginates(client, rows, auth):
    everything = client.get("/api/comments", headers=auth).json
    assert everything["total"] == 5 and len(everything["items"]) == 5
    pending = client.get("/api/comments?status=pending&per_page=2", headers=auth).json
    assert pending["total"] == 3 and pending["pages"] == 2 and len(pending["items"]) == 2
    assert {c["status"] for c in pending["items"]} == {"pending"}
    page2 = client.get("/api/comments?status=pending&per_page=2&page=2", headers=auth).json
    assert len(page2["items"]) == 1
    by_slug = client.get("/api/comments?status=pending&article=story", headers=auth).json
    by_id = client.get(f"/api/comments?status=pending&article={rows['story']}", headers=auth).json
    assert by_slug == by_id
    assert {c["id"] for c in by_slug["items"]} == set(rows["pending"])
    # Newest first.
    assert [c["id"] for c in by_slug["items"]] == sorted(rows["pending"], reverse=True)


def test_comment_object_shows_email_never_ip(client, db, rows, auth):
    assert post_comment(client, ip="192.0.2.1", website="https://ada.example/").status_code == 303
    item = client.get("/api/comments?per_page=1", headers=auth).json["items"][0]
    assert item["email"] == "ada.reader@example.net"
    assert item["name"] == "Ada Reader" and item["website"] == "https://ada.example/"
    assert item["body"] == "A thoughtful remark." and item["status"] == "pending"
    assert item["url"] == f"http://localhost/articles/story#comment-{item['id']}"
    assert item["article"] == {
        "id": rows["story"],
        "slug": "story",
        "title": "A story",
        "url": "http://localhost/articles/story",
    }
    assert item["created_at"].endswith("Z")
    assert "ip_hash" not in item and "ip" not in item
    stored = comments(db)[-1]
    raw = client.get(f"/api/comments/{item['id']}", headers=auth).get_data(as_text=True)
    assert stored.ip_hash not in raw and "192.0.2.1" not in raw


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=published", "status"), ("article=nope", "article")],
)
def test_bad_filters_are_422(client, rows, auth, query, field):
    response = client.get(f"/api/comments?{query}", headers=auth)
    assert response.status_code == 422
    assert field in response.json["error"]["message"]


def test_patch_moderates_and_counts(client, db, rows, auth):
    target = rows["pending"][0]
    assert article_row(db, "story").comment_count == 1
    response = client.patch(f"/api/comments/{target}", json={"status": "approved"}, headers=auth)
    assert response.status_code == 200
    assert response.json["status"] == "approved" and response.json["id"] == target
    assert article_row(db, "story").comment_count == 2
    for status in ("spam", "pending", "rejected"):
        response = client.patch(f"/api/comments/{target}", json={"status": status}, headers=auth)
        assert response.json["status"] == status
    assert article_row(db, "story").comment_count == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "published"},
        {"status": None},
        {"status": 1},
        {},
        {"status": "approved", "body": "x"},
    ],
)
def test_patch_refuses_anything_else(client, db, rows, auth, payload):
    target = rows["pending"][0]
    response = client.patch(f"/api/comments/{target}", json=payload, headers=auth)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "unprocessable"
    assert response.json["error"]["message"]
    assert [c.status for c in comments(db) if c.id == target] == ["pending"]


def test_patch_errors(client, rows, auth):
    target = rows["pending"][0]
    not_json = client.patch(f"/api/comments/{target}", data="status=approved", headers=auth)
    assert not_json.status_code == 415
    broken = client.patch(
        f"/api/comments/{target}",
        data="{",
        headers=dict(auth, **{"Content-Type": "application/json"}),
    )
    assert broken.status_code == 400
    missing = client.patch("/api/comments/999999", json={"status": "approved"}, headers=auth)
    assert missing.status_code == 404 and "999999" in missing.json["error"]["message"]


def test_delete_removes_comment_and_replies(client, db, rows, auth):
    with db.session() as s:
        from feedserver.models import Comment

        make_comment(s, s.get(Comment, rows["approved"]).article, parent_id=rows["approved"])
    assert article_row(db, "story").comment_count == 2
    response = client.delete(f"/api/comments/{rows['approved']}", headers=auth)
    assert response.status_code == 204 and response.data == b""
    assert article_row(db, "story").comment_count == 0
    assert rows["approved"] not in {c.id for c in comments(db)}
    assert client.delete(f"/api/comments/{rows['approved']}", headers=auth).status_code == 404


def test_openapi_describes_moderation(client):
    doc = client.get("/api/openapi.json").json
    assert set(doc["paths"]["/api/comments"]) >= {"get"}
    assert set(doc["paths"]["/api/comments/{comment_id}"]) >= {"get", "patch", "delete"}
    schema = doc["components"]["schemas"]["Comment"]
    assert "email" in schema["properties"] and "ip_hash" not in schema["properties"]
    assert schema["properties"]["status"]["enum"] == ["pending", "approved", "spam", "rejected"]
