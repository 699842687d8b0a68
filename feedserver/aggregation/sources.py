"""Managing upstream sources: add by URL, edit, refresh, remove, OPML in and out.

Shared by the JSON API, the CLI and the web admin. Errors are
:mod:`feedserver.errors` (400 malformed URL, 409 already a source, 422 not a
feed / unreachable / refused by the guard), so each caller shows them its way.

Adding fetches the URL at once: a feed becomes a source named after the feed's
title with its entries stored; an HTML page's autodiscovery links are followed.
Nothing is stored unless a feed was fetched and parsed.

Removing a source is :mod:`feedserver.aggregation.removal`.

Importing OPML creates the sources without fetching them (a list of hundreds
would time out a request); the poller fetches them on its next pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from feeds.errors import BlockedAddress, FeedError, ParseError
from feeds.upstream.fetch import Fetcher, FetchResult
from feeds.upstream.guard import check_url
from feeds.upstream.schedule import DEFAULT_POLICY
from feedserver.aggregation import refresh as aggregation
from feedserver.aggregation import store
from feedserver.aggregation.refresh import Outcome, Parsed, PollSettings, SourceJob
from feedserver.content.slugs import unique_slug
from feedserver.content.validation import markup_problem, plain_name, text_problem
from feedserver.db import Database
from feedserver.errors import BadRequest, Conflict, Unprocessable
from feedserver.models import Section, Source, utcnow
from feedserver.urls import MAX_URL, UrlProblem, http_url_problem, without_empty_query
from feedserver.web import find_by_ref

log = logging.getLogger(__name__)

FETCHER = "feedserver.fetcher"
URL_LENGTH = MAX_URL
MAX_CANDIDATES = 3  # autodiscovery links tried, in the page's order
MAX_OUTLINES = 5000
IMPORT_ATTEMPTS = 3  # tries of an import that met a concurrent one
MAX_NAME = 200  # characters of a source's name (and of a section named by reference)


def app_fetcher(app: Flask | None = None) -> Fetcher:
    """The web process's one shared fetcher (for add and refresh-now)."""
    app = app or current_app
    fetcher: Fetcher | None = app.extensions.get(FETCHER)
    if fetcher is None:
        fetcher = app.extensions[FETCHER] = PollSettings.from_config(app.config).fetcher()
    return fetcher


def check_feed_url(url: Any, fetcher: Fetcher, field_name: str = "url") -> str:
    """Return a well-formed http(s) URL: 400 if malformed, 422 if the guard refuses it."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{field_name} must be an http(s) URL.", fields={field_name: "invalid"})
    url = url.strip()
    problem = http_url_problem(url, URL_LENGTH)
    if problem is UrlProblem.TOO_LONG:
        raise BadRequest(f"{field_name} is longer than {URL_LENGTH} characters.")
    if problem is UrlProblem.CREDENTIALS:
        raise BadRequest(
            f"{field_name} must not hold a user name or password: the source's URL is shown"
            " in the admin, the API and its feed.",
            code="malformed_url",
            fields={field_name: "invalid"},
        )
    if problem is not None:
        raise BadRequest(
            f"{field_name} must be an absolute http(s) URL, not {url[:100]!r}.",
            code="malformed_url",
            fields={field_name: "invalid"},
        )
    try:
        # The fragment never reaches the server: "feed.xml" and "feed.xml#top"
        # are one feed, and must be one source (redirect targets drop it too).
        # Nor does an empty query mean another resource to an http server:
        # "feed.xml?" was a second source storing every entry twice.
        checked = str(check_url(url, fetcher.allowlist).copy_with(fragment=None))
        return without_empty_query(checked)
    except BlockedAddress as exc:
        raise Unprocessable(
            str(exc), code="address_refused", fields={field_name: "refused"}
        ) from None
    except FeedError as exc:
        raise BadRequest(str(exc), code="malformed_url", fields={field_name: "invalid"}) from None


def source_name(name: Any, *, required: bool) -> str:
    """A source's name as given: plain text (as section and author names are) of 1–200 characters."""
    problem = (
        "must be text"
        if not isinstance(name, str)
        else text_problem(name, multiline=False) or markup_problem(name)
    )
    if problem is None and required and not name.strip():
        problem = "must not be empty"
    if problem is None and len(name) > MAX_NAME:
        problem = f"must be at most {MAX_NAME} characters"
    if problem is not None:
        raise Unprocessable(f"name {problem}.", fields={"name": "invalid"})
    return str(name).strip()


