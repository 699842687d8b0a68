"""The web admin under /admin/: sign-in, dashboard, sources, articles, taxonomy, comments, tokens.

Every view of the blueprint requires a signed-in user: one ``before_request``
guard refuses anonymous requests for every endpoint except the sign-in page,
so a view added later cannot forget its decorator. Forms carry CSRF tokens
(Flask-WTF's app-wide CSRFProtect, see feedserver.security).

The session cookie is HttpOnly and SameSite=Lax; set
``FEEDSERVER_SESSION_COOKIE_SECURE=true`` when the site is served over HTTPS
(behind a TLS-terminating proxy too) so that the browser never sends it in clear.
"""

from __future__ import annotations

import hashlib
from importlib import import_module
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.wrappers import Response as BaseResponse

from feedserver.db import db_session
from feedserver.models import User

bp = Blueprint("admin", __name__, url_prefix="/admin")
login_manager = LoginManager()

# The view modules, each registering its routes on ``bp``.
MODULES = (
    "auth", "dashboard", "taxonomy", "articles", "stories", "sources", "comments", "tokens",
    "websub", "stats",
)  # fmt: skip
# The only endpoints an anonymous visitor may reach.
PUBLIC_ENDPOINTS = frozenset({"admin.login"})


class SignedInUser(UserMixin):
    """The signed-in admin as Flask-Login sees it: an id and a name, no secrets."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.name = user.name
        self._session_id = session_id(user)

    def get_id(self) -> str:
        return self._session_id


def session_id(user: User) -> str:
    """Return the id kept in the session cookie: the user id and a fingerprint.

    The fingerprint covers the password hash and the session epoch, so every
    session of a user is void once the password changes or the user signs
    out (which bumps the epoch), a copied cookie included.
    """
    material = user.password_hash
    if user.session_epoch:  # epoch 0: the fingerprint sessions had before epochs
        material = f"{user.session_epoch}:{material}"
    fingerprint = hashlib.sha256(material.encode()).hexdigest()[:16]
    return f"{user.id}.{fingerprint}"


@login_manager.user_loader
def _load_user(value: str) -> SignedInUser | None:
    ident, _, fingerprint = value.partition(".")
    if not ident.isdigit() or len(ident) > 10:
        return None
    user = db_session().get(User, int(ident))
    if user is None or session_id(user) != value or not fingerprint:
        return None
    return SignedInUser(user)


@bp.before_request
def _require_sign_in() -> BaseResponse | None:
    """Send anonymous visitors of any admin endpoint to the sign-in page."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.method == "GET":
        flash("Please sign in to open that page.", "info")
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("admin.login"))


@bp.after_request
def _no_store(response: Response) -> Response:
    """Keep admin pages out of shared and browser caches."""
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    """Register the admin routes and Flask-Login."""
    for name in MODULES:
        import_module(f"{__name__}.{name}")
    # Flask's defaults already hold these keys (SameSite None), so setdefault
    # would change nothing: fill them in unless a setting chose otherwise.
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SAMESITE"] = app.config["SESSION_COOKIE_SAMESITE"]
    app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE"))
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    app.register_blueprint(bp)
    app.add_template_global(_admin_nav, "admin_nav")


def _admin_nav() -> list[tuple[str, str, str]]:
    """Return (endpoint prefix, label, url) of the admin's main sections."""
    items: list[tuple[str, str, Any]] = [
        ("admin.dashboard", "Dashboard", url_for("admin.dashboard")),
        ("admin.article", "Articles", url_for("admin.articles")),
        ("admin.stor", "Stories", url_for("admin.stories")),
        ("admin.source", "Sources", url_for("admin.sources")),
        ("admin.section", "Sections", url_for("admin.sections")),
        ("admin.author", "Authors", url_for("admin.authors")),
        ("admin.comment", "Comments", url_for("admin.comments")),
        ("admin.token", "Tokens", url_for("admin.tokens")),
        ("admin.websub", "WebSub", url_for("admin.websub")),
        ("admin.stats", "Stats", url_for("admin.stats")),
    ]
    return items
