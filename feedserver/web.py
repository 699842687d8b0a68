"""What every web view shares: the base URL, page numbers, paging, lookups by id or slug.

One owner for each of these rules, so the site, the feeds, the comments, the
admin and the API read ``?page=``, count pages, bound ids and find a row by
id or slug the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app, request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from feedserver.content.slugs import SLUG_PATTERN
from feedserver.errors import BadRequest, NotFound
from feedserver.hosts import sane_host

T = TypeVar("T")

MAX_ID = 2**31 - 1  # the largest integer primary key both backends hold
MAX_PAGE = 100_000  # pages of a listing or a feed
MAX_REF = 200  # longest slug reference worth a query
_SLUG = re.compile(SLUG_PATTERN)


def base_url() -> str:
    """The absolute URL prefix: FEEDSERVER_BASE_URL, else the request's host.

    Without BASE_URL, a Host that is no host name (``a_b``, ``%41``, none at
    all over HTTP/1.0) would give links such as ``http:/feed.atom``: a 400
    instead, on pages and in the API as in feeds.
    """
    configured: str = current_app.config["BASE_URL"]
    if configured:
        return configured
    # No Host at all (HTTP/1.0): Werkzeug would fall back on the address the
    # server listens on (gunicorn passes it), which names no site.
    if not request.environ.get("HTTP_HOST") or not sane_host(request.host):
        raise BadRequest(
            "The Host header is not a valid host name to build links with.", code="bad_host"
        )
    return request.host_url.rstrip("/")


def absolute(path: str) -> str:
    """Make a public path absolute with the site's base URL."""
    return base_url() + path


# ---------------------------------------------------------------- page numbers


def parse_page(
    raw: str | None, *, name: str = "page", top: int = MAX_PAGE, default: int = 1
) -> int:
    """Return a whole number from 1 to ``top`` given as ``?name=``; 400 when it is not one."""
    if raw is None:
        return default
    # The length bound keeps int() away from a megabyte of digits.
    if (
        not raw.isascii()
        or not raw.isdigit()
        or len(raw) > max(6, len(str(top)))
        or not 1 <= int(raw) <= top
    ):
        raise BadRequest(f"{name} must be a whole number from 1 to {top}, not {raw[:40]!r}.")
    return int(raw)


def page_arg(name: str = "page", *, top: int = MAX_PAGE, default: int = 1) -> int:
    """Return the request's ``?page=`` (or another paging argument) as a number."""
    return parse_page(request.args.get(name), name=name, top=top, default=default)


def check_depth(
    page: int, per_page: int, limit: int, what: str = "This list", code: str | None = None
) -> None:
    """404 for a page past the ``limit``-th item: deep pages walk a long OFFSET.

    Feeds and listings are for what is new; the archive is there to browse,
    but page 50,000 of a busy section is a database scan, not a reader. The
    cap is on the offset (page × items), so a client cannot dodge it with a
    larger ``per_page``.
    """
    if (page - 1) * per_page >= limit:
        raise NotFound(
            f"{what} is served to a depth of {limit:,} items; page {page} "
            f"({per_page} per page) is beyond that.",
            code=code,
        )


def page_count(total: int, per_page: int) -> int:
    """Return how many pages ``total`` rows fill (at least one)."""
    return max(1, -(-total // per_page))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and where it sits: what every paged list shows."""

    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    def context(self) -> dict[str, Any]:
        """What a listing template's table and pager read: rows, page, pages, total."""
        return {"rows": self.items, "page": self.number, "pages": self.pages, "total": self.total}


def paginate(session: Session, query: Select[Any], number: int, per_page: int) -> Page[Any]:
    """Count a select() and read one page of it (count/limit/offset, in query order)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(per_page).offset((number - 1) * per_page)).unique())
    return Page(rows, number, per_page, total)


# ---------------------------------------------------------------- lookups


class IdConverter(IntegerConverter):
    """``<int:…>`` in a route: an id written as ids are, in ASCII digits without a leading zero.

    Werkzeug's own matches ``\\d``, which in Python takes every script's
    digits: ``/api/articles/١`` (Arabic-Indic) and ``/api/sections/0001``
    were other addresses of article and section 1.
    """

    regex = r"[1-9][0-9]*"


def valid_id(ident: int) -> bool:
    """Tell whether an id fits the integer primary keys (larger ones name no row)."""
    return 0 < ident <= MAX_ID


def get_or_404(session: Session, model: type[T], ident: int) -> T:
    """Return the row with this id or raise a 404 naming it (also for ids no column holds)."""
    row = session.get(model, ident) if valid_id(ident) else None
    if row is None:
        raise NotFound(f"No {model.__name__.lower()} with id {ident}.")
    return row


def find_by_ref(session: Session, model: Any, ref: Any) -> Any:
    """Return the row a reference names — an id, a slug or a digit string — or None.

    A number is an id. Text is a slug first ("2024" may be a section's slug,
    and must not become another section once id 2024 exists), then, when
    no slug is that text, an id written as digits (query strings, forms).
    """
    if isinstance(ref, bool) or not isinstance(ref, int | str) or ref == "":
        return None
    if isinstance(ref, int):
        return session.get(model, ref) if valid_id(ref) else None
    row = None
    # Only a well-formed slug is looked up: no query for text no slug can be
    # (and none with a NUL, which PostgreSQL refuses outright).
    if len(ref) <= MAX_REF and _SLUG.match(ref):
        row = session.scalar(select(model).where(model.slug == ref))
    if row is None and ref.isascii() and ref.isdigit() and len(ref) <= 10:
        ident = int(ref)
        row = session.get(model, ident) if valid_id(ident) else None
    return row
