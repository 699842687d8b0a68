"""/api/articles: list, create, read, change and delete articles."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from feedserver.api import bp
from feedserver.api.common import paginated, token_required
from feedserver.api.openapi import error_responses
from feedserver.api.shapes import (
    PAGE_PARAMETERS,
    REF_INPUT,
    REF_SCHEMA,
    TIME,
    article_json,
    created,
    id_parameter,
    json_content,
    list_schema,
    request_fields,
)
from feedserver.content import editing
from feedserver.content.deletion import delete_article as delete_with_tombstone
from feedserver.db import db_session
from feedserver.errors import BadRequest
from feedserver.models import Article, ArticleAuthor, Author, Section, Source
from feedserver.publishing import tombstones
from feedserver.stories.members import story_article_ids
from feedserver.web import base_url, find_by_ref

LOADED = (
    selectinload(Article.section),
    selectinload(Article.source),
    selectinload(Article.bylines).joinedload(ArticleAuthor.author),
)
FILTERS = {"section": Section, "author": Author, "source": Source}


def _load(ident: int, *, for_write: bool = False) -> Article:
    """The article with this id; 410 Gone while a deleted one's tombstone is kept.

    410 rather than 404: RFC 9110 §15.5.11 says a 410 is for a resource known
    to be gone for good, which is exactly what the tombstone records (and what
    the article's page answers); a client can tell "deleted" from "never
    existed" or a wrong id, and stop asking. After the retention period it is
    an ordinary 404.
    """
    days = current_app.config["TOMBSTONE_DAYS"]
    return tombstones.article_or_gone(db_session(), ident, days, for_write=for_write)


def _with_story(article: Article) -> dict[str, Any]:
    """The article with its story (INTERFACE §10): the ids of the story's articles."""
    body = article_json(article)
    body["story"] = story_article_ids(db_session(), article)
    body["story_id"] = article.story_id
    return body


@bp.get("/articles")
@token_required
def list_articles() -> ResponseReturnValue:
    """List articles newest first, optionally of one section, author or source."""
    session = db_session()
    query = select(Article).options(*LOADED)
    for name, model in FILTERS.items():
        raw = request.args.get(name)
        if raw is None:
            continue
        row = find_by_ref(session, model, raw)
        if row is None:
            raise BadRequest(f"{name}: no {name} has the id or slug {raw[:80]!r}.")
        if model is Author:
            bylines = select(ArticleAuthor.article_id).where(ArticleAuthor.author_id == row.id)
            query = query.where(Article.id.in_(bylines))
        else:
            query = query.where(getattr(Article, f"{name}_id") == row.id)
    query = query.order_by(Article.published_at.desc(), Article.id.desc())
    return jsonify(paginated(session, query, article_json))


@bp.post("/articles")
@token_required
def create_article() -> ResponseReturnValue:
    """Create an article (sanitizing its body) and answer 201 with it."""
    data = request_fields()
    session = db_session()
    with editing.saving(session):
        article = editing.create_article(session, data, site_url=base_url())
    return created(_with_story(article), f"{base_url()}/api/articles/{article.id}")


@bp.get("/articles/<int:ident>")
@token_required
def get_article(ident: int) -> ResponseReturnValue:
    """Show one article."""
    return jsonify(_with_story(_load(ident)))


@bp.patch("/articles/<int:ident>")
@token_required
def update_article(ident: int) -> ResponseReturnValue:
    """Change the fields given; the rest stay as they are."""
    data = request_fields()
    session = db_session()
    article = _load(ident, for_write=True)
    with editing.saving(session):
        editing.update_article(session, article, data, site_url=base_url())
    return jsonify(_with_story(article))


@bp.delete("/articles/<int:ident>")
@token_required
def delete_article(ident: int) -> ResponseReturnValue:
    """Delete an article, its bylines and its comments, keeping its tombstone."""
    session = db_session()
    article = _load(ident, for_write=True)
    with editing.saving(session):
        delete_with_tombstone(session, article)
    return Response(status=204)


# --- OpenAPI ----------------------------------------------------------------------

_STRING_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": editing.TITLE_MAX},
    "slug": {
        "type": "string",
        "pattern": r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
        "maxLength": 120,
        "description": "Generated from the title when left out; unique.",
    },
    "summary": {"type": "string", "maxLength": editing.SUMMARY_MAX},
    "body_html": {
        "type": "string",
        "maxLength": editing.BODY_MAX,
        "description": "Sanitized on save with the site's HTML allowlist.",
    },
}
# In a request, null is taken for "left out" in these (a generated slug, "").
_NULLABLE_INPUT = {
    name: {**spec, "type": ["string", "null"]}
    for name, spec in _STRING_FIELDS.items()
    if name in ("slug", "summary", "body_html")
}
_INPUT_PROPERTIES: dict[str, Any] = {
    **_STRING_FIELDS,
    **_NULLABLE_INPUT,
    "section": {"oneOf": [*REF_INPUT["oneOf"], {"type": "null"}], "description": "Id or slug."},
    "authors": {
        "type": "array",
        "minItems": 1,
        "maxItems": editing.AUTHORS_MAX,
        "items": REF_INPUT,
        "description": "The byline, in order: author ids or slugs.",
    },
    "source": {"oneOf": [*REF_INPUT["oneOf"], {"type": "null"}], "description": "Id or slug."},
    "original_url": {
        "type": ["string", "null"],
        "format": "uri",
        "maxLength": editing.URL_MAX,
        "description": "An absolute http(s) URL of the original article.",
    },
    "published_at": {
        **TIME,
        "description": "RFC 3339 with an offset, from 1990 to now; now when left out.",
    },
    "comments_open": {"type": "boolean", "default": True},
}
REF_OR_NULL = {"oneOf": [{"$ref": "#/components/schemas/Ref"}, {"type": "null"}]}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Ref": REF_SCHEMA,
    "Article": {
        "type": "object",
        "required": ["id", "uid", "feed_id", "slug", "url", "title", "authors", "published_at"],
        "properties": {
            "id": {"type": "integer"},
            "uid": {"type": "string", "format": "uuid"},
            "feed_id": {"type": "string", "description": "The permanent id in every feed."},
            "url": {"type": "string", "format": "uri", "description": "The public page."},
            **_STRING_FIELDS,
            "section": REF_OR_NULL,
            "authors": {"type": "array", "items": {"$ref": "#/components/schemas/Ref"}},
            "source": REF_OR_NULL,
            "original_url": {"type": ["string", "null"], "format": "uri"},
            "published_at": TIME,
            "updated_at": TIME,
            "created_at": TIME,
            "comments_open": {"type": "boolean"},
            "comment_count": {"type": "integer", "description": "Approved comments."},
            "story": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "The ids of the articles of its story, earliest first "
                "(only its own id when it is in no story). Single-article answers only.",
            },
            "story_id": {
                "type": ["integer", "null"],
                "description": "Its story (see /api/stories/{id}), or null.",
            },
        },
    },
    "ArticleCreate": {
        "type": "object",
        "required": ["title", "authors"],
        "additionalProperties": False,
        "properties": _INPUT_PROPERTIES,
    },
    "ArticleUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": _INPUT_PROPERTIES,
        "description": "Only the fields given change.",
    },
    "ArticleList": list_schema("Article"),
}

