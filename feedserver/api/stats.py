"""``GET /api/stats/feeds``: subscribers, requests, 304 share and bytes per feed (INTERFACE §9).

Subscribers are counted now (reader reports and distinct other clients over
the last 3 days); requests, 304s and bytes over the last 24 hours (the current
hour and the 23 before it). The web processes flush their counts every few
seconds; this one flushes its own first, so a single-process server answers
with every request it has served.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from feedserver.api import bp
from feedserver.api.common import page_args, served_pages, token_required
from feedserver.api.openapi import error_responses
from feedserver.api.shapes import PAGE_PARAMETERS
from feedserver.db import db_session
from feedserver.models import utcnow
from feedserver.publishing import statsdb
from feedserver.publishing.audience import tally_of
from feedserver.web import base_url


def feed_object(figures: statsdb.FeedFigures, base: str) -> dict[str, Any]:
    """One feed's entry of the answer, in the shape INTERFACE §9 gives."""
    return {
        "url": base + figures.path,
        "path": figures.path,
        "subscribers": {"total": figures.subscribers, "by_reader": figures.by_reader},
        "requests": figures.requests,
        "not_modified": figures.not_modified_share,
        "bytes": figures.bytes,
    }


@bp.get("/stats/feeds")
@token_required
def stats_feeds() -> ResponseReturnValue:
    """List every feed with subscribers or requests: the last day's figures."""
    tally = tally_of(current_app)
    if tally is not None:
        tally.flush()
    figures = statsdb.feed_figures(db_session(), utcnow())
    base = base_url()
    total = len(figures)
    answer: dict[str, Any] = {"total": total}
    if "page" in request.args or "per_page" in request.args:
        # Paged like every list (INTERFACE §5); without either, every feed (§9's shape).
        page, per_page = page_args()
        figures = figures[(page - 1) * per_page : page * per_page]
        answer.update(page=page, per_page=per_page, pages=served_pages(total, per_page))
    answer["feeds"] = [feed_object(f, base) for f in figures]
    return jsonify(answer)


OPENAPI_SCHEMAS: dict[str, Any] = {
    "FeedStats": {
        "type": "object",
        "required": ["url", "path", "subscribers", "requests", "not_modified", "bytes"],
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "The feed's absolute URL"},
            "path": {"type": "string", "description": "The feed's path (?page=N counts here)"},
            "subscribers": {
                "type": "object",
                "required": ["total", "by_reader"],
                "properties": {
                    "total": {"type": "integer", "minimum": 0},
                    "by_reader": {
                        "type": "object",
                        "description": "Reader service → the subscribers it reports (its latest"
                        " report per feed id, last 3 days); `other`: distinct other clients"
                        " (address hash and user agent) seen in the last 3 days",
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "requests": {"type": "integer", "minimum": 0, "description": "Last 24 hours"},
            "not_modified": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Share of those requests answered 304 Not Modified",
            },
            "bytes": {"type": "integer", "minimum": 0, "description": "Body bytes sent"},
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/stats/feeds": {
        "get": {
            "summary": "Subscribers, requests, 304 share and bytes of every feed (last day)",
            "description": "Every feed, or one page of them when page or per_page is given.",
            "tags": ["stats"],
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": {
                    "description": "Feeds, most followed first",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["feeds", "total"],
                                "properties": {
                                    "feeds": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/FeedStats"},
                                    },
                                    "total": {"type": "integer", "minimum": 0},
                                    "page": {"type": "integer", "minimum": 1},
                                    "per_page": {"type": "integer", "minimum": 1},
                                    "pages": {"type": "integer", "minimum": 1},
                                },
                            }
                        }
                    },
                },
                **error_responses(400, 401),
            },
        }
    },
}