def find_section(session: Session, ref: Any, field_name: str = "section") -> Section | None:
    """Find a section by id, slug or name (case-insensitive); 422 if there is none."""
    if ref is None or ref == "":
        return None
    if (
        isinstance(ref, bool)
        or not isinstance(ref, int | str)
        or len(str(ref)) > MAX_NAME
        or (isinstance(ref, str) and text_problem(ref, multiline=False))
    ):
        raise Unprocessable(
            f"{field_name} must be a section id or slug.", fields={field_name: "invalid"}
        )
    section = None
    section = find_by_ref(session, Section, ref)
    if section is None and isinstance(ref, str):
        section = session.scalar(
            select(Section).where(Section.slug == ref.strip())
        ) or session.scalar(select(Section).where(func.lower(Section.name) == ref.strip().lower()))
    if section is None:
        raise Unprocessable(
            f"{field_name}: no such section: {str(ref)[:80]!r}.", fields={field_name: "unknown"}
        )
    return section


def _taken(session: Session, feed_url: str) -> None:
    other = session.scalar(select(Source).where(Source.feed_url == feed_url))
    if other is not None:
        raise Conflict(
            f"{feed_url} is already the feed of source {other.id} ({other.name}).",
            code="source_exists",
            source_id=other.id,
        )


def _fetch(fetcher: Fetcher, url: str) -> FetchResult:
    try:
        result = fetcher.fetch(url)
    except BlockedAddress as exc:
        raise Unprocessable(str(exc), code="address_refused", fields={"url": "refused"}) from None
    except FeedError as exc:
        raise Unprocessable(str(exc), code="unreachable", fields={"url": "unreachable"}) from None
    if result.body is None:  # 410 (no validators were sent, so never 304)
        raise Unprocessable(f"fetch {url}: HTTP {result.status}", code="unreachable")
    return result


def locate_feed(fetcher: Fetcher, url: str) -> tuple[str, FetchResult, Parsed]:
    """Fetch ``url``; if it is an HTML page, follow its autodiscovery links.

    Returns the feed URL to poll, the fetch and the parse. 422 if no feed.
    """
    result = _fetch(fetcher, url)
    assert result.body is not None
    try:
        parsed = aggregation.parse(result.body, result.final_url, result.content_type)
        return result.permanent_redirect_url or url, result, parsed
    except ParseError as exc:
        problem = exc
    from feeds.upstream import discover

    candidates = discover.discover_feeds(result.body, result.final_url, result.content_type)
    if not candidates:
        raise Unprocessable(
            f"{problem}; and it is not an HTML page that links to a feed.", code="not_a_feed"
        )
    for candidate in candidates[:MAX_CANDIDATES]:
        try:
            found = _fetch(fetcher, candidate)
            assert found.body is not None
            parsed = aggregation.parse(found.body, found.final_url, found.content_type)
        except (Unprocessable, ParseError) as exc:
            problem = exc  # type: ignore[assignment]  # narrowed by the except clause
            continue
        return found.permanent_redirect_url or candidate, found, parsed
    raise Unprocessable(
        f"{url} links to feeds, but none could be read: {problem}", code="not_a_feed"
    )


def _new_source(session: Session, title: str, fields: dict[str, Any]) -> Source:
    """Insert a source row (flushed); 409 when its feed URL was just taken."""
    _taken(session, fields["feed_url"])
    source = Source(
        slug=unique_slug(session, Source, title, fallback="source"), name=title[:200], **fields
    )
    session.add(source)
    try:
        session.flush()
    except IntegrityError as exc:
        if "feed_url" in str(exc.orig).lower():
            raise Conflict(
                f"{fields['feed_url']} was just added as a source.", code="source_exists"
            ) from None
        # Its slug: another source of the same name was added at this moment.
        raise Conflict(
            "A source of the same name was being added at the same moment; send the request"
            " again (it will get a slug of its own)."
        ) from None
    return source


def add_source(
    db: Database,
    fetcher: Fetcher,
    settings: PollSettings,
    url: Any,
    *,
    section: Any = None,
    name: Any = None,
) -> Source:
    """Add a source by feed or page URL: fetch it, store it and its entries."""
    if name is not None:
        name = source_name(name, required=False)
    url = check_feed_url(url, fetcher)
    with db.session() as session:
        _taken(session, url)
        chosen = find_section(session, section)
        section_id = chosen.id if chosen else None
    feed_url, result, parsed = locate_feed(fetcher, url)
    fields: dict[str, Any] = {"feed_url": feed_url, "section_id": section_id, "enabled": True}
    fields["home_url"] = url if url != feed_url else None  # the page it was found on
    title = (
        (name or "").strip()
        or plain_name(aggregation.feed_title(parsed.feed) or "")
        or urlsplit(feed_url).hostname
        or feed_url
    )
    try:
        with db.write_lock(), db.session() as session:
            source = _new_source(session, title, fields)
            outcome = store.store_fetched(session, source, result, parsed, settings)
    except Conflict:
        raise
    except Exception as exc:  # its entries could not be stored: the source is added, with the error
        log.warning("storing a new source's entries failed url=%s", feed_url, exc_info=True)
        with db.write_lock(), db.session() as session:
            source = _new_source(session, title, fields)
        problem = store.StoreError(feed_url, aggregation.describe(exc))
        outcome = store.store_failure(db, SourceJob.of(source), problem, settings)
    log.info("source added source_id=%s entries=%d", source.id, outcome.added)
    return source