_FILTERS = [
    {"name": name, "in": "query", "description": f"Only articles of this {name} (id or slug).",
     "schema": {"type": "string"}}
    for name in FILTERS
]  # fmt: skip

OPENAPI_PATHS: dict[str, Any] = {
    "/api/articles": {
        "get": {
            "summary": "List articles, newest first",
            "operationId": "listArticles",
            "tags": ["articles"],
            "parameters": [*PAGE_PARAMETERS, *_FILTERS],
            "responses": {
                "200": {
                    "description": "A page of articles",
                    "content": json_content("ArticleList"),
                },
                **error_responses(400, 401),
            },
        },
        "post": {
            "summary": "Create an article",
            "operationId": "createArticle",
            "tags": ["articles"],
            "requestBody": {"required": True, "content": json_content("ArticleCreate")},
            "responses": {
                "201": {"description": "Created", "content": json_content("Article")},
                **error_responses(400, 401, 409, 413, 415, 422),
            },
        },
    },
    "/api/articles/{id}": {
        "parameters": [id_parameter("article")],
        "get": {
            "summary": "Show an article",
            "operationId": "getArticle",
            "tags": ["articles"],
            "responses": {
                "200": {"description": "The article", "content": json_content("Article")},
                **error_responses(401, 404, 410),
            },
        },
        "patch": {
            "summary": "Change an article",
            "operationId": "updateArticle",
            "tags": ["articles"],
            "requestBody": {"required": True, "content": json_content("ArticleUpdate")},
            "responses": {
                "200": {"description": "The changed article", "content": json_content("Article")},
                **error_responses(400, 401, 404, 409, 410, 413, 415, 422),
            },
        },
        "delete": {
            "summary": "Delete an article, keeping an RFC 6721 tombstone",
            "operationId": "deleteArticle",
            "tags": ["articles"],
            "responses": {
                "204": {"description": "Deleted"},
                **error_responses(401, 404, 409, 410),
            },
        },
    },
}
