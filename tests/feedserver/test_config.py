"""Settings: typed from the environment, defaulted, and the proxy setting applied."""

from __future__ import annotations

import pytest

from feedserver import create_app


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))

    def build(**env):
        for key, value in env.items():
            monkeypatch.setenv(f"FEEDSERVER_{key}", value)
        return create_app({"TESTING": True})

    return build


def test_defaults_and_generated_secret(make_app, tmp_path):
    app = make_app()
    assert app.config["FEED_ITEMS"] == 20
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'feedserver.db'}"
    secret = (tmp_path / "instance" / "secret_key").read_text().strip()
    assert app.config["SECRET_KEY"] == secret and len(secret) == 64
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert make_app().config["SECRET_KEY"] == secret  # generated once


def test_environment_values_are_typed(make_app):
    app = make_app(
        FEED_ITEMS="7",
        RUN_POLLER="false",
        SITE_TITLE="Harbour Post",
        BASE_URL="https://news.example/",
    )
    assert app.config["FEED_ITEMS"] == 7
    assert app.config["RUN_POLLER"] is False
    assert app.config["SITE_TITLE"] == "Harbour Post"
    assert app.config["BASE_URL"] == "https://news.example"


def test_a_bad_number_is_a_clear_error(make_app):
    with pytest.raises(ValueError, match="FEEDSERVER_FEED_ITEMS"):
        make_app(FEED_ITEMS='"many"')


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEED_ITEMS", "0"),  # a feed page of none: a ZeroDivisionError on every feed
        ("FEED_ITEMS", "99999999999999999999"),  # past the database's integers
        ("FEED_ITEMS", "-1"),  # SQLite's LIMIT -1: every item on one page
        ("PAGE_ITEMS", "0"),
        ("TOMBSTONE_DAYS", "3000000"),  # past the last date: every feed a 500
        ("FEED_MAX_AGE", "-1"),  # "max-age=-1" is no valid header
        ("MAX_PAGE_DEPTH", "0"),  # every feed a 404
        ("MAX_REQUEST_BYTES", "0"),  # every POST a 413
        ("POLL_CONCURRENCY", "0"),
        ("FEED_ITEMS", "1.5"),
        ("FEED_ITEMS", "true"),
        ("POLL_LEASE", "59"),  # the README's "at least 60"
    ],
)
def test_a_number_out_of_its_range_is_refused_at_start_up(make_app, name, value):
    with pytest.raises(ValueError, match=f"FEEDSERVER_{name}: ") as refused:
        make_app(**{name: value})
    assert "between" in str(refused.value) or "whole number" in str(refused.value)


def test_the_ends_of_each_range_are_taken(make_app):
    from feedserver.config import INT_RANGES

    for name, (low, high) in INT_RANGES.items():
        assert make_app(**{name: str(low)}).config[name] == low
        assert make_app(**{name: f" {high} "}).config[name] == high


@pytest.mark.parametrize(
    "value",
    ["example.com", "http://[::1", "https://news.example/?q=1", "https://news.example/#x",
     "ftp://news.example", "garbage url", "https://user:pw@news.example"],
)  # fmt: skip
def test_a_base_url_that_is_no_absolute_http_url_is_refused_at_start_up(make_app, value):
    """Every feed id and link starts with it: "example.com/feed.atom" is no IRI."""
    with pytest.raises(ValueError, match="FEEDSERVER_BASE_URL: .*absolute address"):
        make_app(BASE_URL=value)


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:9101", "127.0.0.1:99999", "foo bar", "localhost,a/b", "[::1", "x:y:z"],
)
def test_an_allowlist_entry_that_names_nothing_is_refused_at_start_up(make_app, value):
    """It was read at the first fetch: adding a source was a 500, the worker died."""
    with pytest.raises(ValueError, match="FEEDSERVER_UPSTREAM_ALLOWLIST: .*host:port") as refused:
        make_app(UPSTREAM_ALLOWLIST=value)
    assert "\n" not in str(refused.value)
    kept = "127.0.0.1:9101, feed_web:8000, intranet., 10.0.0.0/8, [::1]:80, ::1"
    assert make_app(UPSTREAM_ALLOWLIST=kept).config["UPSTREAM_ALLOWLIST"] == kept


