"""The fast path for feed polling: a thin WSGI layer in front of Flask.

A feed's bytes and validators depend only on its scope's version (and the
global version), so once Flask has answered a feed URL this layer keeps the
answer — status line, header list, body — keyed by (path, query, scheme,
host, content-coding) together with the scope versions it was made from. A
later GET/HEAD for the same key costs: one validator check (below), a dict
lookup, an ETag comparison, and handing the WSGI server ONE bytes object (or
none, for a 304). No Flask dispatch, no session, no ORM, no render, no
compression. Anything else — a miss, a stale entry, another method, a URL
that is not a feed — goes to Flask unchanged, and a feed answer coming back
from Flask fills the entry. Headers are Flask's own, captured as they left
the app (after_request hooks included); the 304 kept for an entry is the one
Flask itself gives for that ETag, asked for once at fill time. So the fast
path and the Flask path answer byte-for-byte alike by construction.

Validator state, per worker process, invalidated correctly across processes
and machines:

- SQLite: a kept read-only connection per thread; ``PRAGMA data_version``
  (a few microseconds) changes whenever any other connection — in this or
  another process — committed, and then the in-process copy is dropped.
- PostgreSQL: a listener thread per process does ``LISTEN`` on
  ``feedserver_scope_versions``; a statement-level trigger on
  ``scope_versions`` sends ``NOTIFY`` in the transaction of every write to it
  (NOTIFY is transactional: delivered on commit, never on rollback), whoever
  writes — a web machine, a poller, a CLI command, bulk SQL. The listener
  creates the trigger if it is missing (see TRIGGER_SQL; a migration may own
  it instead). While the listener is not connected, or the trigger cannot be
  had, nothing is cached: each request reads the two rows with one
  primary-key lookup.

See RFC 9110 §13 (conditional requests) and RFC 9111 (caching).
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feeds.conditional import choose_encoding, not_modified

log = logging.getLogger(__name__)

ENVIRON_KEY = "feedserver.fastfeed"  # set by syndication.respond_feed
CHANNEL = "feedserver_scope_versions"
TRIGGER = "feedserver_scope_versions_notify"
TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS {TRIGGER} ON scope_versions;
CREATE TRIGGER {TRIGGER}
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scope_versions
    FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}();
"""
GLOBAL = "global"
EMPTY: list[bytes] = []

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Versions = tuple[int, int]  # (scope version, global version)


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a Flask feed answer was made from (left in the WSGI environ)."""

    scope_key: str
    versions: Versions
    etag: str  # opaque, without quotes or coding suffix
    last_modified: datetime


@dataclass(slots=True)
class _Entry:
    scope_key: str
    versions: Versions
    meta: FeedMeta
    tag: str | None = None  # the quoted ETag header of this variant
    status200: str | None = None
    headers200: list[tuple[str, str]] | None = None
    body: bytes | None = None
    status304: str | None = None
    headers304: list[tuple[str, str]] | None = None

    def is_not_modified(self, inm: str | None, ims: str | None) -> bool:
        if inm is not None and inm == self.tag:
            return True
        return not_modified(self.meta.etag, self.meta.last_modified, inm, ims)


# ---------------------------------------------------------------- versions


class SQLiteVersions:
    """Scope versions read through a kept connection per thread, checked by data_version."""

    def __init__(self, path: str, max_keys: int = 10_000) -> None:
        self.path = path
        self.max_keys = max_keys
        self._local = threading.local()

    def _state(self) -> Any:
        st = getattr(self._local, "st", None)
        if st is None or st.pid != os.getpid():
            st = self._local.st = _ThreadState()
            st.conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            st.conn.execute("PRAGMA query_only=ON")
        return st

    def current(self, key: str) -> Versions:
        st = self._state()
        dv = st.conn.execute("PRAGMA data_version").fetchone()[0]
        if dv != st.data_version:
            st.cache.clear()
            st.data_version = dv
        value = st.cache.get(key)
        if value is None:
            rows = dict(
                st.conn.execute(
                    "SELECT key, version FROM scope_versions WHERE key IN (?, ?)", (key, GLOBAL)
                ).fetchall()
            )
            value = (rows.get(key, 0), rows.get(GLOBAL, 0))
            if len(st.cache) >= self.max_keys:
                st.cache.clear()
            st.cache[key] = value
        return value  # type: ignore[no-any-return]

    def invalidate(self) -> None:
        """Nothing to do: data_version sees every commit, this process's too."""

    def close(self) -> None:
        st = getattr(self._local, "st", None)
        if st is not None:
            st.conn.close()
            self._local.st = None


class _ThreadState:
    pid: int
    conn: Any
    data_version: int | None
    cache: dict[str, Versions]

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.data_version = None
        self.cache = {}


