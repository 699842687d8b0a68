"""Health checks for orchestrators and load balancers.

``GET /healthz``: the process answers (liveness) — touches nothing else.
``GET /readyz``: ready for traffic — the database answers, its schema is at
the newest migration, and the poller is not lagging (no enabled source has
been due for longer than ``FEEDSERVER_READY_MAX_POLL_LAG`` seconds). JSON with
each check's state; 200 when all pass, 503 with ``Retry-After`` otherwise.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest migration(s) shipped with this build."""
    # Alembic announces each of its plugins at INFO as it loads them.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from feedserver.paths import resource_dir

    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def schema_problem(engine: Engine) -> str | None:
    """Why this database's schema cannot be used (not migrated, behind), or None.

    None too when the database cannot be reached: an outage may end.
    """
    database, schema = _database(engine)
    return None if not database["ok"] or schema["ok"] else str(schema["error"])


def _database(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the connection and the schema revision in one round trip."""
    from sqlalchemy import text

    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception as exc:
        reason = type(exc).__name__
        message = str(getattr(exc, "orig", exc)).strip().splitlines()
        detail = message[0][:200] if message else reason
        if "alembic_version" in detail:  # reachable, but never migrated
            return (
                {"ok": True, "latency_ms": _ms(started)},
                {"ok": False, "error": "no schema: run 'feedserver db upgrade'"},
            )
        # The driver's words name the server, port and database: for the
        # log, not for whoever may ask /readyz.
        log.warning("readiness: database unreachable: %s: %s", reason, detail)
        return (
            {"ok": False, "error": f"{reason}: cannot reach the database (see the log)"},
            {"ok": False, "error": "database unreachable"},
        )
    database = {"ok": True, "latency_ms": _ms(started)}
    current = frozenset(rows)
    heads = head_revisions()
    schema: dict[str, Any] = {"ok": current == heads, "revision": sorted(current)}
    if current != heads:
        schema["expected"] = sorted(heads)
        schema["error"] = "schema is not at the newest migration: run 'feedserver db upgrade'"
    return database, schema


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _poller(app: Flask) -> dict[str, Any]:
    from feedserver.ops.metrics import oldest_due_age

    limit = app.config["READY_MAX_POLL_LAG"]
    try:
        lag = oldest_due_age(app)
    except Exception as exc:
        return {"ok": False, "error": f"cannot read the sources: {type(exc).__name__}"}
    lag = lag or 0.0
    check: dict[str, Any] = {"ok": lag <= limit, "lag_seconds": round(lag, 1), "limit": limit}
    if lag > limit:
        check["error"] = (
            "an enabled source has waited longer than the limit: is a poller running "
            "('feedserver worker', or FEEDSERVER_RUN_POLLER)?"
        )
    return check


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process answers."""
    response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def readyz() -> Response:
    """Check the database, the schema and the poller; 503 if any fails."""
    from feedserver.db import get_db

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    database, schema = _database(get_db(app).engine)
    checks = {"database": database, "schema": schema}
    checks["poller"] = (
        _poller(app)
        if database["ok"] and schema["ok"]
        else {"ok": False, "error": "skipped: database not ready"}
    )
    ready = all(c["ok"] for c in checks.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    if not ready:
        response.headers["Retry-After"] = "10"
    return response


def init_app(app: Flask) -> None:
    """Add /healthz and /readyz (no CSRF, no session: plain GETs)."""
    app.register_blueprint(bp)