@pytest.mark.parametrize(
    "name", ["FEED_ITEMS", "SITE_TITLE", "MAX_PAGE_DEPTH", "TOMBSTONE_DAYS", "RUN_POLLER",
             "COMMENT_RATE_LIMITS", "BASE_URL"],
)  # fmt: skip
def test_a_null_setting_is_refused_at_start_up(make_app, tmp_path, name):
    # The environment is read as JSON: "null" passed start-up as None, and then
    # every feed (FEED_ITEMS, SITE_TITLE) or page was a 500. So did None in feedserver.cfg.
    with pytest.raises(ValueError, match=f"FEEDSERVER_{name}: null is no value"):
        make_app(**{name: "null"})
    (tmp_path / "instance").mkdir(exist_ok=True)
    (tmp_path / "instance" / "feedserver.cfg").write_text(f"{name} = None\n")
    with pytest.raises(ValueError, match=f"FEEDSERVER_{name}: null is no value"):
        make_app()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SITE_TITLE", '{"a": 1}', "a JSON object"),
        ("SITE_TAGLINE", "[1, 2]", "a JSON list"),
        ("SITE_TITLE", "   ", "empty"),
        ("COMMENT_RATE_LIMITS", "garbage", "not a JSON list: 'garbage'"),
        ("SITE_TITLE", '"My \\ud800 site"', "lone surrogate"),  # every page was a 500
        ("SITE_TAGLINE", '"a\\u0000b"', "control character"),
        ("SECRET_KEY", '["oldSecretKeyAAAA", "newSecretKeyBBBB"]', "a JSON list is no text"),
        ("DATABASE_URL", '{"url": "postgresql://u:hunter2@db/x"}', "a JSON object is no text"),
    ],
)
def test_text_that_is_no_text_is_refused_at_start_up(make_app, tmp_path, name, value, says):
    # Read as JSON, '{"a": 1}' was shown as the site's title "{'a': 1}"; an empty
    # title left pages untitled; a list's error quoted None instead of the value.
    with pytest.raises(ValueError, match=f"FEEDSERVER_{name}: ") as refused:
        make_app(**{name: value})
    assert says in str(refused.value) and "\n" not in str(refused.value)
    assert "SecretKey" not in str(refused.value) and "hunter2" not in str(refused.value)


def test_a_title_of_digits_and_an_empty_tagline_are_kept(make_app):
    app = make_app(SITE_TITLE="2026 News", SITE_TAGLINE="")
    assert app.config["SITE_TITLE"] == "2026 News" and app.config["SITE_TAGLINE"] == ""


def test_settings_not_set_by_default_may_be_null(make_app, tmp_path):
    app = make_app(DATABASE_URL="null", SECRET_KEY="null")
    assert (
        app.config["DATABASE_URL"].startswith("sqlite:///") and len(app.config["SECRET_KEY"]) == 64
    )


@pytest.mark.parametrize(
    "text, error",
    [("this is not python\n", "NameError"), ("FEED_ITEMS = \n", "SyntaxError"),
     ("X = 1/0\n", "ZeroDivisionError")],
)  # fmt: skip
def test_a_config_file_that_does_not_run_is_one_line_at_start_up(make_app, tmp_path, text, error):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "feedserver.cfg").write_text(text)
    with pytest.raises(ValueError, match=f"feedserver.cfg: {error}") as refused:
        make_app()
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", ["ture", "maybe", "2", "enabled", "null-ish"])
def test_an_on_off_setting_that_is_neither_is_refused_at_start_up(make_app, value):
    """A typo meant off: SESSION_COOKIE_SECURE=ture left the admin's cookie without Secure."""
    with pytest.raises(ValueError, match="FEEDSERVER_SESSION_COOKIE_SECURE: .* neither on"):
        make_app(SESSION_COOKIE_SECURE=value)


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("TRUE", True),
     ("0", False), ("false", False), ("No", False), ("off", False), ("", False), (" 0 ", False)],
)  # fmt: skip
def test_on_off_settings_read_every_documented_spelling(make_app, value, on):
    assert make_app(SESSION_COOKIE_SECURE=value).config["SESSION_COOKIE_SECURE"] is on


@pytest.mark.parametrize(
    "value", ["[[5]]", '["x"]', "[[0, 0]]", "[[5, -1]]", "[[5, 60, 1]]", "[[true, 60]]"]
)
def test_comment_rate_limits_of_the_wrong_shape_are_refused_at_start_up(make_app, value):
    """Accepted, then every comment posted was a 500 (found by a README audit)."""
    with pytest.raises(ValueError, match="FEEDSERVER_COMMENT_RATE_LIMITS: .* pair of whole"):
        make_app(COMMENT_RATE_LIMITS=value)
    assert make_app(COMMENT_RATE_LIMITS="[[3, 10]]").config["COMMENT_RATE_LIMITS"] == [[3, 10]]
    assert make_app(COMMENT_RATE_LIMITS="[]").config["COMMENT_RATE_LIMITS"] == []


