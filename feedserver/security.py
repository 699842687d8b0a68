"""Security headers on every response and CSRF protection for forms."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def common_headers(*, html: bool, secure: bool) -> list[tuple[str, str]]:
    """The headers every answer carries: more for HTML, HSTS over HTTPS (in this order)."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    if html:
        headers += [("Content-Security-Policy", CSP), ("X-Frame-Options", "DENY")]
    if secure:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


class PublicAwareSessionInterface(SecureCookieSessionInterface):
    """The cookie session, minus ``Vary: Cookie`` on public, cacheable responses.

    Extensions such as Flask-Login look at the session after every request,
    which makes Flask add ``Vary: Cookie`` everywhere — and a shared cache
    would then keep one copy of a feed per reader. A response marked
    ``Cache-Control: public`` is the same for everyone, so it does not vary.
    """

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        super().save_session(app, session, response)
        if response.cache_control.public and not session.modified and "Cookie" in response.vary:
            kept = [v for v in response.vary if v.lower() != "cookie"]
            if kept:
                response.headers["Vary"] = ", ".join(kept)
            else:
                del response.headers["Vary"]


def init_app(app: Flask) -> None:
    """Turn on CSRF for forms (the Bearer-token API is exempt) and set headers."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # Flask's defaults hold these keys already (SameSite None), so setdefault
    # would do nothing: fill them in unless a setting chose otherwise.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    csrf.init_app(app)
    app.session_interface = PublicAwareSessionInterface()

    @app.after_request
    def _headers(response: Response) -> Response:
        # A 304 has no body for the HTML policies to guard (RFC 9110 §15.4.5).
        html = response.mimetype == "text/html" and response.status_code != 304
        for name, value in common_headers(html=html, secure=request.is_secure):
            response.headers.setdefault(name, value)
        return response
