"""The OpenAPI 3.1 document at /api/openapi.json, merged from the resource modules."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from feedserver.api import RESOURCES, bp

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "with 422: what is wrong with each named field",
                    "additionalProperties": {"type": "string"},
                },
                "deleted_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "with 410 (code gone): when the article was deleted",
                },
            },
        }
    },
}


def error_responses(*statuses: int) -> dict[str, Any]:
    """Describe error responses that share the JSON error shape."""
    names = {
        400: "Malformed request", 401: "Missing or invalid token", 403: "Forbidden",
        404: "Not found", 409: "Conflict", 410: "Deleted (its tombstone is kept)", 413: "Body too large", 415: "Not JSON",
        422: "Invalid field values", 429: "Too many requests",
        503: "The database is unavailable (code database_unavailable; see Retry-After)",
    }  # fmt: skip
    return {
        str(s): {
            "description": names.get(s, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for s in statuses
    }


def build_document() -> dict[str, Any]:
    """Assemble the document from every resource module's OPENAPI_* tables."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for name in RESOURCES:
        module = import_module(f"{__package__}.{name}")
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    _common_answers(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feedserver API",
            "version": "1",
            "description": "Manage articles, sections, authors, upstream sources and comments.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def _common_answers(paths: dict[str, Any]) -> None:
    """Add the answers every operation of a kind can give, where a module left them out.

    A paged list answers 404 past ``FEEDSERVER_MAX_PAGE_DEPTH`` (code
    ``page_too_deep``); any request with a body 413 past
    ``FEEDSERVER_MAX_REQUEST_BYTES``; any request 503 while the database is
    unreachable.
    """
    for operations in paths.values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue  # the path's own "parameters"
            answers = operation.setdefault("responses", {})
            names = {p.get("name") for p in operation.get("parameters", []) if isinstance(p, dict)}
            if method == "get" and "page" in names:
                answers.setdefault("404", error_responses(404)["404"])
            if method in ("post", "put", "patch"):
                answers.setdefault("413", error_responses(413)["413"])
            answers.setdefault("503", error_responses(503)["503"])  # an outage, on any route


_document: dict[str, Any] | None = None


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """Serve the OpenAPI document (public: it describes, it grants nothing)."""
    global _document
    if _document is None:
        _document = build_document()
    return jsonify(_document)
