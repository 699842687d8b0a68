"""/api/sections and /api/authors: list, create, read, change and delete them.

Both resources have the same five operations, so one function registers them
for each; the differences (fields, JSON shape, the 409 on delete) live in
``feedserver.content.editing`` and ``shapes``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from feedserver.api import bp
from feedserver.api.common import get_or_404, paginated, token_required
from feedserver.api.openapi import error_responses
from feedserver.api.shapes import (
    FEEDS_SCHEMA,
    PAGE_PARAMETERS,
    TIME,
    author_json,
    created,
    id_parameter,
    json_content,
    list_schema,
    request_fields,
    section_json,
)
from feedserver.content import editing
from feedserver.db import db_session
from feedserver.models import Author, Section
from feedserver.web import base_url


def _register(
    plural: str,
    model: Any,
    render: Callable[[Any], dict[str, Any]],
    create: Callable[..., Any],
    update: Callable[..., Any],
    delete: Callable[..., None],
    query: Any,
) -> None:
    """Add the list/create/show/change/delete routes of one resource."""
    singular = plural.removesuffix("s")

    @token_required
    def list_view() -> ResponseReturnValue:
        """List them by name, a page at a time."""
        return jsonify(paginated(db_session(), query, render))

    @token_required
    def create_view() -> ResponseReturnValue:
        """Create one and answer 201 with it."""
        data = request_fields()
        session = db_session()
        with editing.saving(session):
            row = create(session, data)
        return created(render(row), f"{base_url()}/api/{plural}/{row.id}")

    @token_required
    def show_view(ident: int) -> ResponseReturnValue:
        """Show one."""
        return jsonify(render(get_or_404(db_session(), model, ident)))

    @token_required
    def update_view(ident: int) -> ResponseReturnValue:
        """Change the fields given; the rest stay as they are."""
        data = request_fields()
        session = db_session()
        row = get_or_404(session, model, ident)
        with editing.saving(session):
            update(session, row, data)
        return jsonify(render(row))

    @token_required
    def delete_view(ident: int) -> ResponseReturnValue:
        """Delete one that no article uses (409 otherwise)."""
        session = db_session()
        row = get_or_404(session, model, ident)
        with editing.saving(session):
            delete(session, row)
        return Response(status=204)

    bp.add_url_rule(f"/{plural}", f"list_{plural}", list_view, methods=["GET"])
    bp.add_url_rule(f"/{plural}", f"create_{singular}", create_view, methods=["POST"])
    item = f"/{plural}/<int:ident>"
    bp.add_url_rule(item, f"get_{singular}", show_view, methods=["GET"])
    bp.add_url_rule(item, f"update_{singular}", update_view, methods=["PATCH"])
    bp.add_url_rule(item, f"delete_{singular}", delete_view, methods=["DELETE"])


_register(
    "sections",
    Section,
    section_json,
    editing.create_section,
    editing.update_section,
    editing.delete_section,
    select(Section).order_by(Section.name, Section.id),
)
_register(
    "authors",
    Author,
    author_json,
    # "url" is the public page in every API object; the author's own is "homepage".
    functools.partial(editing.create_author, url_field="homepage"),
    functools.partial(editing.update_author, url_field="homepage"),
    editing.delete_author,
    select(Author).options(selectinload(Author.source)).order_by(Author.name, Author.id),
)


# --- OpenAPI ----------------------------------------------------------------------

_SLUG = {
    "type": "string",
    "pattern": r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "maxLength": 120,
    "description": "Generated from the name when left out; unique.",
}
# In a request, null is taken for "left out" (a generated slug, no text).
_NULL_SLUG = {**_SLUG, "type": ["string", "null"]}
_SECTION_INPUT = {
    "name": {"type": "string", "minLength": 1, "maxLength": editing.NAME_MAX},
    "slug": _NULL_SLUG,
    "description": {"type": ["string", "null"], "maxLength": editing.DESCRIPTION_MAX},
}
_AUTHOR_INPUT = {
    "name": {"type": "string", "minLength": 1, "maxLength": editing.NAME_MAX},
    "slug": _NULL_SLUG,
    "bio": {"type": ["string", "null"], "maxLength": editing.BIO_MAX},
    "homepage": {
        "type": ["string", "null"],
        "format": "uri",
        "maxLength": editing.URL_MAX,
        "description": "The author's own web address (http or https).",
    },
}
_COMMON_OUTPUT = {
    "id": {"type": "integer"},
    "url": {"type": "string", "format": "uri", "description": "The public page."},
    "feeds": FEEDS_SCHEMA,
    "created_at": TIME,
    "updated_at": TIME,
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Section": {
        "type": "object",
        "required": ["id", "slug", "url", "name"],
        "properties": {**_SECTION_INPUT, "slug": _SLUG, **_COMMON_OUTPUT},
    },
    "SectionCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": _SECTION_INPUT,
    },
    "SectionUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": _SECTION_INPUT,
    },
    "SectionList": list_schema("Section"),
    "Author": {
        "type": "object",
        "required": ["id", "slug", "url", "name"],
        "properties": {
            **_AUTHOR_INPUT,
            "slug": _SLUG,
            **_COMMON_OUTPUT,
            "source": {
                "description": "The upstream source of an aggregated author, else null.",
                "oneOf": [{"$ref": "#/components/schemas/Ref"}, {"type": "null"}],
            },
        },
    },
    "AuthorCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": _AUTHOR_INPUT,
    },
    "AuthorUpdate": {"type": "object", "additionalProperties": False, "properties": _AUTHOR_INPUT},
    "AuthorList": list_schema("Author"),
}


def _paths(plural: str, schema: str, conflict_on_delete: str) -> dict[str, Any]:
    singular = plural.removesuffix("s")
    op = schema  # operationId stem
    tags = [plural]
    return {
        f"/api/{plural}": {
            "get": {
                "summary": f"List {plural} by name",
                "operationId": f"list{op}s",
                "tags": tags,
                "parameters": PAGE_PARAMETERS,
                "responses": {
                    "200": {
                        "description": f"A page of {plural}",
                        "content": json_content(f"{schema}List"),
                    },
                    **error_responses(400, 401),
                },
            },
            "post": {
                "summary": f"Create a {singular}",
                "operationId": f"create{op}",
                "tags": tags,
                "requestBody": {"required": True, "content": json_content(f"{schema}Create")},
                "responses": {
                    "201": {"description": "Created", "content": json_content(schema)},
                    **error_responses(400, 401, 409, 413, 415, 422),
                },
            },
        },
        f"/api/{plural}/{{id}}": {
            "parameters": [id_parameter(singular)],
            "get": {
                "summary": f"Show a {singular}",
                "operationId": f"get{op}",
                "tags": tags,
                "responses": {
                    "200": {"description": f"The {singular}", "content": json_content(schema)},
                    **error_responses(401, 404),
                },
            },
            "patch": {
                "summary": f"Change a {singular}",
                "operationId": f"update{op}",
                "tags": tags,
                "requestBody": {"required": True, "content": json_content(f"{schema}Update")},
                "responses": {
                    "200": {
                        "description": f"The changed {singular}",
                        "content": json_content(schema),
                    },
                    **error_responses(400, 401, 404, 409, 413, 415, 422),
                },
            },
            "delete": {
                "summary": f"Delete a {singular}",
                "description": conflict_on_delete,
                "operationId": f"delete{op}",
                "tags": tags,
                "responses": {
                    "204": {"description": "Deleted"},
                    **error_responses(401, 404, 409),
                },
            },
        },
    }


OPENAPI_PATHS: dict[str, Any] = {
    **_paths("sections", "Section", "Answers 409 while the section still has articles."),
    **_paths("authors", "Author", "Answers 409 while the author is in any byline."),
}