class PostgresVersions:
    """Scope versions cached in-process while a LISTEN connection is up."""

    def __init__(self, conninfo: str, max_keys: int = 10_000, listen: bool = True) -> None:
        self.conninfo = conninfo
        self.max_keys = max_keys
        self.listen = listen
        self.listening = False
        self._cache: dict[str, Versions] = {}
        self._gen = 0
        self._pid = 0
        self._local = threading.local()
        self._start_lock = threading.Lock()
        _TRACKERS.add(self)

    def _ensure_listener(self) -> None:
        if self._pid == os.getpid() or not self.listen:
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self.listening = False  # a forked child's copy of the flag means nothing
            self.invalidate()
            self._pid = os.getpid()
            threading.Thread(
                target=_listen, args=(weakref.ref(self), self.conninfo),
                name="feedserver-scope-listener", daemon=True,
            ).start()  # fmt: skip

    def invalidate(self) -> None:
        self._gen += 1
        self._cache.clear()

    def _conn(self) -> Any:
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or getattr(self._local, "pid", 0) != os.getpid():
            conn = self._local.conn = psycopg.connect(self.conninfo, autocommit=True)
            self._local.pid = os.getpid()
        return conn

    def read(self, key: str) -> Versions:
        """One primary-key lookup of the scope's and the global row."""
        try:
            rows = dict(
                self._conn()
                .execute(
                    "SELECT key, version FROM scope_versions WHERE key IN (%s, %s)",
                    (key, GLOBAL),
                    prepare=True,
                )
                .fetchall()
            )
        except Exception:
            self._local.conn = None
            raise
        return (rows.get(key, 0), rows.get(GLOBAL, 0))

    def current(self, key: str) -> Versions:
        self._ensure_listener()
        if self.listening:
            value = self._cache.get(key)
            if value is not None:
                return value
        gen = self._gen
        value = self.read(key)
        # Keep it only if no invalidation arrived while we read (else it may be old).
        if self.listening and gen == self._gen:
            if len(self._cache) >= self.max_keys:
                self._cache.clear()
            self._cache[key] = value
        return value

    def close(self) -> None:
        self.listen = False
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _listen(ref: weakref.ref[PostgresVersions], conninfo: str) -> None:
    """Drop the tracker's copy on every NOTIFY; reconnect with back-off."""
    import psycopg

    delay = 0.5
    while True:
        tracker = ref()
        if tracker is None or not tracker.listen:
            return
        del tracker
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                ensure_trigger(conn)
                conn.execute(f"LISTEN {CHANNEL}")
                tracker = ref()
                if tracker is None:
                    return
                tracker.listening = True
                tracker.invalidate()  # anything read before LISTEN may be old
                del tracker
                delay = 0.5
                while True:
                    for _ in conn.notifies(timeout=1.0):
                        tracker = ref()
                        if tracker is None:
                            return
                        tracker.invalidate()
                        del tracker
                    tracker = ref()
                    if tracker is None or not tracker.listen:
                        return
                    del tracker
        except Exception as exc:  # lost connection: stop caching until back
            tracker = ref()
            if tracker is None:
                return
            tracker.listening = False
            tracker.invalidate()
            del tracker
            log.warning("scope listener: %s; retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


_TRACKERS: weakref.WeakSet[PostgresVersions] = weakref.WeakSet()


def ensure_trigger(conn: Any) -> None:
    """Create the NOTIFY trigger on scope_versions unless it is there (one worker at a time)."""
    exists = conn.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = 'scope_versions'::regclass",
        (TRIGGER,),
    ).fetchone()
    if exists:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TRIGGER,))
        again = conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = 'scope_versions'::regclass",
            (TRIGGER,),
        ).fetchone()
        if not again:
            conn.execute(TRIGGER_SQL)
            log.info("created trigger %s on scope_versions", TRIGGER)


def _invalidate_local(_session: Session) -> None:
    """Read-your-writes in this process, before the NOTIFY comes back round."""
    for tracker in list(_TRACKERS):
        tracker.invalidate()


def install_hooks() -> None:
    """Drop this process's copies on its own commits (idempotent)."""
    if not event.contains(Session, "after_commit", _invalidate_local):
        event.listen(Session, "after_commit", _invalidate_local)


install_hooks()


