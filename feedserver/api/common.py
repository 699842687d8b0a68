"""What every API endpoint shares: auth, JSON bodies, paging, times, references."""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Response, after_this_request, current_app, g, request
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from feedserver import urls
from feedserver.db import db_session, get_db, is_transient
from feedserver.errors import (
    BadRequest,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from feedserver.models import ApiToken, User, utcnow
from feedserver.web import (
    Page,
    absolute,
    check_depth,
    find_by_ref,
    get_or_404,
    page_arg,
    page_count,
    paginate,
)

__all__ = ["absolute", "get_or_404"]  # re-exported: the API modules import them from here

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
MAX_PER_PAGE = 100
WRITE_TRIES = 4  # a write the database chose as a deadlock's victim, at most
MAX_API_PAGE = 1_000_000


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
            _note_use(row.id, now)
        g.api_user = session.get(User, row.user_id)
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return view(*args, **kwargs)
            except OperationalError as exc:
                # A deadlock's victim (two writes to one story's members, say)
                # was rolled back whole: run it again, a random moment later.
                if request.method == "GET" or not is_transient(exc) or attempt == WRITE_TRIES:
                    raise
                log.info("%s %s met a deadlock; running it again", request.method, request.path)
                session.rollback()
                time.sleep(random.uniform(0.02, 0.1) * attempt)  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the wrapped signature at run time


def _note_use(token_id: int, when: datetime) -> None:
    """Record a token's use once the answer is sent, if the database takes writes.

    Best effort, after the response: a read must not wait for, or fail on, a
    write of its own (while another writer holds SQLite's lock, or the file
    cannot be written, the API still reads).
    """
    database = get_db()

    def record() -> None:
        try:
            database.write_now(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=when)
            )
        except Exception:  # noqa: BLE001 - only a "last used" time is lost
            log.info("an API token's use could not be recorded token_id=%s", token_id)

    @after_this_request
    def later(response: Response) -> Response:
        response.call_on_close(record)
        return response


def json_body() -> dict[str, Any]:
    """Return the request's JSON object: 415 if not JSON, 400 if malformed."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"Send a JSON object with 'Content-Type: application/json', not {request.mimetype or 'nothing'!r}."
        )
    # Its size (and a chunked one's) was checked for every route before the view.
    try:
        # Strict RFC 8259: NaN and Infinity, which Python's decoder takes, are not JSON.
        data = json.loads(
            request.get_data(cache=True), parse_constant=_not_json, object_pairs_hook=_unique_keys
        )
    except _NotJSONConstant as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc} is not a JSON value.",
            code="malformed_json",
        ) from None
    except _DuplicateKey as exc:
        raise BadRequest(
            f"The request body names {str(exc)[:100]!r} twice in one object; which one was meant?",
            code="malformed_json",
        ) from None
    except (ValueError, RecursionError):  # bad syntax or encoding; nesting too deep
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="malformed_json")
    return data


class _NotJSONConstant(Exception):
    """NaN, Infinity or -Infinity in a request body."""


class _DuplicateKey(Exception):
    """A name given twice in one JSON object (RFC 8259 §4: what it means is unpredictable)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


def _not_json(name: str) -> Any:
    raise _NotJSONConstant(name)


def page_args() -> tuple[int, int]:
    """Return (page, per_page) from the query string; 400 when malformed."""
    page = page_arg(top=MAX_API_PAGE)
    per_page = page_arg("per_page", top=MAX_PER_PAGE, default=20)
    check_depth(
        page, per_page, int(current_app.config["MAX_PAGE_DEPTH"]), "This list", code="page_too_deep"
    )
    return page, per_page


def served_pages(total: int, per_page: int) -> int:
    """How many pages a list of ``total`` has, up to the one that holds the
    MAX_PAGE_DEPTH-th item: the pages past it answer 404 (``page_too_deep``)."""
    return min(
        page_count(total, per_page),
        urls.deepest_page(per_page, int(current_app.config["MAX_PAGE_DEPTH"])),
    )


def list_json(listing: Page[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """The JSON of one page of a list: its items and how many there are in all."""
    return {
        "items": [render(r) for r in listing.items],
        "total": listing.total,
        "page": listing.number,
        "per_page": listing.per_page,
        "pages": served_pages(listing.total, listing.per_page),
    }


def paginated(
    session: Session, query: Any, render: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """Run a select() one page at a time and wrap the rows with the totals."""
    page, per_page = page_args()
    return list_json(paginate(session, query, page, per_page), render)


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
    obj = find_by_ref(session, model, ref)
    if obj is None:
        raise Unprocessable(
            f"{field}: no such {model.__name__.lower()}: {str(ref)[:80]!r}.",
            fields={field: "unknown"},
        )
    return obj
