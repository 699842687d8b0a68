"""Every admin URL refuses anonymous visitors, and no admin data reaches public pages or feeds."""

from __future__ import annotations

import re

import pytest

from feedserver import accounts, create_app
from feedserver.admin import PUBLIC_ENDPOINTS
from tests.factories import make_article, make_comment
from tests.feedserver.admin_support import (
    PASSWORD,
    make_user,
)


def _admin_rules() -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every admin route, read from a throw-away app's URL map."""
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "collect", "TESTING": True})
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = re.sub(r"<(?:int:)?[a-z_]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((rule.endpoint, method, path))
    app.extensions["feedserver.db"].engine.dispose()
    return found


ADMIN_RULES = _admin_rules()


def test_the_url_map_was_read():
    endpoints = {endpoint for endpoint, _, _ in ADMIN_RULES}
    assert {"admin.dashboard", "admin.articles", "admin.sources", "admin.tokens"} <= endpoints
    assert len(ADMIN_RULES) > 25


@pytest.mark.parametrize(
    "endpoint, method, path", ADMIN_RULES, ids=[f"{m} {e}" for e, m, _ in ADMIN_RULES]
)
def test_anonymous_is_sent_to_sign_in(client, db, endpoint, method, path):
    with db.session() as s:
        article = make_article(s)  # rows with id 1 exist, so a 404 cannot hide a leak
        make_comment(s, article)
        title = article.title
    response = client.open(path, method=method, data={"name": "x", "status": "approved"})
    assert response.status_code in (302, 401, 403), response.status_code
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/admin/login")
    assert "Dashboard" not in response.text
    assert title not in response.text


def test_api_requires_a_token(client):
    response = client.get("/api/articles")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_admin_data_in_public_pages_or_feeds(admin, db, app):
    user_id = make_user(db, name="secret-keeper-42")
    with db.session() as s:
        user = s.get(accounts.User, user_id)
        token = accounts.create_token(s, user, "private label zq")
        article = make_article(s, slug="public-story")
        make_comment(s, article, author_email="hidden.reader@example.net")
        password_hash = user.password_hash
    client = app.test_client()  # anonymous
    paths = ["/", "/articles/public-story", "/feed.rss", "/feed.atom", "/feed.json"]
    paths += ["/articles/public-story/comments.rss", "/articles/public-story/comments.atom"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        for secret in (
            token,
            token[:10],
            password_hash,
            "$argon2",
            "secret-keeper-42",
            "private label zq",
            "hidden.reader@example.net",
            PASSWORD,
        ):
            assert secret not in body, (path, secret)
