"""Comment moderation: list comments by status and article, approve, hold, mark spam, delete.

Only for Bearer-token holders. A comment object carries the commenter's e-mail
(moderators need it to tell regulars from spammers) but never the IP hash,
which only counts a client's comments for the rate limit. Every change goes
through the ORM so the flush hook in ``models.scopes`` keeps the article's
``comment_count`` and the validators of its feeds up to date.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from feedserver import urls
from feedserver.api import bp
from feedserver.api.common import (
    absolute,
    get_or_404,
    json_body,
    paginated,
    resolve_ref,
    rfc3339,
    token_required,
)
from feedserver.api.openapi import error_responses
from feedserver.comments import moderation
from feedserver.db import db_session
from feedserver.errors import Unprocessable
from feedserver.models import COMMENT_STATUSES, Article, Comment

EDITABLE = ("status",)


def comment_json(comment: Comment) -> dict[str, Any]:
    """Describe a comment for moderators (e-mail included, IP hash never)."""
    article = comment.article
    page = absolute(urls.article(article.slug))
    return {
        "id": comment.id,
        "url": f"{page}#comment-{comment.id}",
        "article": {"id": article.id, "slug": article.slug, "title": article.title, "url": page},
        "parent_id": comment.parent_id,
        "status": comment.status,
        "name": comment.author_name,
        "email": comment.author_email,
        "website": comment.author_url,
        "body": comment.body,
        "created_at": rfc3339(comment.created_at),
        "updated_at": rfc3339(comment.updated_at),
    }


@bp.get("/comments")
@token_required
def list_comments() -> ResponseReturnValue:
    """List comments, newest first, filtered by ?status= and ?article= (id or slug)."""
    session = db_session()
    query = select(Comment).options(joinedload(Comment.article))
    if "status" in request.args:
        query = query.where(Comment.status == moderation.check_status(request.args["status"]))
    if "article" in request.args:
        article = resolve_ref(session, Article, request.args["article"], "article")
        query = query.where(Comment.article_id == article.id)
    query = query.order_by(Comment.created_at.desc(), Comment.id.desc())
    return jsonify(paginated(session, query, comment_json))


@bp.get("/comments/<int:comment_id>")
@token_required
def get_comment(comment_id: int) -> ResponseReturnValue:
    """Show one comment."""
    return jsonify(comment_json(get_or_404(db_session(), Comment, comment_id)))


@bp.patch("/comments/<int:comment_id>")
@token_required
def moderate_comment(comment_id: int) -> ResponseReturnValue:
    """Set a comment's status: approved, pending, spam or rejected."""
    session = db_session()
    comment: Comment = get_or_404(session, Comment, comment_id)
    data = json_body()
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise Unprocessable(
            f"Only status can be changed, not {', '.join(unknown)}.",
            fields=dict.fromkeys(unknown, "not_editable"),
        )
    if "status" not in data:
        raise Unprocessable("Send the new status.", fields={"status": "missing"})
    moderation.moderate(session, comment, data["status"])
    session.commit()
    return jsonify(comment_json(comment))


@bp.delete("/comments/<int:comment_id>")
@token_required
def delete_comment(comment_id: int) -> ResponseReturnValue:
    """Delete a comment and its replies for good."""
    session = db_session()
    comment: Comment = get_or_404(session, Comment, comment_id)
    moderation.delete_comment(session, comment)
    session.commit()
    return Response(status=204)


_COMMENT_REF = {"$ref": "#/components/schemas/Comment"}
_ID_PARAM = {"name": "comment_id", "in": "path", "required": True, "schema": {"type": "integer"}}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Comment": {
        "type": "object",
        "required": ["id", "url", "article", "status", "name", "email", "body", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "format": "uri", "description": "The comment on its page"},
            "article": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "slug": {"type": "string"},
                    "title": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                },
            },
            "parent_id": {"type": ["integer", "null"], "description": "The comment replied to"},
            "status": {"type": "string", "enum": list(COMMENT_STATUSES)},
            "name": {"type": "string"},
            "email": {"type": "string", "description": "Shown to moderators only"},
            "website": {"type": ["string", "null"], "format": "uri"},
            "body": {"type": "string", "description": "Plain text as the reader typed it"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "CommentList": {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {"type": "array", "items": _COMMENT_REF},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    },
}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/comments": {
        "get": {
            "summary": "List comments for moderation, newest first",
            "tags": ["comments"],
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(COMMENT_STATUSES)},
                },
                {
                    "name": "article",
                    "in": "query",
                    "description": "The article's id or slug",
                    "schema": {"type": "string"},
                },
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
            ],
            "responses": {
                "200": _ok("A page of comments", {"$ref": "#/components/schemas/CommentList"}),
                **error_responses(400, 401, 422),
            },
        }
    },
    "/api/comments/{comment_id}": {
        "parameters": [_ID_PARAM],
        "get": {
            "summary": "Show one comment",
            "tags": ["comments"],
            "responses": {"200": _ok("The comment", _COMMENT_REF), **error_responses(401, 404)},
        },
        "patch": {
            "summary": "Moderate a comment: approve, hold, mark as spam or reject",
            "tags": ["comments"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status"],
                            "additionalProperties": False,
                            "properties": {
                                "status": {"type": "string", "enum": list(COMMENT_STATUSES)}
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _ok("The comment after the change", _COMMENT_REF),
                **error_responses(400, 401, 404, 415, 422),
            },
        },
        "delete": {
            "summary": "Delete a comment and its replies",
            "tags": ["comments"],
            "responses": {"204": {"description": "Deleted"}, **error_responses(401, 404)},
        },
    },
}
