"""The JSON API under /api/, authenticated with ``Authorization: Bearer <token>``.

Each resource module registers its routes on :data:`bp` and describes them in
``OPENAPI_PATHS`` (and ``OPENAPI_SCHEMAS``), merged into /api/openapi.json.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")

# Resource modules, in the order their paths appear in the OpenAPI document.
RESOURCES = ("articles", "taxonomy", "sources", "comments", "stories", "websub_subscriptions")


def init_app(app: Flask) -> None:
    """Register the API blueprint (exempt from CSRF: it takes no cookies)."""
    from importlib import import_module

    from feedserver.security import csrf

    for name in (*RESOURCES, "openapi"):
        import_module(f"{__name__}.{name}")
    csrf.exempt(bp)
    app.register_blueprint(bp)
