"""The application's exception tree and its one mapping to HTTP answers.

    AppError            (400) something the client sent is wrong
    ├── BadRequest      (400) malformed input
    ├── Unauthorized    (401) no or bad credentials
    ├── Forbidden       (403)
    ├── NotFound        (404)
    ├── Conflict        (409) e.g. a slug already taken
    ├── Gone            (410) deleted, with its tombstone still kept (RFC 6721)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── Unprocessable   (422) well-formed but not acceptable (e.g. not a feed)
    └── TooManyRequests (429)

A database that cannot be reached (connection refused or lost, pool
exhausted, PostgreSQL shutting down or in recovery) is not a bug of ours:
it is answered ``503 Service Unavailable`` with ``Retry-After``
(RFC 9110 §15.6.4, §10.2.3), never 500; the pool re-connects by itself
(pool_pre_ping), so nothing needs a restart once the database is back.

Under /api/ every error is JSON ``{"error": {"code": …, "message": …}}``;
elsewhere an HTML page (templates/errors/). Werkzeug's own HTTP errors (an
unknown URL, a wrong method, an oversized body) get the same treatment, and an
unexpected exception is logged and answered 500 without details.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, jsonify, render_template, request
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from feedserver.db import describe, is_transient

log = logging.getLogger(__name__)


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class Gone(AppError):
    status, code = 410, "gone"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(AppError):
    status, code = 422, "unprocessable"


class TooManyRequests(AppError):
    status, code = 429, "too_many_requests"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
}

# Seconds a client is asked to wait while the database is unreachable.
OUTAGE_RETRY_AFTER = 5
OUTAGE_MESSAGE = (
    "The database is unreachable at the moment; please try again in a few seconds. "
    "Cached feeds are still being served."
)


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database cannot be reached", not "the query was wrong"."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.PendingRollbackError):
        return True  # an earlier statement of this request lost its connection
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return True  # connection refused/lost, admin shutdown, SQLite "locked"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    try:  # psycopg's own errors, e.g. from the fast path's scope-version reader
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


_PLAIN_ERROR = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>Error {status}</title></head><body><h1>Error {status}</h1><p>{message}</p></body></html>"
)


RACE_MESSAGE = (
    "Another request changed the same data at the same time, so nothing was saved; try again."
)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: Any) -> Any:
    """``value`` with every lone surrogate (from a JSON "\\ud800") made U+FFFD.

    Error messages quote what the client sent, field names included; I-JSON
    (RFC 7493 §2.1) and UTF-8 allow no lone surrogate, and strict clients
    could not read an error that carried one back.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """Answer an error as JSON under /api/, as an HTML page elsewhere."""
    message = _plain(message)
    extra = _plain(extra)
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        body.update(extra)
        response = jsonify(error=body)
    else:
        try:
            html = render_template("errors/error.html", status=status, code=code, message=message)
        except Exception:  # e.g. no URL adapter (the request's Host could not be routed)
            log.exception("error page %s could not be rendered; answering a plain one", status)
            html = _PLAIN_ERROR.format(status=status, message=escape(message))
        response = Response(html, mimetype="text/html")
    response.status_code = status
    if status == 401 and wants_json():
        # RFC 6750 §3: say why a token that was sent is refused.
        challenge = 'Bearer realm="feedserver"'
        if code == "invalid_token":
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


CALLBACK_ENDPOINT = "websub_callback.receive"
HUB_ENDPOINT = "websub.hub"  # answers 413/415 in plain text (README, WebSub hub)


def refuse_oversized_stream(limit: int | None) -> None:
    """413 for a body without a Content-Length (chunked) that runs past ``limit``.

    With a Content-Length over the limit Werkzeug refuses the request itself;
    a chunked body has none, and Werkzeug's reader then stops at the limit
    silently. One more byte on the wire beyond it tells the two apart. What
    was read is kept for the form or JSON parser (``get_data(cache=True)``).
    """
    if not limit or request.content_length is not None:
        return
    try:
        over = len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1)
    except HTTPException:
        raise
    except Exception as exc:  # the server's own reader: a malformed chunk (gunicorn raises)
        log.info("unreadable chunked request body: %s", type(exc).__name__)
        raise BadRequest(
            "The request body is not well-formed chunked data (RFC 9112 section 7.1)."
        ) from None
    if over:
        raise PayloadTooLarge(
            f"The request body is larger than the {limit:,} bytes this server accepts."
        )


