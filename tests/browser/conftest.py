"""Browser tests: the app served by a real WSGI server in a thread, driven by Debian's Chromium.

They run on SQLite only (a file database copied from the migrated template),
which is what a browser adds nothing to; the PostgreSQL half of every admin
behaviour is covered by tests/feedserver/test_admin_*.py. Without
/usr/bin/chromium they are skipped — except under CI, where that is a failure.
Screenshots go to tests/artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from feedserver import accounts, create_app
from feedserver.db import get_db
from tests.browser.browser_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD, USER


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required under CI (.ci/run installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_app(
    tmp_path: Path, sqlite_template: Path, httpserver: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """The app on a SQLite copy, served on 127.0.0.1:<free port>, with an admin user."""
    path = tmp_path / "browser.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "SECRET_KEY": "browser-secret",
            "SITE_TITLE": "The Browser Gazette",
            "RUN_POLLER": False,
            "UPSTREAM_ALLOWLIST": f"127.0.0.1:{httpserver.port}",
            "FETCH_TIMEOUT": 5,
            # CSRF stays on: the browser posts the real forms.
        }
    )
    with get_db(app).session() as s:
        accounts.create_user(s, USER, PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        get_db(app).engine.dispose()


def _is_problem(message: Any) -> bool:
    """A console error that is not merely a 4xx answer the test asked for (a form error)."""
    text: str = message.text
    return message.type == "error" and "the server responded with a status of 4" not in text


@pytest.fixture
def page(browser: Any, live_app: tuple[Any, str]) -> Iterator[Any]:
    """A fresh desktop-sized page; console errors (a CSP refusal, a script error) fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if _is_problem(m) else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.base_url = live_app[1]  # type: ignore[attr-defined]
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    context.close()
    assert not problems, f"browser console errors: {problems}"
