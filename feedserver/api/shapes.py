"""The JSON shapes of articles, sections and authors, and reading request bodies.

Every object carries ``id``, ``slug`` and ``url`` (its public page, absolute);
a reference to a section, author or source inside another object is the
short form ``{id, slug, name, url}``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from feedserver import urls
from feedserver.api.common import absolute, json_body, rfc3339
from feedserver.errors import BadRequest
from feedserver.models import Article, Author, Section, Source

PAGE_URL = {Section: urls.section, Author: urls.author, Source: urls.source}


def request_fields() -> dict[str, Any]:
    """Return the request's JSON object (415/400/413 as common.json_body decides)."""
    try:
        return json_body()
    except RecursionError:  # json.loads recurses once per nesting level
        raise BadRequest("The request body nests too deeply.", code="malformed_json") from None


def ref_json(row: Section | Author | Source | None) -> dict[str, Any] | None:
    """The short form of a section, author or source."""
    if row is None:
        return None
    return {
        "id": row.id,
        "slug": row.slug,
        "name": row.name,
        "url": absolute(PAGE_URL[type(row)](row.slug)),
    }


def section_json(section: Section) -> dict[str, Any]:
    """A section as the API shows it."""
    return {
        "id": section.id,
        "slug": section.slug,
        "name": section.name,
        "description": section.description,
        "url": absolute(urls.section(section.slug)),
        "feeds": _feeds("section", section.slug),
        "created_at": rfc3339(section.created_at),
        "updated_at": rfc3339(section.updated_at),
    }


def author_json(author: Author) -> dict[str, Any]:
    """An author as the API shows it."""
    return {
        "id": author.id,
        "slug": author.slug,
        "name": author.name,
        "bio": author.bio,
        "url": absolute(urls.author(author.slug)),
        "homepage": author.url,
        "source": ref_json(author.source),
        "feeds": _feeds("author", author.slug),
        "created_at": rfc3339(author.created_at),
        "updated_at": rfc3339(author.updated_at),
    }


def article_json(article: Article) -> dict[str, Any]:
    """An article as the API shows it, authors in byline order."""
    return {
        "id": article.id,
        "uid": article.uid,
        "feed_id": f"urn:uuid:{article.uid}",
        "slug": article.slug,
        "url": absolute(urls.article(article.slug)),
        "title": article.title,
        "summary": article.summary,
        "body_html": article.body_html,
        "section": ref_json(article.section),
        "authors": [ref_json(a) for a in article.authors],
        "source": ref_json(article.source),
        "original_url": article.original_url,
        "published_at": rfc3339(article.published_at),
        "updated_at": rfc3339(article.updated_at),
        "created_at": rfc3339(article.created_at),
        "comments_open": article.comments_open,
        "comment_count": article.comment_count,
    }


def _feeds(kind: str, slug: str) -> dict[str, str]:
    return {fmt: absolute(urls.scope_feed(kind, slug, fmt)) for fmt in ("atom", "rss", "json")}


def created(body: dict[str, Any], location: str) -> Response:
    """Answer 201 with the new object and its API address."""
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# --- OpenAPI pieces shared by the content modules ---------------------------------

REF_SCHEMA = {
    "type": "object",
    "required": ["id", "slug", "name", "url"],
    "properties": {
        "id": {"type": "integer"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
    },
}
REF_INPUT = {
    "description": "An id, or a slug.",
    "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}],
}
FEEDS_SCHEMA = {
    "type": "object",
    "properties": {f: {"type": "string", "format": "uri"} for f in ("atom", "rss", "json")},
}
TIME = {"type": "string", "format": "date-time"}


def id_parameter(kind: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The {kind}'s id.",
        "schema": {"type": "integer", "minimum": 1},
    }


PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
]


def list_schema(item: str) -> dict[str, Any]:
    """A page of items with the totals."""
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "total": {"type": "integer", "description": "How many there are in all."},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    }


def json_content(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}