def _has_body() -> bool:
    """Whether the request carries a body (a Content-Length above 0, or chunked)."""
    return bool(request.content_length) or (
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def _check_body() -> None:
    """Raise 415 for a body with a content coding, 413 for one over the limit."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity") and _has_body():
        raise UnsupportedMediaType(
            f"Request bodies are read as sent: send it without a content coding,"
            f" not {coding[:40]!r}."
        )
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    sent = request.content_length
    if limit and sent is not None and sent > limit:
        raise PayloadTooLarge(
            f"The request body is larger than the {limit:,} bytes this server accepts."
        )
    if sent is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        refuse_oversized_stream(limit)


def init_app(app: Flask) -> None:
    """Map every error to the one response shape."""

    @app.before_request
    def _refuse_nul() -> None:
        # No slug, id or query value holds a NUL, and PostgreSQL's text cannot
        # even be compared with one: answer before any lookup is tried.
        if "\x00" in request.path:
            raise NotFound("No page has a NUL character in its address.")
        raw = request.query_string
        if (b"%00" in raw or b"\x00" in raw) and any(
            "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
        ):
            raise BadRequest("Query parameters must not contain NUL characters.")

    @app.before_request
    def _whole_body() -> Response | None:
        # Every route, whether or not it reads a body: one over the limit is
        # a 413, with a Content-Length or sent chunked (README). Werkzeug
        # refuses it only when something reads it, and a chunked one not even
        # then (its reader stops at the limit silently: a form cut at 1 MB
        # was read and stored). The WebSub callback (pushes) has its own
        # limit, checked there; the hub answers in plain text (README).
        if request.endpoint == CALLBACK_ENDPOINT:
            return None
        try:
            _check_body()
        except AppError as exc:
            if request.endpoint != HUB_ENDPOINT:
                raise
            return Response(exc.message + "\n", status=exc.status, mimetype="text/plain")
        return None

    @app.before_request
    def _one_leading_slash() -> Response | None:
        # The router takes "//feed.rss" for "/feed.rss" (it merges later double
        # slashes with a redirect, not leading ones): one URL, one address,
        # as a feed's rel="self" names it. Never a "//host" Location.
        path = request.environ.get("PATH_INFO", "")  # request.path has them merged already
        if not path.startswith("//"):
            return None
        target = quote(("/" + path.lstrip("/")).encode("latin-1"), safe="/:@!$&'()*+,;=~")
        query = request.query_string.decode("latin-1")
        return Response(status=308, headers={"Location": f"{target}?{query}" if query else target})

    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, **exc.details)
        if isinstance(exc, TooManyRequests) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if 300 <= status < 400:  # a routing redirect, e.g. a missing trailing slash
            redirect = Response(status=status)
            redirect.headers.update(exc.get_response().headers)
            return redirect
        code = HTTP_CODES.get(status, "error")
        message = exc.description or exc.name
        if status == 404:
            message = f"Nothing here: {request.path}"
        elif status == 413:
            limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
            sent = request.content_length
            if sent is not None and sent <= limit:
                # Within the size: werkzeug refused the form's number of parts
                # or of fields (its max_form_parts, our MAX_FORM_FIELDS).
                message = "The form has more fields or parts than this server accepts."
            else:
                message = (
                    f"The request body is larger than the {limit:,} bytes this server accepts."
                )
        response = error_response(status, code, message)
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, sa_exc.IntegrityError | StaleDataError) or (
            isinstance(exc, sa_exc.OperationalError) and is_transient(exc)
        ):
            # A race lost to a concurrent request where no service caught it:
            # the transaction was rolled back whole, so saying so is the truth.
            log.warning(
                "%s on %s %s, answered 409: %s",
                type(exc).__name__, request.method, request.path, describe(exc),
            )  # fmt: skip
            return error_response(409, "conflict", RACE_MESSAGE)
        if is_database_outage(exc):
            log.warning(
                "database unreachable on %s %s: %s",
                request.method,
                request.path,
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
            )
            response = error_response(503, "database_unavailable", OUTAGE_MESSAGE)
            response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER)
            response.headers["Cache-Control"] = "no-store"
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")
