"""Page numbers from the query string, refused cleanly when malformed."""

from __future__ import annotations

from flask import request

from feedserver.errors import BadRequest

MAX_PAGE = 100_000


def page_number() -> int:
    """Return ?page= as a number from 1; 400 when it is not one."""
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"The page number must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def page_count(total: int, per_page: int) -> int:
    """Return how many pages ``total`` rows fill (at least one)."""
    return max(1, -(-total // per_page))
