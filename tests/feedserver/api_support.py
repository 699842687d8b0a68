"""Helpers for the content API tests: an authenticated client and row counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from feedserver import accounts
from feedserver.models import Article, ArticleAuthor, Author, Section, User


class Api:
    """The test client with a Bearer token on every request."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return getattr(self.client, method)(path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("get", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self._call("post", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self._call("patch", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._call("delete", path, **kw)


def authorized(client: Any, db: Any) -> Api:
    """The client with the token of a fresh admin (no real password: hashing is slow)."""
    with db.session() as s:
        user = User(name="editor", password_hash="unused")
        s.add(user)
        s.flush()
        return Api(client, accounts.create_token(s, user, "tests"))


def make_newsroom(db: Any) -> dict[str, int]:
    """Two sections, three authors and a source, by name → id."""
    from tests.factories import make_author, make_section, make_source

    with db.session() as s:
        rows = {
            "world": make_section(s, slug="world", name="World"),
            "science": make_section(s, slug="science", name="Science"),
            "ada": make_author(s, slug="ada", name="Ada Lovelace"),
            "bo": make_author(s, slug="bo", name="Bo Chen"),
            "cy": make_author(s, slug="cy", name="Cy Young"),
            "wire": make_source(s, slug="wire", name="The Wire"),
        }
        s.flush()
        return {name: row.id for name, row in rows.items()}


def counts(db: Any) -> tuple[int, int, int, int]:
    """How many articles, bylines, sections and authors there are."""
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m))
            for m in (Article, ArticleAuthor, Section, Author)
        )


def article_payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Tides of the North Sea",
        "summary": "Why the tides rise.",
        "body_html": "<p>The moon pulls.</p>",
        "section": "world",
        "authors": ["ada"],
    }
    body.update(overrides)
    return body
