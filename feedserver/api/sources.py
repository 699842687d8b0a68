"""/api/sources: upstream sources — add by URL, edit, refresh now, remove, OPML."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from feedserver import urls
from feedserver.aggregation import removal, sources, websub
from feedserver.aggregation.refresh import PollSettings
from feedserver.api import bp
from feedserver.api.common import (
    absolute,
    get_or_404,
    list_json,
    page_args,
    rfc3339,
    token_required,
)
from feedserver.api.openapi import error_responses
from feedserver.api.shapes import (
    PAGE_PARAMETERS,
    REF_INPUT,
    REF_SCHEMA,
    TIME,
    created,
    id_parameter,
    json_content,
    list_schema,
    ref_json,
    request_fields,
)
from feedserver.db import db_session, get_db
from feedserver.errors import BadRequest, Unprocessable, UnsupportedMediaType
from feedserver.models import Source
from feedserver.web import base_url, paginate

OPML_TYPES = frozenset({"text/x-opml", "application/xml", "text/xml", "application/x-opml"})
OPML_MEDIA_TYPE = "text/x-opml; charset=utf-8"


def source_json(
    source: Source, article_count: int | None = None, push: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A source as the API shows it: identity, where it is polled, its health, its push state."""
    from feeds.httpdate import parse_http_date

    if push is None:
        push = websub.push_json(websub.wanted_row(db_session(), source.id))

    return {
        "id": source.id,
        "slug": source.slug,
        "name": source.name,
        "url": absolute(urls.source(source.slug)),
        "feed_url": source.feed_url,
        "home_url": source.home_url,
        "section": ref_json(source.section),
        "enabled": source.enabled,
        "poll_interval": source.poll_interval,
        "last_fetch_at": rfc3339(source.last_fetch_at),
        "last_success_at": rfc3339(source.last_success_at),
        "last_status": source.last_status,
        "last_error": source.last_error,
        "error_count": source.error_count,
        "next_fetch_at": rfc3339(source.next_fetch_at),
        "etag": source.etag,
        "last_modified": rfc3339(parse_http_date(source.last_modified)),
        "article_count": article_count,
        "feeds": {
            fmt: absolute(urls.scope_feed("source", source.slug, fmt))
            for fmt in ("atom", "rss", "json")
        },
        "created_at": rfc3339(source.created_at),
        "websub": push,
    }


def _one(source: Source) -> dict[str, Any]:
    count = sources.article_counts(db_session(), [source.id])[source.id]
    return source_json(source, count)


def _settings() -> PollSettings:
    return PollSettings.from_config(current_app.config)


@bp.get("/sources")
@token_required
def list_sources() -> ResponseReturnValue:
    """List sources by id with their health."""
    session = db_session()
    page, per_page = page_args()
    listing = paginate(session, select(Source).order_by(Source.id), page, per_page)
    counts = sources.article_counts(session, [s.id for s in listing.items])
    pushes = websub.wanted_rows(session, [s.id for s in listing.items])
    return jsonify(
        list_json(
            listing, lambda s: source_json(s, counts[s.id], websub.push_json(pushes.get(s.id)))
        )
    )


@bp.post("/sources")
@token_required
def add_source() -> ResponseReturnValue:
    """Add a source by its feed's URL or an HTML page's; fetch it and store its entries."""
    data = request_fields()
    unknown = set(data) - {"url", "section", "name"}
    if unknown:
        raise Unprocessable(
            f"Unknown field(s): {', '.join(sorted(unknown))[:200]}.",
            fields={str(k)[:100]: "is not a field of this request" for k in sorted(unknown)[:20]},
        )
    if "url" not in data:
        raise BadRequest("Give the feed's or a page's address as 'url'.", fields={"url": "missing"})
    source = sources.add_source(
        get_db(),
        sources.app_fetcher(),
        _settings(),
        data["url"],
        section=data.get("section"),
        name=data.get("name"),
    )
    session = db_session()
    fresh = session.get(Source, source.id)
    assert fresh is not None
    return created(_one(fresh), f"{base_url()}/api/sources/{source.id}")


@bp.get("/sources/<int:ident>")
@token_required
def get_source(ident: int) -> ResponseReturnValue:
    """Show one source with its health."""
    return jsonify(_one(get_or_404(db_session(), Source, ident)))


@bp.patch("/sources/<int:ident>")
@token_required
def update_source(ident: int) -> ResponseReturnValue:
    """Change name, section, enabled, poll_interval, feed_url or home_url."""
    data = request_fields()
    session = db_session()
    source = get_or_404(session, Source, ident)
    try:
        sources.update_source(session, source, data, sources.app_fetcher())
        session.commit()
    except Exception:
        session.rollback()
        raise
    return jsonify(_one(source))


