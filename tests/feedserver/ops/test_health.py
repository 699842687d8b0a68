"""/healthz and /readyz: each check's state, 503 with a reason when one fails."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from feedserver import create_app
from feedserver.models import Source, utcnow
from feedserver.ops.health import head_revisions


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.headers["X-Request-Id"]) >= 8


def test_readyz_ready_with_each_check(client):
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["schema"] == {"ok": True, "revision": sorted(head_revisions())}
    assert body["checks"]["poller"]["ok"] is True
    assert body["checks"]["poller"]["lag_seconds"] == 0


def _add_source(db, due_at):
    with db.session() as session:
        session.add(
            Source(
                slug="late", name="Late", feed_url="https://late.example/feed", next_fetch_at=due_at
            )
        )


def test_readyz_reports_a_lagging_poller(client, db, app):
    _add_source(db, utcnow() - timedelta(seconds=app.config["READY_MAX_POLL_LAG"] + 120))
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
    poller = body["checks"]["poller"]
    assert poller["ok"] is False
    assert poller["lag_seconds"] > app.config["READY_MAX_POLL_LAG"]
    assert "feedserver worker" in poller["error"]


def test_readyz_a_source_due_soon_is_not_lag(client, db):
    _add_source(db, utcnow() - timedelta(seconds=30))
    assert client.get("/readyz").status_code == 200


def test_readyz_schema_behind(client, db):
    (head,) = head_revisions()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = client.get("/readyz")
    finally:  # the PostgreSQL test database is shared by the whole run: put it back
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    body = response.get_json()
    assert response.status_code == 503
    assert body["checks"]["schema"]["ok"] is False
    assert body["checks"]["schema"]["revision"] == ["0001"]
    assert "feedserver db upgrade" in body["checks"]["schema"]["error"]


def test_readyz_database_unreachable_is_503_not_500(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path))
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "SECRET_KEY": "x",
            "TESTING": True,
        }
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is False
    assert "OperationalError" in body["checks"]["database"]["error"]
    # Where the database is stays out of a public answer.
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert "none" not in body["checks"]["database"]["error"]
    assert body["checks"]["poller"]["ok"] is False


def test_readyz_never_migrated(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/empty.db", "SECRET_KEY": "x"})
    body = app.test_client().get("/readyz").get_json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["schema"] == {
        "ok": False,
        "error": "no schema: run 'feedserver db upgrade'",
    }
