"""How a source is doing, in the words the admin pages use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case

from feedserver.models import Source

HEALTH_LABELS = {
    "ok": "OK",
    "failing": "Failing",
    "disabled": "Disabled",
    "pending": "Not fetched yet",
    "manual": "Not polled",
}


def source_health(source: Source) -> str:
    """Return "ok", "failing", "disabled", "pending" (never fetched) or "manual" (no feed)."""
    if not source.feed_url:
        return "manual"
    if not source.enabled:
        return "disabled"
    if source.error_count:
        return "failing"
    if source.last_fetch_at is None:
        return "pending"
    return "ok"


def health_expression() -> Any:
    """The same classification as a SQL expression, for counting and filtering."""
    return case(
        (Source.feed_url.is_(None), "manual"),
        (Source.enabled.is_(False), "disabled"),
        (Source.error_count > 0, "failing"),
        (Source.last_fetch_at.is_(None), "pending"),
        else_="ok",
    )
