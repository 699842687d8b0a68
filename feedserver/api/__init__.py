"""The JSON API under /api/, authenticated with ``Authorization: Bearer <token>``.

Each resource module registers its routes on :data:`bp` and describes them in
``OPENAPI_PATHS`` (and ``OPENAPI_SCHEMAS``), merged into /api/openapi.json.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.after_request
def _no_type_without_content(response: Response) -> Response:
    # A 204 has no content, so no media type (Flask's default named text/html).
    if response.status_code == 204:
        del response.headers["Content-Type"]
    return response


# Resource modules, in the order their paths appear in the OpenAPI document.
RESOURCES = (
    "articles", "taxonomy", "sources", "comments", "stories", "websub_subscriptions", "stats",
)  # fmt: skip


def init_app(app: Flask) -> None:
    """Register the API blueprint (exempt from CSRF: it takes no cookies)."""
    from importlib import import_module

    from feedserver.security import csrf

    for name in (*RESOURCES, "openapi"):
        import_module(f"{__name__}.{name}")
    csrf.exempt(bp)
    app.register_blueprint(bp)
