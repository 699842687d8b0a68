"""/api/websub/subscriptions: who subscribed to our feeds at our hub, and how delivery goes.

Secrets are never shown (WebSub §5.1: the secret is shared by the subscriber
and the hub only).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, not_, or_, select

from feedserver.api import bp
from feedserver.api.common import paginated, rfc3339, token_required
from feedserver.api.openapi import error_responses
from feedserver.db import db_session
from feedserver.errors import BadRequest
from feedserver.models import HubSubscription, utcnow
from feedserver.models.hub import SUBSCRIPTION_STATES


def _lapsed(sub: HubSubscription) -> bool:
    """An active lease whose end has come before the hub's sweep marked it ended."""
    return sub.state == "active" and sub.expires_at is not None and sub.expires_at <= utcnow()


def subscription_json(sub: HubSubscription) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret)."""
    return {
        "id": sub.id,
        "topic": sub.topic,
        "callback": sub.callback,
        "state": "ended" if _lapsed(sub) else sub.state,
        "expires_at": rfc3339(sub.expires_at),
        "lease_seconds": sub.lease_seconds,
        "signed": sub.secret is not None,
        "last_delivery_at": rfc3339(sub.last_delivery_at),
        "last_status": sub.last_status,
        "last_error": sub.last_error,
        "failures": sub.failures,
        "created_at": rfc3339(sub.created_at),
    }


@bp.get("/websub/subscriptions")
@token_required
def list_websub_subscriptions() -> ResponseReturnValue:
    """List the hub's subscriptions, newest first; ?state= filters."""
    query = select(HubSubscription)
    state = request.args.get("state")
    if state is not None:
        if state not in SUBSCRIPTION_STATES:
            raise BadRequest(
                f"state must be one of {', '.join(SUBSCRIPTION_STATES)}, not {state[:40]!r}."
            )
        # As shown: a lease that has run out is ended, whether or not swept yet.
        now = utcnow()
        lapsed = and_(HubSubscription.state == "active", HubSubscription.expires_at <= now)
        if state == "active":
            query = query.where(HubSubscription.state == state, not_(lapsed))
        elif state == "ended":
            query = query.where(or_(HubSubscription.state == state, lapsed))
        else:
            query = query.where(HubSubscription.state == state)
    query = query.order_by(HubSubscription.created_at.desc(), HubSubscription.id.desc())
    return jsonify(paginated(db_session(), query, subscription_json))


_TIME = {"type": ["string", "null"], "format": "date-time"}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "WebSubSubscription": {
        "type": "object",
        "required": [
            "id",
            "topic",
            "callback",
            "state",
            "expires_at",
            "last_delivery_at",
            "last_status",
            "failures",
        ],  # fmt: skip
        "properties": {
            "id": {"type": "integer"},
            "topic": {"type": "string", "format": "uri", "description": "As subscribed"},
            "callback": {"type": "string", "format": "uri"},
            "state": {
                "type": "string",
                "enum": list(SUBSCRIPTION_STATES),
                "description": "pending until verified; ended after an unsubscribe, a 410 "
                "or the lease's end",
            },
            "expires_at": _TIME,
            "lease_seconds": {"type": ["integer", "null"]},
            "signed": {
                "type": "boolean",
                "description": "Whether deliveries carry X-Hub-Signature",
            },
            "last_delivery_at": _TIME,
            "last_status": {
                "type": ["integer", "null"],
                "description": "HTTP status of the last delivery",
            },
            "last_error": {"type": ["string", "null"]},
            "failures": {"type": "integer", "description": "Consecutive failed deliveries"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "WebSubSubscriptionList": {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/WebSubSubscription"},
            },
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/websub/subscriptions": {
        "get": {
            "summary": "List the subscriptions of our WebSub hub (secrets never shown)",
            "tags": ["websub"],
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(SUBSCRIPTION_STATES)},
                },
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of subscriptions",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/WebSubSubscriptionList"}
                        }
                    },
                },
                **error_responses(400, 401),
            },
        }
    },
}