def versions_for(url: str, *, listen: bool = True) -> SQLiteVersions | PostgresVersions | None:
    """The validator reader for a database URL; None where the fast path cannot work."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None
        return SQLiteVersions(parsed.database)
    if parsed.get_backend_name() == "postgresql":
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresVersions(conninfo, listen=listen)
    return None


# ---------------------------------------------------------------- WSGI layer


class FastFeeds:
    """Answer feed GET/HEAD requests from kept answers; fall back to the app."""

    def __init__(
        self,
        app: WSGIApp,
        versions: SQLiteVersions | PostgresVersions,
        max_entries: int = 4096,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.versions = versions
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._bytes = 0
        self._encodings: dict[str | None, str] = {}
        self.hits = 0
        self.fills = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return self.app(environ, start_response)
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        encoding = self._encodings.get(accept)
        if encoding is None:
            encoding = choose_encoding(accept)
            if len(self._encodings) < 256:
                self._encodings[accept] = encoding
        key = (
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("SCRIPT_NAME", ""),
            environ.get("wsgi.url_scheme", "http"),
            environ.get("HTTP_HOST")
            or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
            encoding,
        )
        entry = self._entries.get(key)
        if entry is not None and self.versions.current(entry.scope_key) == entry.versions:
            inm = environ.get("HTTP_IF_NONE_MATCH")
            ims = environ.get("HTTP_IF_MODIFIED_SINCE")
            if (inm is not None or ims is not None) and entry.is_not_modified(inm, ims):
                if entry.headers304 is not None:
                    self.hits += 1
                    start_response(entry.status304, entry.headers304)
                    return EMPTY
            elif entry.body is not None:
                self.hits += 1
                start_response(entry.status200, entry.headers200)
                return EMPTY if method == "HEAD" else [entry.body]
        return self._fill(key, environ, start_response)

    def _fill(
        self, key: tuple[str, ...], environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        app_iter = self.app(environ, capture)
        meta: FeedMeta | None = environ.get(ENVIRON_KEY)
        if meta is None or not captured or not _cacheable(captured[1]):
            return app_iter
        status, headers = captured
        if status.startswith("304"):
            self._keep_304(key, meta, status, headers)
            return app_iter
        if not status.startswith("200") or environ["REQUEST_METHOD"] != "GET":
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        entry = _Entry(meta.scope_key, meta.versions, meta)
        entry.tag = next((v for k, v in headers if k.lower() == "etag"), None)
        entry.status200, entry.headers200, entry.body = status, list(headers), body
        if entry.tag is not None:
            self._ask_304(entry, environ)
        self._store(key, entry)
        return [body]

    def _ask_304(self, entry: _Entry, environ: dict[str, Any]) -> None:
        """Let the app give its own 304 for this ETag, so ours is identical."""
        probe = {k: v for k, v in environ.items() if k != ENVIRON_KEY}
        probe.pop("HTTP_IF_MODIFIED_SINCE", None)
        probe["HTTP_IF_NONE_MATCH"] = entry.tag
        probe["wsgi.input"] = io.BytesIO()
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda _data: None

        app_iter = self.app(probe, capture)
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
        meta = probe.get(ENVIRON_KEY)
        if (
            captured
            and captured[0].startswith("304")
            and meta is not None
            and meta.versions == entry.versions
            and _cacheable(captured[1])
        ):
            entry.status304, entry.headers304 = captured[0], list(captured[1])

    def _keep_304(
        self, key: tuple[str, ...], meta: FeedMeta, status: str, headers: list[tuple[str, str]]
    ) -> None:
        old = self._entries.get(key)
        if old is not None and old.versions == meta.versions:
            old.status304, old.headers304 = status, list(headers)
            return
        entry = _Entry(meta.scope_key, meta.versions, meta)
        entry.tag = next((v for k, v in headers if k.lower() == "etag"), None)
        entry.status304, entry.headers304 = status, list(headers)
        self._store(key, entry)

    def _store(self, key: tuple[str, ...], entry: _Entry) -> None:
        self.fills += 1
        old = self._entries.pop(key, None)
        if old is not None and old.body is not None:
            self._bytes -= len(old.body)
        self._entries[key] = entry
        self._bytes += len(entry.body or b"")
        while self._entries and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            try:
                oldest = next(iter(self._entries))
                dropped = self._entries.pop(oldest)
            except (StopIteration, KeyError, RuntimeError):  # another thread got there
                break
            self._bytes -= len(dropped.body or b"")

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


def _cacheable(headers: list[tuple[str, str]]) -> bool:
    """Never keep an answer that is personal (a cookie) or varies on more than the coding."""
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            return False
        if lower == "vary" and value.replace(" ", "").lower() != "accept-encoding":
            return False
    return True


def init_app(app: Any) -> None:
    """Put the fast path in front of the app (FEEDSERVER_FAST_FEEDS=false turns it off)."""
    if not app.config.get("FAST_FEEDS", True):
        return
    versions = versions_for(
        app.config["DATABASE_URL"], listen=bool(app.config.get("FAST_FEEDS_LISTEN", True))
    )
    if versions is None:
        return
    app.wsgi_app = FastFeeds(app.wsgi_app, versions)
    app.extensions["feedserver.fastfeeds"] = app.wsgi_app
