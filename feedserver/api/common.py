"""What every API endpoint shares: auth, JSON bodies, paging, times, references."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedserver.db import db_session
from feedserver.errors import (
    BadRequest,
    NotFound,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from feedserver.models import ApiToken, User, utcnow
from feedserver.publishing.views import base_url

F = TypeVar("F", bound=Callable[..., Any])
MAX_PER_PAGE = 100


def token_required(view: F) -> F:
    """Refuse the request unless it carries a valid, unrevoked Bearer token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send an API token: 'Authorization: Bearer <token>'.")
        if len(token) > 200 or not token.isascii():
            raise Unauthorized("That API token is not valid.", code="invalid_token")
        session = db_session()
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("That API token is not valid or was revoked.", code="invalid_token")
        now = utcnow()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            row.last_used_at = now
            session.commit()
        g.api_user = session.get(User, row.user_id)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the wrapped signature at run time


def json_body() -> dict[str, Any]:
    """Return the request's JSON object: 415 if not JSON, 400 if malformed."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"Send a JSON object with 'Content-Type: application/json', not {request.mimetype or 'nothing'!r}."
        )
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the JSON decoder can follow
        data = None
    if data is None:
        raise BadRequest("The request body is not valid JSON.", code="malformed_json")
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="malformed_json")
    return data


def page_args() -> tuple[int, int]:
    """Return (page, per_page) from the query string; 400 when malformed."""
    values = []
    for name, default, top in (("page", 1, 1_000_000), ("per_page", 20, MAX_PER_PAGE)):
        raw = request.args.get(name)
        if raw is None:
            values.append(default)
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or not 1 <= int(raw) <= top:
            raise BadRequest(f"{name} must be a whole number from 1 to {top}, not {raw[:40]!r}.")
        values.append(int(raw))
    return values[0], values[1]


def paginated(
    session: Session, query: Any, render: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """Run a select() one page at a time and wrap the rows with the totals."""
    page, per_page = page_args()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique()
    return {
        "items": [render(r) for r in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
    }


def rfc3339(moment: datetime | None) -> str | None:
    """Format a time as RFC 3339 in UTC (``2026-11-24T10:00:00.123456Z``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def resolve_ref(session: Session, model: Any, ref: Any, field: str) -> Any:
    """Find a section/author/source by id (int or digit string) or slug; 422 if none."""
    if (
        isinstance(ref, bool)
        or not isinstance(ref, int | str)
        or (isinstance(ref, str) and not ref)
    ):
        raise Unprocessable(f"{field} must be an id or a slug.", fields={field: "invalid"})
    obj = None
    numeric = isinstance(ref, int) or (ref.isascii() and ref.isdigit() and len(ref) <= 10)
    if numeric and 0 < int(ref) < 2**31:
        obj = session.get(model, int(ref))
    if obj is None and isinstance(ref, str) and len(ref) <= 200:
        obj = session.scalar(select(model).where(model.slug == ref))
    if obj is None:
        raise Unprocessable(
            f"{field}: no such {model.__name__.lower()}: {str(ref)[:80]!r}.",
            fields={field: "unknown"},
        )
    return obj


def get_or_404(session: Session, model: Any, ident: int) -> Any:
    """Return the row with this id or raise a 404 naming it."""
    obj = session.get(model, ident) if 0 < ident < 2**31 else None
    if obj is None:
        raise NotFound(f"No {model.__name__.lower()} with id {ident}.")
    return obj


def absolute(path: str) -> str:
    """Make a public path absolute with the site's base URL."""
    return base_url() + path