def refresh_now(db: Database, fetcher: Fetcher, settings: PollSettings, source: Source) -> Outcome:
    """Fetch one source now, whatever its schedule (the admin's "refresh")."""
    job = SourceJob.of(source)
    if not job.feed_url:
        raise Unprocessable(f"Source {source.id} has no feed URL to fetch.")
    return aggregation.refresh(db, job, fetcher, settings)


def update_source(session: Session, source: Source, data: dict[str, Any], fetcher: Fetcher) -> None:
    """Apply an edit (name, section, enabled, poll_interval, feed_url, home_url)."""
    unknown = set(data) - EDITABLE
    if unknown:
        raise Unprocessable(
            f"Unknown field(s): {', '.join(sorted(unknown))[:200]}.",
            fields={k: "unknown" for k in sorted(unknown)[:20]},
        )
    # A name kept as it is is not checked again: one stored before today's
    # rules must not stop an edit of the section or the interval.
    if "name" in data and not (
        isinstance(data["name"], str) and data["name"].strip() == source.name
    ):
        source.name = source_name(data["name"], required=True)
    if "section" in data:
        found = find_section(session, data["section"])
        source.section_id = found.id if found else None
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise Unprocessable("enabled must be true or false.", fields={"enabled": "invalid"})
        if data["enabled"] and not source.enabled:
            source.error_count = 0
            source.next_fetch_at = utcnow()  # re-enabled: poll on the next pass
        source.enabled = data["enabled"]
    if "poll_interval" in data:
        value = data["poll_interval"]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 7 * 86400
        ):
            raise Unprocessable(
                "poll_interval must be seconds from 60 to 604800, or null.",
                fields={"poll_interval": "invalid"},
            )
        default = int(current_app.config.get("POLL_INTERVAL", 900))
        _reschedule(source, source.poll_interval or default, value or default)
        source.poll_interval = value
    if "feed_url" in data:
        url = check_feed_url(data["feed_url"], fetcher, "feed_url")
        if url != source.feed_url:
            _taken(session, url)
            source.feed_url = url
            source.etag = source.last_modified = None
            source.next_fetch_at = utcnow()
    if "home_url" in data:
        home = data["home_url"]
        source.home_url = None if home in (None, "") else check_feed_url(home, fetcher, "home_url")


def _reschedule(source: Source, old: int, new: int) -> None:
    """A shorter interval brings the next fetch forward, as if it had been the interval all along.

    The next fetch stayed on the old schedule (up to a week away). Only when
    that schedule is the interval's own: not while the source backs off after
    errors, nor when the upstream's freshness lifetime (max-age, Expires,
    ttl) or its Retry-After set it later, which the poller never fetches before.
    """
    last, due = source.last_fetch_at, source.next_fetch_at
    if new >= old or source.error_count or last is None or due is None:
        return
    own = timedelta(seconds=old * (1 + DEFAULT_POLICY.jitter) + 1)
    if due - last > own:
        return  # set by the upstream, not by the interval
    sooner = max(utcnow(), last + timedelta(seconds=new))
    if sooner < due:
        source.next_fetch_at = sooner


EDITABLE = frozenset({"name", "section", "enabled", "poll_interval", "feed_url", "home_url"})


@dataclass
class ImportSummary:
    """What an OPML import did, outline by outline."""

    added: list[Source] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    created_sections: list[Section] = field(default_factory=list)  # named by categories


def category_section(
    session: Session, category: str | None, summary: ImportSummary
) -> Section | None:
    """The section an OPML category names, created when none has that id, slug or name.

    A reader's exported OPML then imports in one step (its folders become
    our sections); what was created is listed in the summary.
    """
    if not category or not category.strip():
        return None
    name = category.strip()
    problem = text_problem(name, multiline=False) or markup_problem(name)
    if problem is None and len(name) > MAX_NAME:
        problem = f"is longer than the {MAX_NAME} characters a section's name may have"
    if problem is not None:  # it could name no section, and none can be made of it
        raise Unprocessable(f"category {problem}.", fields={"category": "invalid"})
    try:
        return find_section(session, name, "category")
    except Unprocessable as exc:
        if exc.details.get("fields", {}).get("category") != "unknown":
            raise
    from feeds.upstream.opml import category_tag

    # Our own export writes "News, Views" as "News Views" (a comma splits a
    # category): that is the section it came from, not a new one.
    tag = category_tag(name).casefold()
    for section in session.scalars(select(Section).order_by(Section.id)):
        if category_tag(section.name).casefold() == tag:
            return section
    from feedserver.content import editing

    section = editing.create_section(session, {"name": name})
    summary.created_sections.append(section)
    log.info("opml import created section_id=%s slug=%s", section.id, section.slug)
    return section


