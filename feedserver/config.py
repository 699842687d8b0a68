"""Every setting in one place: typed, defaulted, documented (see README).

Values come from ``FEEDSERVER_*`` environment variables through Flask's
``from_prefixed_env`` (which parses JSON-looking values, so ``20`` is an int),
then from an optional ``feedserver.cfg`` in the instance folder, then from the
mapping given to ``create_app`` (tests).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "FEEDSERVER"

# name: (default, type, meaning). The README's configuration table mirrors this.
# A test (tests/feedserver/test_config.py) checks the README lists exactly these names.
SETTINGS: dict[str, tuple[Any, type, str]] = {
    "INSTANCE_PATH": ("instance", str, "the SQLite database and the generated secret key"),
    "DATABASE_URL": (None, str, "SQLAlchemy URL; default sqlite:///<instance>/feedserver.db"),
    "SECRET_KEY": (None, str, "sessions and CSRF; generated once into the instance folder"),
    "BASE_URL": ("", str, "absolute URL prefix for feeds; empty: taken from the request"),
    "SITE_TITLE": ("The Lantern Ledger", str, "site name in pages and feeds"),
    "SITE_TAGLINE": ("Independent reporting, sourced and signed", str, "site tagline"),
    "FEED_ITEMS": (20, int, "items per feed page"),
    "PAGE_ITEMS": (10, int, "articles per HTML listing page"),
    "FEED_MAX_AGE": (300, int, "Cache-Control max-age of feeds, seconds"),
    "UPSTREAM_ALLOWLIST": (
        "",
        str,
        "host, host:port or CIDR entries exempt from the private-address guard",
    ),
    "POLL_INTERVAL": (900, int, "default seconds between polls of one upstream"),
    "RUN_POLLER": (False, bool, "run the poller inside the web process"),
    "FETCH_TIMEOUT": (20, int, "seconds one upstream fetch may take in all (connect, read, body)"),
    "FETCH_MAX_BYTES": (5 * 1024 * 1024, int, "largest upstream feed body, after decompression"),
    "POLL_CONCURRENCY": (16, int, "upstream sources one poller process refreshes at once"),
    "POLL_PER_HOST": (4, int, "concurrent requests one poller process makes to one upstream host"),
    "POLL_PARSE_PROCESSES": (
        1,
        int,
        "extra processes that parse feeds for the poller; 0: parse in threads",
    ),
    "POLL_LEASE": (300, int, "seconds a claimed source stays reserved to its poller"),
    "TOMBSTONE_DAYS": (
        30,
        int,
        "days a deleted article keeps its RFC 6721 tombstone (feeds, 410 Gone page)",
    ),
    "WEBSUB_HUB": (
        "",
        str,
        "external WebSub hub to advertise and ping; empty: our own hub at <base>/websub",
    ),
    "WEBSUB_CONCURRENCY": (
        32,
        int,
        "WebSub hub requests (deliveries) one poller process sends at once",
    ),
    "WEBSUB_PER_HOST": (8, int, "concurrent WebSub hub requests to one subscriber host"),
    "WEBSUB_TIMEOUT": (10, int, "seconds one WebSub hub request may take in all"),
    "WEBSUB_BACKUP_POLL": (
        86400,
        int,
        "seconds between back-up polls of a source while its WebSub subscription is active",
    ),
    "WEBSUB_SUBSCRIBE_LEASE": (
        864000,
        int,
        "hub.lease_seconds we ask upstream hubs for (the hub decides); renewed before it ends",
    ),
    "MAX_REQUEST_BYTES": (1024 * 1024, int, "largest request body accepted"),
    "TRUSTED_PROXIES": (0, int, "reverse proxies whose X-Forwarded-For/-Proto/-Host are believed"),
    "SESSION_COOKIE_SECURE": (False, bool, "send the session cookie over HTTPS only"),
    "COMMENT_RATE_LIMITS": (
        [[5, 60], [20, 3600]],
        list,
        "comments one client may post: at most N per S seconds, for each [N, S] pair",
    ),
    "COMMENT_DUPLICATE_WINDOW": (86400, int, "seconds in which the same comment again is ignored"),
    "FAST_FEEDS": (True, bool, "answer feed hits and 304s from each worker's memory, before Flask"),
    "FAST_FEEDS_LISTEN": (
        True,
        bool,
        "PostgreSQL: keep scope versions in memory while LISTEN/NOTIFY is up",
    ),
    "FEED_STATS": (True, bool, "count requests and subscribers per feed (GET /api/stats/feeds)"),
    "STATS_FLUSH_SECONDS": (5, int, "seconds between a web process's batched writes of feed stats"),
    "POLITE_POLLING": (
        True,
        bool,
        "answer 429 to a client's fourth unconditional re-fetch of an unchanged, fresh feed",
    ),
    "MAX_PAGE_DEPTH": (
        10_000,
        int,
        "deepest item a paged feed, listing or API list reaches (page × items); past it: 404",
    ),
    "LOG_FORMAT": ("text", str, "log lines as plain text (text) or one JSON object each (json)"),
    "METRICS": (True, bool, "count requests, renders and polls for /metrics"),
    "METRICS_ALLOW": (
        "127.0.0.0/8,::1",
        str,
        "comma-separated addresses or CIDRs that may read /metrics",
    ),
    "READY_MAX_POLL_LAG": (
        1800,
        int,
        "seconds a due source may wait before /readyz reports the poller lagging",
    ),
    "STORIES": (
        True,
        bool,
        "group articles of several sources that report the same news into stories",
    ),
}

LOG_FORMATS = ("text", "json")

DAY, YEAR = 86400, 365 * 86400
# Whole-number settings and the values that make sense: anything else is
# refused at start-up, where the operator reads the message, not answered
# with a 500 on every feed (a page of 0 items divides by zero, 10**20 items
# overflow the database's integers, a negative max-age is no valid header).
INT_RANGES: dict[str, tuple[int, int]] = {
    "FEED_ITEMS": (1, 1000),
    "PAGE_ITEMS": (1, 1000),
    "FEED_MAX_AGE": (0, YEAR),
    "POLL_INTERVAL": (1, YEAR),
    "FETCH_TIMEOUT": (1, 3600),
    "FETCH_MAX_BYTES": (1024, 1 << 30),
    "POLL_CONCURRENCY": (1, 1024),
    "POLL_PER_HOST": (1, 1024),
    "POLL_PARSE_PROCESSES": (0, 64),
    "POLL_LEASE": (60, 7 * DAY),
    "TOMBSTONE_DAYS": (0, 3650),
    "WEBSUB_CONCURRENCY": (1, 1024),
    "WEBSUB_PER_HOST": (1, 1024),
    "WEBSUB_TIMEOUT": (1, 3600),
    "WEBSUB_BACKUP_POLL": (1, YEAR),
    "WEBSUB_SUBSCRIBE_LEASE": (1, YEAR),
    "MAX_REQUEST_BYTES": (1024, 1 << 30),
    "TRUSTED_PROXIES": (0, 16),
    "COMMENT_DUPLICATE_WINDOW": (0, YEAR),
    "STATS_FLUSH_SECONDS": (0, 3600),
    "MAX_PAGE_DEPTH": (1, 100_000_000),
    "READY_MAX_POLL_LAG": (1, YEAR),
}


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def truthy(value: str) -> bool:
    """Read an on/off setting the way every boolean setting is read."""
    return value.strip().lower() in _TRUE


def on_off(name: str, value: str) -> bool:
    """An on/off setting read strictly: ValueError naming it when it is neither."""
    return bool(_coerce(name, value, bool))


def _coerce(name: str, value: Any, kind: type) -> Any:
    if value is None:
        if SETTINGS.get(name, (None,))[0] is None:
            return None  # not set: worked out at start-up (DATABASE_URL, SECRET_KEY)
        # FEEDSERVER_FEED_ITEMS=null (read as JSON) or FEED_ITEMS = None in
        # feedserver.cfg started, and then every feed was a 500.
        raise ValueError(
            f"config {ENV_PREFIX}_{name}: null is no value for this setting;"
            f" leave it out for the default, {json.dumps(SETTINGS[name][0])[:60]}"
        )
    if kind is bool:
        if isinstance(value, bool):
            return value
        # A typo ("ture") silently meant off: FEEDSERVER_SESSION_COOKIE_SECURE=ture
        # left the admin's cookie without Secure.
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(
            f"config {ENV_PREFIX}_{name}: {str(value)[:40]!r} is neither on"
            f" ({', '.join(sorted(_TRUE))}) nor off ({', '.join(sorted(t for t in _FALSE if t))})"
        )
    if kind is list:
        given = value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, list):
            raise ValueError(
                f"config {ENV_PREFIX}_{name}: not a JSON list: {str(given)[:40]!r},"
                f" give one such as {json.dumps(SETTINGS[name][0])[:60]}"
            )
        check = LIST_SHAPES.get(name)
        if check is not None:
            check(name, value)
        return value
    if kind is int:
        try:
            if isinstance(value, float | bool):
                raise TypeError
            number = int(str(value).strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"config {ENV_PREFIX}_{name}: not a whole number: {str(value)[:40]!r}"
            ) from None
        low, high = INT_RANGES.get(name, (-(1 << 63), (1 << 63) - 1))
        if not low <= number <= high:
            raise ValueError(
                f"config {ENV_PREFIX}_{name}: {str(number)[:40]} is not between {low:,} and {high:,}"
            )
        return number
    if isinstance(value, dict | list):
        # FEEDSERVER_SITE_TITLE='{"a": 1}' is read as JSON: it was shown as "{'a': 1}".
        shown = "" if name in SECRET_SETTINGS else f" ({json.dumps(value)[:40]})"
        raise ValueError(
            f"config {ENV_PREFIX}_{name}: a JSON {'object' if isinstance(value, dict) else 'list'}"
            f"{shown} is no text; give the text itself"
        )
    text = str(value)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        # '"My \ud800 site"' read as JSON: every page and feed was a 500 (UTF-8 refuses it).
        raise ValueError(
            f"config {ENV_PREFIX}_{name}: holds a lone surrogate (such as \\ud800),"
            " which no page, feed or database can carry"
        )
    if name in SHOWN_TEXT and any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise ValueError(
            f"config {ENV_PREFIX}_{name}: holds a control character; it is shown in every"
            " page and feed, as plain text on one line"
        )
    return text


# Settings whose value is never quoted back in an error (a key, a password in a URL).
SECRET_SETTINGS = frozenset({"SECRET_KEY", "DATABASE_URL"})
# Settings shown as text in every page and feed.
SHOWN_TEXT = frozenset({"SITE_TITLE", "SITE_TAGLINE"})


def _pairs_of_counts(name: str, value: list[Any]) -> None:
    """[[N, S], …]: at most N in S seconds, both whole numbers from 1."""
    for pair in value:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= YEAR for x in pair)
        ):
            raise ValueError(
                f"config {ENV_PREFIX}_{name}: {json.dumps(pair)[:40]} is not a pair of whole"
                f" numbers from 1 to {YEAR:,} (at most N per S seconds), as in [[5, 60], [20, 3600]]"
            )


# Lists whose items have a shape of their own, checked at start-up.
LIST_SHAPES: dict[str, Any] = {"COMMENT_RATE_LIMITS": _pairs_of_counts}


def instance_path_from_env() -> Path:
    """Return the instance folder: FEEDSERVER_INSTANCE_PATH or ./instance."""
    default: str = SETTINGS["INSTANCE_PATH"][0]
    return Path(os.environ.get(f"{ENV_PREFIX}_INSTANCE_PATH", default)).resolve()


def load_settings(app: Any, overrides: dict[str, Any] | None) -> None:
    """Fill app.config with every setting, typed and defaulted."""
    for name, (default, _, _) in SETTINGS.items():
        # A copy, so no app changes a mutable default (a list) for the next one.
        app.config.setdefault(name, json.loads(json.dumps(default)))
    app.config.from_prefixed_env(ENV_PREFIX)
    try:
        app.config.from_pyfile("feedserver.cfg", silent=True)
    except Exception as exc:  # noqa: BLE001 - whatever the file raises is a configuration error
        # Flask runs the file as Python: a typo was a traceback, not one line.
        where = Path(app.config.root_path) / "feedserver.cfg"
        raise ValueError(
            f"config file {where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            " (it is Python: NAME = value, one per line)"
        ) from None
    if overrides:
        app.config.update(overrides)
    for name, (_, kind, _) in SETTINGS.items():
        app.config[name] = _coerce(name, app.config.get(name), kind)
    instance = Path(app.instance_path)
    app.config["INSTANCE_PATH"] = str(instance)  # what the app uses, wherever it came from
    if not app.config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'feedserver.db'}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance)
    if not app.config["SITE_TITLE"].strip():
        raise ValueError(
            f"config {ENV_PREFIX}_SITE_TITLE: empty; every page and feed is titled by it"
            f" (leave it out for the default, {SETTINGS['SITE_TITLE'][0]!r})"
        )
    app.config["BASE_URL"] = _base_url(app.config["BASE_URL"])
    app.config["WEBSUB_HUB"] = _absolute_url(app.config["WEBSUB_HUB"], "WEBSUB_HUB", "hub")
    _check_allowlist(app.config["UPSTREAM_ALLOWLIST"])
    if app.config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ValueError(
            f"config {ENV_PREFIX}_LOG_FORMAT: {app.config['LOG_FORMAT']!r} is not one of "
            + ", ".join(LOG_FORMATS)
        )
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_BYTES"]


def _check_allowlist(value: str) -> None:
    """Refuse an allowlist with an entry that names nothing at start-up, not at the first fetch."""
    from feeds.upstream.guard import Allowlist

    try:
        Allowlist.parse(value)
    except ValueError as exc:
        problem = str(exc).removeprefix("upstream allowlist: ")
        raise ValueError(
            f"config {ENV_PREFIX}_UPSTREAM_ALLOWLIST: {problem[:120]}; give comma-separated"
            " host, host:port or CIDR entries, such as 127.0.0.1:8080,10.0.0.0/8"
        ) from None


def _absolute_url(value: str, name: str, what: str, *, whole: bool = False) -> str:
    """An optional setting that must be an absolute http(s) URL (empty: not set).

    ``whole``: with no query or fragment either (a prefix that paths follow).
    """
    from feedserver.urls import http_url_problem

    url = value.strip()
    if not url:
        return ""
    problem = http_url_problem(url)
    if problem is None and not (whole and ("?" in url or "#" in url)):
        return url
    why = f"is not usable: {problem.value}" if problem else "has a query or fragment"
    raise ValueError(
        f"config {ENV_PREFIX}_{name}: {value[:80]!r} {why}; give the {what}'s"
        " absolute address, an absolute http(s) URL such as https://news.example"
    )


def _base_url(value: str) -> str:
    """FEEDSERVER_BASE_URL without its trailing slash; refused unless an absolute http(s) URL.

    Every feed's id and links start with it: a relative one (``example.com``)
    gives ids no validator takes, a query or fragment (``…/?q=1#x``) links
    that lead elsewhere.
    """
    return _absolute_url(value.strip().rstrip("/"), "BASE_URL", "site", whole=True)


def _instance_secret(instance: Path) -> str:
    """Read the generated secret key, creating it (mode 0600) on first use."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()
