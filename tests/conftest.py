"""Fixtures: app, client, runner — on SQLite and on a real PostgreSQL.

The app-level tests run once per backend (``db_backend`` is parametrized).
PostgreSQL: a throw-away database ``feedserver_test_<random>`` is created on
the server named by FEEDSERVER_TEST_PG (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) for this run and
dropped at its end. Without a server the PostgreSQL half is skipped — except
under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from feedserver import create_app
from feedserver.db import Database, get_db
from feedserver.migrate import upgrade
from feedserver.models import Base

PG_ADMIN_URL = os.environ.get(
    "FEEDSERVER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    db = Database.from_url(f"sqlite:///{path}")
    upgrade(db.engine)
    db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated, dropped at the end."""
    name = f"feedserver_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = Database.from_url(url)
    upgrade(db.engine)
    db.engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty, migrated database of the backend under test."""
    if db_backend == "sqlite":
        path = tmp_path / "feedserver.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, object]:
    """Settings of the app under test; tests may change them before ``app``."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "SITE_TITLE": "The Test Gazette",
        "SITE_TAGLINE": "All the news that fits the tests",
        "RUN_POLLER": False,
        "WTF_CSRF_ENABLED": False,
        # Feed requests are counted in every test (the audience layer stays in front
        # of the app), but never flushed in the background: a late flush would land
        # in the next test's PostgreSQL database. Polite polling would refuse the
        # many repeated plain GETs tests make; tests/feedserver/publishing/
        # test_polite.py turns it on.
        "STATS_FLUSH_SECONDS": 0,
        "POLITE_POLLING": False,
    }


@pytest.fixture
def app(app_config: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(app_config)
    yield application
    get_db(application).engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app) -> Database:
    """The app's Database, for arranging rows and reading them back."""
    return get_db(app)


# Property-based tests (hypothesis): a bounded run by default, many examples
# under `make fuzz` (HYPOTHESIS_PROFILE=fuzz).
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass
else:
    _hypothesis_settings.register_profile(
        "ci",
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    _hypothesis_settings.register_profile(
        "fuzz",
        max_examples=20_000,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