@pytest.mark.parametrize("value", ["notaurl", "ftp://hub.example", "https://hub .example/"])
def test_an_external_hub_that_is_no_absolute_http_url_is_refused_at_start_up(make_app, value):
    """Every feed would advertise it as where to subscribe."""
    with pytest.raises(ValueError, match="FEEDSERVER_WEBSUB_HUB: .*absolute http"):
        make_app(WEBSUB_HUB=value)
    assert make_app(WEBSUB_HUB="https://hub.example/").config["WEBSUB_HUB"] == (
        "https://hub.example/"
    )


def test_a_base_url_with_a_path_is_taken(make_app):
    assert make_app(BASE_URL="https://news.example/desk/").config["BASE_URL"] == (
        "https://news.example/desk"
    )


def test_a_database_url_with_a_percent_escape_migrates(postgres_url):
    """A password with "@" is written %40; Alembic's config file syntax read "%" as its own."""
    from sqlalchemy.engine import make_url

    from feedserver.db import Database
    from feedserver.migrate import alembic_config, upgrade

    url = make_url(postgres_url).set(password="p@ss:w/rd")  # trust auth: not checked
    db = Database.from_url(url.render_as_string(hide_password=False))
    assert "p%40ss" in alembic_config(db.engine).get_main_option("sqlalchemy.url")
    upgrade(db.engine)  # raised "invalid interpolation syntax"
    db.engine.dispose()


def test_trusted_proxy_gives_the_client_address_and_scheme(make_app):
    app = make_app(TRUSTED_PROXIES="1")
    seen = {}

    @app.get("/_whoami")
    def whoami():
        from flask import request

        seen.update(addr=request.remote_addr, scheme=request.scheme)
        return "ok"

    app.test_client().get(
        "/_whoami", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert seen == {"addr": "203.0.113.9", "scheme": "https"}


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app()
    seen = {}

    @app.get("/_whoami")
    def whoami():
        from flask import request

        seen.update(addr=request.remote_addr)
        return "ok"

    app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == {"addr": "127.0.0.1"}


def _readme_settings() -> list[str]:
    """The FEEDSERVER_ names in the first column of the README's configuration table."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        match = re.match(r"\|\s*`FEEDSERVER_([A-Z0-9_]+)`", line)
        if match:
            names.append(match.group(1))
    return names


def test_readme_lists_exactly_the_settings():
    from feedserver.config import SETTINGS

    documented = _readme_settings()
    assert len(documented) == len(set(documented)), "a setting is listed twice"
    assert set(documented) - set(SETTINGS) == set(), "in the README but not in SETTINGS"
    assert set(SETTINGS) - set(documented) == set(), "in SETTINGS but not in the README"


def test_every_setting_the_code_reads_is_in_the_table():
    """A name read from app.config in feedserver/ is a SETTINGS name (or Flask's own)."""
    import re
    from pathlib import Path

    from feedserver.config import SETTINGS

    flask_own = {"MAX_CONTENT_LENGTH", "TESTING", "SECRET_KEY", "WTF_CSRF_ENABLED"}  # Flask-WTF
    package = Path(__file__).resolve().parents[2] / "feedserver"
    read = set()
    for path in package.rglob("*.py"):
        read |= set(re.findall(r'config(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', path.read_text()))
    cookies = {n for n in read if n.startswith(("SESSION_COOKIE_", "REMEMBER_COOKIE_"))}
    assert read - set(SETTINGS) - flask_own - (cookies - {"SESSION_COOKIE_SECURE"}) == set()


def test_list_settings_from_the_environment(make_app):
    assert make_app().config["COMMENT_RATE_LIMITS"] == [[5, 60], [20, 3600]]
    app = make_app(COMMENT_RATE_LIMITS="[[1, 10]]")
    assert app.config["COMMENT_RATE_LIMITS"] == [[1, 10]]
    with pytest.raises(ValueError, match="FEEDSERVER_COMMENT_RATE_LIMITS: not a JSON list"):
        make_app(COMMENT_RATE_LIMITS="five")
