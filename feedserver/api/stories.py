"""/api/stories: see a story, split articles off it, merge stories (INTERFACE §10)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from feedserver import urls
from feedserver.api import bp
from feedserver.api.common import absolute, page_args, rfc3339, served_pages, token_required
from feedserver.api.openapi import error_responses
from feedserver.api.shapes import (
    PAGE_PARAMETERS,
    id_parameter,
    json_content,
    list_schema,
    request_fields,
)
from feedserver.content import editing
from feedserver.db import db_session
from feedserver.errors import NotFound, Unprocessable
from feedserver.models import Story
from feedserver.stories import curation
from feedserver.stories.members import members_of


def story_json(story_id: int) -> dict[str, Any] | None:
    """A story with its articles, earliest (the lead) first; None once dissolved."""
    session = db_session()
    story = curation.find_story(session, story_id)
    if story is None:
        return None
    members = members_of(session, [story_id]).get(story_id, [])
    return {
        "id": story.id,
        "url": absolute(urls.article(members[0].slug)) if members else None,
        "lead": members[0].id if members else None,
        "curated": story.curated,
        "articles": [
            {
                "id": m.id,
                "slug": m.slug,
                "title": m.title,
                "url": absolute(urls.article(m.slug)),
                "original_url": m.original_url,
                "source": m.source_slug,
                "published_at": rfc3339(m.published_at),
            }
            for m in members
        ],
        "created_at": rfc3339(story.created_at),
        "updated_at": rfc3339(story.updated_at),
    }


def _found(story_id: int) -> dict[str, Any]:
    body = story_json(story_id)
    if body is None:
        raise NotFound(f"No story has the id {story_id}.")
    return body


@bp.get("/stories")
@token_required
def list_stories() -> ResponseReturnValue:
    """List stories, the most recently changed first."""
    page, per_page = page_args()
    session = db_session()
    total = session.scalar(select(func.count(Story.id))) or 0
    ids = list(
        session.scalars(
            select(Story.id)
            .order_by(Story.updated_at.desc(), Story.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    items = [body for body in (story_json(i) for i in ids) if body is not None]
    return jsonify(
        {
            "items": items,
            "total": total,
            "page": page,
            "per_page": per_page,
            "pages": served_pages(total, per_page),
        }
    )


@bp.get("/stories/<int:ident>")
@token_required
def get_story(ident: int) -> ResponseReturnValue:
    """Show one story and its articles."""
    return jsonify(_found(ident))


@bp.post("/stories/<int:ident>/split")
@token_required
def split_story(ident: int) -> ResponseReturnValue:
    """Move the named articles out of the story into one of their own."""
    data = _only(request_fields(), {"articles"})
    session = db_session()
    with editing.saving(session):
        left, new = curation.split(session, ident, data.get("articles"))
    return jsonify({"story": story_json(left), "split": story_json(new)})


@bp.post("/stories/merge")
@token_required
def merge_stories() -> ResponseReturnValue:
    """Make one story of the named stories and articles."""
    data = _only(request_fields(), {"stories", "articles"})
    session = db_session()
    with editing.saving(session):
        target = curation.merge(session, data.get("stories"), data.get("articles"))
    return jsonify(_found(target))


def _only(data: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """The body, when it names no other field (422, as every object's fields are)."""
    unknown = sorted(str(name)[:100] for name in data if name not in fields)[:20]
    if unknown:
        raise Unprocessable(
            f"Unknown field(s): {', '.join(unknown)[:200]}; give {' and '.join(sorted(fields))}.",
            fields=dict.fromkeys(unknown, "is not a field of this request"),
        )
    return data


# --- OpenAPI ----------------------------------------------------------------------

_IDS = {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": curation.MAX_IDS}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Story": {
        "type": "object",
        "required": ["id", "url", "lead", "articles"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": ["string", "null"], "format": "uri", "description": "The lead's page."},
            "lead": {"type": ["integer", "null"], "description": "Its earliest article."},
            "curated": {"type": "boolean", "description": "Split or merged by an admin."},
            "articles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "url": {"type": "string", "format": "uri"},
                        "original_url": {"type": ["string", "null"]},
                        "source": {"type": ["string", "null"], "description": "Source slug."},
                        "published_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "StoryList": list_schema("Story"),
    "StorySplit": {
        "type": "object",
        "required": ["articles"],
        "additionalProperties": False,
        "properties": {"articles": {**_IDS, "minItems": 1}},
    },
    "StorySplitResult": {
        "type": "object",
        "properties": {
            "story": {"oneOf": [{"$ref": "#/components/schemas/Story"}, {"type": "null"}]},
            "split": {"oneOf": [{"$ref": "#/components/schemas/Story"}, {"type": "null"}]},
        },
        "description": "null where a story was left with one article (no longer a story).",
    },
    "StoryMerge": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"stories": _IDS, "articles": _IDS},
        "description": "At least two stories or articles in all; named articles bring their stories.",
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/stories": {
        "get": {
            "summary": "List stories, most recently changed first",
            "operationId": "listStories",
            "tags": ["stories"],
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": {"description": "A page of stories", "content": json_content("StoryList")},
                **error_responses(400, 401),
            },
        }
    },
    "/api/stories/{id}": {
        "parameters": [id_parameter("story")],
        "get": {
            "summary": "Show a story",
            "operationId": "getStory",
            "tags": ["stories"],
            "responses": {
                "200": {"description": "The story", "content": json_content("Story")},
                **error_responses(401, 404),
            },
        },
    },
    "/api/stories/{id}/split": {
        "parameters": [id_parameter("story")],
        "post": {
            "summary": "Split articles off a story",
            "operationId": "splitStory",
            "tags": ["stories"],
            "requestBody": {"required": True, "content": json_content("StorySplit")},
            "responses": {
                "200": {"description": "Both stories", "content": json_content("StorySplitResult")},
                **error_responses(400, 401, 404, 413, 415, 422),
            },
        },
    },
    "/api/stories/merge": {
        "post": {
            "summary": "Merge stories and articles into one story",
            "operationId": "mergeStories",
            "tags": ["stories"],
            "requestBody": {"required": True, "content": json_content("StoryMerge")},
            "responses": {
                "200": {"description": "The merged story", "content": json_content("Story")},
                **error_responses(400, 401, 404, 409, 413, 415, 422),
            },
        }
    },
}