@bp.delete("/sources/<int:ident>")
@token_required
def delete_source(ident: int) -> ResponseReturnValue:
    """Delete a source with its articles and upstream authors (disable it to keep them)."""
    session = db_session()
    source = get_or_404(session, Source, ident)
    try:
        removal.remove_source(session, source)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return Response(status=204)


@bp.post("/sources/<int:ident>/refresh")
@token_required
def refresh_source(ident: int) -> ResponseReturnValue:
    """Fetch the source now and answer with it as it is after the fetch."""
    session = db_session()
    source = get_or_404(session, Source, ident)
    session.commit()  # end the read transaction: the refresh writes in its own
    sources.refresh_now(get_db(), sources.app_fetcher(), _settings(), source)
    session.expire_all()
    return jsonify(_one(get_or_404(session, Source, ident)))


@bp.post("/sources/import")
@token_required
def import_sources() -> ResponseReturnValue:
    """Import an OPML subscription list; the new sources are fetched by the poller."""
    if request.mimetype not in OPML_TYPES:
        raise UnsupportedMediaType(
            "Send the OPML document with 'Content-Type: text/x-opml' or 'application/xml', "
            f"not {request.mimetype or 'nothing'!r}."
        )
    body = request.get_data(cache=False)
    if not body.strip():
        raise BadRequest("The request body is empty; send an OPML document.", code="empty_body")
    summary = sources.import_opml(
        get_db(), sources.app_fetcher(), body, section=request.args.get("section")
    )
    session = db_session()
    added = [session.get(Source, s.id) for s in summary.added]
    return jsonify(
        {
            "added": [source_json(s, 0) for s in added if s is not None],
            "skipped": summary.skipped,
            "refused": summary.refused,
            "created_sections": [
                {"id": made.id, "slug": made.slug, "name": made.name}
                for made in summary.created_sections
            ],
        }
    )


@bp.get("/sources/export")
@token_required
def export_sources() -> ResponseReturnValue:
    """Export every source as an OPML 2.0 subscription list."""
    body = sources.export_opml(db_session(), current_app.config["SITE_TITLE"])
    return Response(
        body,
        mimetype="text/x-opml",
        headers={
            "Content-Type": OPML_MEDIA_TYPE,
            "Content-Disposition": 'attachment; filename="sources.opml"',
        },
    )


# --- OpenAPI ----------------------------------------------------------------------

_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Source": {
        "type": "object",
        "required": [
            "id", "slug", "name", "url", "feed_url", "section", "enabled", "last_fetch_at",
            "last_status", "last_error", "error_count", "next_fetch_at", "etag", "last_modified",
            "websub",
        ],
        "properties": {
            "id": {"type": "integer"},
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "url": {"type": "string", "format": "uri", "description": "Its public page."},
            "feed_url": {"type": ["string", "null"], "format": "uri", "description": "The URL polled."},
            "home_url": {"type": ["string", "null"], "format": "uri"},
            "section": {"oneOf": [REF_SCHEMA, {"type": "null"}], "description": "Where its entries land."},
            "enabled": {"type": "boolean"},
            "poll_interval": {"type": ["integer", "null"], "description": "Seconds; null: the default."},
            "last_fetch_at": _NULL_TIME,
            "last_success_at": _NULL_TIME,
            "last_status": {"type": ["integer", "null"], "description": "HTTP status of the last fetch."},
            "last_error": {"type": ["string", "null"], "description": "Names the stage and the subject."},
            "error_count": {"type": "integer", "description": "Consecutive failed fetches."},
            "next_fetch_at": _NULL_TIME,
            "etag": {"type": ["string", "null"]},
            "last_modified": _NULL_TIME,
            "article_count": {"type": ["integer", "null"]},
            "feeds": {"type": "object"},
            "created_at": TIME,
            "websub": {"$ref": "#/components/schemas/SourceWebSub"},
        },
    },
    "SourceWebSub": {
        "type": "object",
        "description": "Push state: our WebSub subscription at the hub the source's feed advertises (INTERFACE §7).",
        "required": ["hub", "state", "expires_at", "last_push_at", "last_error"],
        "properties": {
            "hub": {"type": ["string", "null"], "format": "uri", "description": "The hub advertised (Link header first, then the document); null: none."},
            "state": {"enum": ["none", "pending", "active", "denied", "expired"], "description": "none: no hub advertised (or FEEDSERVER_BASE_URL unset, so no request sent yet); pending: asked, awaiting verification; active: verified, polled only as a back-up; denied: the hub refused; expired: the lease lapsed (polled normally)."},
            "expires_at": {**_NULL_TIME, "description": "End of the lease the hub granted."},
            "last_push_at": {**_NULL_TIME, "description": "When the hub last delivered content with a valid signature."},
            "last_error": {"type": ["string", "null"], "description": "Why the last request to the hub failed (a refused address, an HTTP error); it is retried with back-off. null once a request succeeds."},
        },
    },
    "SourceInput": {
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "A feed's URL, or an HTML page's whose autodiscovery links name one."},
            "section": {"oneOf": [*REF_INPUT["oneOf"], {"type": "null"}, {"const": ""}], "description": "An id or a slug; null or \"\": none."},
            "name": {"type": ["string", "null"], "maxLength": 200, "description": "Default (also for null): the feed's title."},
        },
    },
    "SourcePatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "section": {"oneOf": [*REF_INPUT["oneOf"], {"type": "null"}, {"const": ""}]},
            "enabled": {"type": "boolean"},
            "poll_interval": {"type": ["integer", "null"], "minimum": 60, "maximum": 604800},
            "feed_url": {"type": "string", "format": "uri"},
            "home_url": {"type": ["string", "null"], "format": "uri"},
        },
    },
    "SourceList": list_schema("Source"),
    "ImportSummary": {
        "type": "object",
        "required": ["added", "skipped", "refused"],
        "properties": {
            "added": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}},
            "skipped": {"type": "array", "items": {"type": "object"}, "description": "Outlines not added, with why: already sources, listed twice, or with no feed address ({url, reason}; url is the title when there is none)."},
            "refused": {"type": "array", "items": {"type": "object"}, "description": "Bad or refused URLs, unusable categories: {url, reason}."},
            "created_sections": {"type": "array", "items": {"type": "object"}, "description": "Sections created for OPML categories that named none: {id, slug, name}."},
        },
    },
}  # fmt: skip