def import_opml(
    db: Database, fetcher: Fetcher, body: bytes, *, section: Any = None
) -> ImportSummary:
    """Create a source per feed outline (fetched later by the poller); all or nothing per outline."""
    from feeds.upstream import opml

    dropped: list[tuple[str, str]] = []
    try:
        outlines = opml.parse_opml(body, dropped)
    except FeedError as exc:
        if exc.problem.startswith(("malformed", "empty")):
            raise BadRequest(str(exc), code="malformed_opml") from None
        raise Unprocessable(str(exc), code="invalid_opml") from None
    if len(outlines) > MAX_OUTLINES:
        raise Unprocessable(f"OPML lists {len(outlines)} feeds; at most {MAX_OUTLINES} at once.")
    # Another import (another worker process) may add the same feeds or
    # sections at once: the loser's transaction fails as a whole at its
    # unique indexes and is run again, and then sees the winner's rows.
    for attempt in range(1, IMPORT_ATTEMPTS + 1):
        try:
            summary = _import_outlines(db, fetcher, outlines, section)
            break
        except (IntegrityError, StaleDataError) as exc:
            if attempt == IMPORT_ATTEMPTS:
                raise Conflict(
                    "Another import added the same feeds or sections at the same time; "
                    "nothing was imported. Try again.",
                    code="import_conflict",
                ) from None
            log.info("opml import met a concurrent one (%s); importing again", type(exc).__name__)
    # Said, not silently left out: outlines a reader may have meant as feeds.
    summary.skipped.extend({"url": what[:URL_LENGTH], "reason": why} for what, why in dropped)
    log.info(
        "opml import added=%d skipped=%d refused=%d sections_created=%d",
        len(summary.added),
        len(summary.skipped),
        len(summary.refused),
        len(summary.created_sections),
    )
    return summary


def _import_outlines(
    db: Database, fetcher: Fetcher, outlines: list[Any], section: Any
) -> ImportSummary:
    """One try of :func:`import_opml`: one transaction for every outline."""
    summary = ImportSummary()
    with db.write_lock(), db.session() as session:
        common = find_section(session, section) if section not in (None, "") else None
        seen: set[str] = set()
        for outline in outlines:
            raw = outline.xml_url
            try:
                url = check_feed_url(raw, fetcher, "xmlUrl")
            except (BadRequest, Unprocessable) as exc:
                summary.refused.append({"url": str(raw)[:URL_LENGTH], "reason": exc.message})
                continue
            # Known feeds first: an outline skipped creates no section.
            if url in seen or session.scalar(select(Source.id).where(Source.feed_url == url)):
                summary.skipped.append({"url": url, "reason": "already a source"})
                continue
            try:
                chosen = common or category_section(session, outline.category, summary)
            except (BadRequest, Unprocessable) as exc:
                summary.refused.append({"url": url, "reason": exc.message})
                continue
            seen.add(url)
            title = plain_name(outline.title or "") or urlsplit(url).hostname or url[:200]
            home = None
            if outline.html_url:
                try:
                    home = check_feed_url(outline.html_url, fetcher, "htmlUrl")
                except (BadRequest, Unprocessable):
                    home = None
            source = Source(
                slug=unique_slug(session, Source, title, fallback="source"),
                name=title,
                feed_url=url,
                home_url=home,
                section_id=chosen.id if chosen else None,
                enabled=True,
                next_fetch_at=None,  # due at once
            )
            session.add(source)
            session.flush()
            summary.added.append(source)
    return summary


def export_opml(session: Session, title: str) -> bytes:
    """Every source with a feed as an OPML 2.0 subscription list."""
    from feeds.upstream import opml

    rows = session.execute(
        select(Source, Section.name)
        .outerjoin(Section, Source.section_id == Section.id)
        .where(Source.feed_url.is_not(None))
        .order_by(Source.id)
    )
    outlines = [
        opml.Outline(
            title=source.name,
            xml_url=source.feed_url or "",
            html_url=source.home_url,
            category=section_name,
        )
        for source, section_name in rows
    ]
    return opml.render_opml(outlines, title=title)


def article_counts(session: Session, ids: list[int]) -> dict[int, int]:
    """How many articles each source has (from the feed scope rows: no COUNT scan)."""
    from feedserver.models.scopes import ScopeVersion, scope_key

    keys = {scope_key("source", i): i for i in ids}
    rows = session.execute(
        select(ScopeVersion.key, ScopeVersion.item_count).where(ScopeVersion.key.in_(keys))
    )
    found = {keys[key]: count for key, count in rows}
    return {i: found.get(i, 0) for i in ids}
