"""Start-up stays lean: what a poll imports, and the lean app of the command line.

A steady-state ``feedserver poll --once`` (every upstream answers 304) is mostly
start-up, so what it imports is guarded here, each time in a fresh interpreter:
the web's blueprints, forms, feed rendering, templates of pages, the parser
libraries and the migration tool must not be loaded on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from feedserver import create_app, create_cli_app
from feedserver.config import SETTINGS
from feedserver.db import get_db

# Never needed to claim sources, fetch them and record a 304.
HEAVY = (
    "feedgen",
    "wtforms",
    "flask_wtf",
    "argon2",
    "alembic",
    "feedparser",
    "lxml",
    "granian",
    "markdown",
    "feedserver.admin",
    "feedserver.api",
    "feedserver.site",
    "feedserver.comments",
    "feedserver.publishing",
)


def loaded_after(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; which of HEAVY (and Flask) it loaded, and its output."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        heavy = {HEAVY!r}
        print(json.dumps({{
            "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy
                            or any(m.startswith(h + ".") for h in heavy)),
            "flask": "flask" in sys.modules,
            "sqlalchemy": "sqlalchemy" in sys.modules,
        }}))
        """
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSERVER_", "FLASK_"))}
    clean.update(FEEDSERVER_INSTANCE_PATH=str(tmp_path / "instance"), **(env or {}))
    done = subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean,
        cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    found["stdout"], found["stderr"] = done.stdout, done.stderr
    return found


def test_importing_the_package_loads_neither_flask_nor_the_database(tmp_path: Path) -> None:
    found = loaded_after("import feedserver", tmp_path)
    assert not found["flask"] and not found["sqlalchemy"] and found["heavy"] == []


def test_the_poller_imports_no_web_and_no_parser_library(tmp_path: Path) -> None:
    found = loaded_after(
        """
        from feedserver.aggregation.poller import poll_once
        from feedserver.aggregation.refresh import PollSettings
        from feedserver.db import Database
        """,
        tmp_path,
    )
    assert found["heavy"] == []
    assert not found["flask"]  # the worker's library path runs without Flask


class NotModified(BaseHTTPRequestHandler):
    """An upstream whose feed never changes: 304 to a conditional GET."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotModified)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_poll_once_runs_in_the_lean_app_and_records_the_304s(
    tmp_path: Path, sqlite_template: Path, upstream: ThreadingHTTPServer
) -> None:
    path = tmp_path / "feedserver.db"
    shutil.copy(sqlite_template, path)
    port = upstream.server_address[1]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO sources (slug, name, feed_url, etag, enabled, error_count, created_at, updated_at)"
            " VALUES (?, ?, ?, '\"v1\"', 1, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            [(f"s{i}", f"S{i}", f"http://127.0.0.1:{port}/feed{i}.xml") for i in range(3)],
        )
    found = loaded_after(
        """
        from feedserver.cli import main
        try:
            main(["poll", "--once"], prog_name="feedserver")
        except SystemExit as exc:
            assert not exc.code, exc.code
        """,
        tmp_path,
        env={
            "FEEDSERVER_DATABASE_URL": f"sqlite:///{path}",
            "FEEDSERVER_UPSTREAM_ALLOWLIST": f"127.0.0.1:{port}",
            "FEEDSERVER_RUN_POLLER": "true",  # the lean app never starts the in-process poller
        },
    )
    assert (
        "3 sources polled: 0 new entries, 0 updated, 3 not modified, 0 errors." in found["stdout"]
    )
    assert found["heavy"] == []
    assert len(upstream.seen) == 3  # type: ignore[attr-defined]
    assert all(h["If-None-Match"] == '"v1"' for h in upstream.seen)  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT last_status, error_count, next_fetch_at FROM sources").fetchall()
    assert [(status, errors) for status, errors, _ in rows] == [(304, 0)] * 3
    assert all(next_at is not None for _, _, next_at in rows)


def test_the_lean_app_has_the_same_settings_and_database_but_no_web(
    app_config: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("FEEDSERVER_POLL_CONCURRENCY", "3")
    lean, full = create_cli_app(app_config), create_app(app_config)
    try:
        for name in SETTINGS:
            assert lean.config[name] == full.config[name], name
        assert lean.config["POLL_CONCURRENCY"] == 3
        assert get_db(lean).engine.url == get_db(full).engine.url
        assert lean.blueprints == {} and full.blueprints
        assert {rule.endpoint for rule in lean.url_map.iter_rules()} == {"static"}
    finally:
        get_db(lean).engine.dispose()
        get_db(full).engine.dispose()


def test_gunicorns_entry_point_refuses_a_bad_setting_in_one_line(tmp_path):
    # A traceback per worker, and gunicorn started another worker after each;
    # status 3 is gunicorn's "worker failed to boot", which stops it.
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "FEEDSERVER_INSTANCE_PATH": str(tmp_path), "FEEDSERVER_FEED_ITEMS": "null"}
    done = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=root, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "Cannot start feedserver: config FEEDSERVER_FEED_ITEMS: null is no value for this"
        " setting; leave it out for the default, 20"
    ]
