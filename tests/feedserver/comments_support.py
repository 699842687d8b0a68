"""Helpers shared by the comment tests: posting the form, reading rows, API tokens."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from feedserver.models import Article, Comment

FORM = {
    "name": "Ada Reader",
    "email": "ada.reader@example.net",
    "website": "",
    "comment": "A thoughtful remark.",
}


def post_comment(client: Any, slug: str = "story", ip: str = "203.0.113.7", **fields: str) -> Any:
    """Post the comment form as a browser would, from the given client address."""
    data = dict(FORM, **fields)
    return client.post(f"/articles/{slug}/comments", data=data, environ_base={"REMOTE_ADDR": ip})


def comments(db: Any) -> list[Comment]:
    """Every stored comment, oldest first."""
    with db.session() as s:
        return list(s.scalars(select(Comment).order_by(Comment.id)))


def set_status(db: Any, comment_id: int, status: str) -> None:
    with db.session() as s:
        s.get(Comment, comment_id).status = status


def article_row(db: Any, slug: str) -> Article:
    with db.session() as s:
        return s.scalar(select(Article).where(Article.slug == slug))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)