_OPML_BODY = {
    t: {"schema": {"type": "string", "description": "An OPML 1.0/2.0 document."}}
    for t in ("text/x-opml", "application/xml", "text/xml")
}
_ID = [id_parameter("source")]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/sources": {
        "get": {
            "summary": "List sources with their health",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "A page of sources", "content": json_content("SourceList")}, **error_responses(400, 401)},
        },
        "post": {
            "summary": "Add a source by a feed's or an HTML page's URL; fetches it and stores its entries",
            "requestBody": {"required": True, "content": json_content("SourceInput")},
            "responses": {
                "201": {"description": "The new source, after its first fetch", "content": json_content("Source")},
                **error_responses(400, 401, 409, 413, 415, 422),
            },
        },
    },
    "/api/sources/{id}": {
        "get": {"summary": "Show a source", "parameters": _ID, "responses": {"200": {"description": "The source", "content": json_content("Source")}, **error_responses(401, 404)}},
        "patch": {
            "summary": "Change a source (re-enabling one resets its error count)",
            "parameters": _ID,
            "requestBody": {"required": True, "content": json_content("SourcePatch")},
            "responses": {"200": {"description": "The source", "content": json_content("Source")}, **error_responses(400, 401, 404, 409, 415, 422)},
        },
        "delete": {
            "summary": "Delete a source, its articles and its upstream authors (disable it to keep them)",
            "parameters": _ID,
            "responses": {"204": {"description": "Deleted"}, **error_responses(401, 404)},
        },
    },
    "/api/sources/{id}/refresh": {
        "post": {
            "summary": "Fetch the source now",
            "parameters": _ID,
            "responses": {"200": {"description": "The source after the fetch (its health says how it went)", "content": json_content("Source")}, **error_responses(401, 404, 422)},
        },
    },
    "/api/sources/import": {
        "post": {
            "summary": "Import an OPML subscription list; an outline's category names its section",
            "parameters": [{"name": "section", "in": "query", "schema": REF_INPUT, "description": "The section of every imported source (overrides categories)."}],
            "requestBody": {"required": True, "content": _OPML_BODY},
            "responses": {"200": {"description": "What was added, skipped and refused", "content": json_content("ImportSummary")}, **error_responses(400, 401, 413, 415, 422)},
        },
    },
    "/api/sources/export": {
        "get": {
            "summary": "Export every source as OPML 2.0",
            "responses": {"200": {"description": "The OPML document", "content": {"text/x-opml": {"schema": {"type": "string"}}}}, **error_responses(401)},
        },
    },
}  # fmt: skip
