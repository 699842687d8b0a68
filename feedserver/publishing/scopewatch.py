"""Per-process copies of the scope versions, invalidated across processes and machines.

A rendered feed depends on its scope's version and the global version, so a
worker that keeps answers (feedserver.publishing.fastpath) only has to know, cheaply
and correctly, when those change:

- SQLite: in WAL mode every commit, by any connection in any process,
  rewrites the WAL-index header at the start of the ``-shm`` file (its change
  counter and last frame; https://sqlite.org/walformat.html §2.1). Per request
  a copy of that header from a read-only memory map (no system call, so the
  GIL is never let go on a hit — a syscall that releases it costs a hit its
  turn behind the server's other threads) says whether anything was committed
  since the copy was read; only then is the database asked, through a kept
  read-only connection per thread. The map is safe to read: SQLite shrinks a
  ``-shm`` file only when no connection has it open, and the connection that
  first opened it here stays open as long as the map. Without a ``-shm`` file (another
  journal mode) every request asks ``PRAGMA data_version``, which changes
  whenever another connection committed.
- PostgreSQL: a listener thread per process does ``LISTEN`` on
  ``feedserver_scope_versions``; a statement-level trigger on
  ``scope_versions`` (migration 0002) sends ``NOTIFY`` in the transaction of
  every write to it (NOTIFY is transactional: delivered on commit, never on
  rollback), whoever writes — a web machine, a poller, a CLI command, bulk
  SQL. The listener creates the trigger if it is missing. While the listener
  is not connected, or the trigger cannot be had, nothing is kept: each
  request reads the two rows with one primary-key lookup.
"""

from __future__ import annotations

import logging
import mmap
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feedserver.models.scopes import GLOBAL

log = logging.getLogger(__name__)

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

Versions = tuple[int, int]  # (scope version, global version)


class SQLiteVersions:
    """Scope versions read through a kept connection per thread, checked by the WAL index."""

    WAL_HEADER = 96  # both copies of the 48-byte WAL-index header

    def __init__(self, path: str, max_keys: int = 10_000) -> None:
        self.path = path
        self.max_keys = max_keys
        self._local = threading.local()
        # Versions read since the -shm header was as given: replaced as one
        # tuple, so a value is never filed under a header newer than its read.
        self._snap: tuple[bytes, dict[str, Versions]] = (b"", {})
        self._shm: mmap.mmap | None = None  # the -shm file's first bytes, mapped read-only
        self._shm_owner: Any = None  # the connection that keeps the -shm file in use
        self._shm_pid = 0
        _MAPPED.add(self)

    def _state(self) -> Any:
        st = getattr(self._local, "st", None)
        if st is None or st.pid != os.getpid():
            st = self._local.st = _ThreadState()
            st.conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            st.conn.execute("PRAGMA query_only=ON")
        return st

    def _wal_header(self) -> bytes | None:
        """The WAL-index header as it is now; None when there is no -shm file to read.

        No pid check here (a system call per hit): a forked child drops the
        parent's map in :func:`_forget_map_after_fork`.
        """
        shm = self._shm
        return None if shm is None else shm[: self.WAL_HEADER]

    def _open_shm(self, conn: Any) -> None:
        """Map the -shm file, which ``conn`` (open in WAL mode) keeps in use from now on."""
        if self._shm_pid == os.getpid():
            return  # tried in this process already (mapped, or not WAL)
        self._shm_pid = os.getpid()
        self._shm = None
        try:
            with open(self.path + "-shm", "rb") as file:
                if os.fstat(file.fileno()).st_size >= self.WAL_HEADER:
                    self._shm = mmap.mmap(file.fileno(), self.WAL_HEADER, access=mmap.ACCESS_READ)
                    self._shm_owner = conn
        except (OSError, ValueError):
            pass  # not WAL mode (or not readable): data_version every time

    def current(self, key: str) -> Versions:
        header = self._wal_header()
        snap = self._snap
        if header is not None and header == snap[0]:
            value = snap[1].get(key)
            if value is not None:
                return value  # nothing committed since it was read
        return self._read(key, header)

    def _read(self, key: str, header: bytes | None) -> Versions:
        """Ask the database (``header``: the WAL index as seen before asking)."""
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
        if header is None:
            self._open_shm(st.conn)
        elif len(header) == self.WAL_HEADER and header[:48] == header[48:]:
            # Both copies agree: the header was not caught mid-write.
            # Read after ``header`` was taken, so at least as new as it says; a
            # commit in between changes the header, and the next call reads again.
            snap = self._snap
            if snap[0] != header or len(snap[1]) >= self.max_keys:
                snap = self._snap = (header, {})
            snap[1][key] = value
        return value  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any

    def invalidate(self) -> None:
        """Nothing to do: the WAL index and data_version see every commit, this process's too."""

    def close(self) -> None:
        if self._shm is not None and self._shm_pid == os.getpid():
            self._shm.close()  # before the connection that keeps the file in use
        self._shm, self._shm_owner, self._shm_pid = None, None, 0
        st = getattr(self._local, "st", None)
        if st is not None:
            st.conn.close()
            self._local.st = None
        self._snap = (b"", {})


# Every SQLiteVersions, so that a forked child forgets its parent's maps and
# connections (the parent's owner connection is not the child's to use).
_MAPPED: weakref.WeakSet[SQLiteVersions] = weakref.WeakSet()


def _forget_map_after_fork() -> None:
    for versions in list(_MAPPED):
        versions._shm, versions._shm_owner, versions._shm_pid = None, None, 0
        versions._snap = (b"", {})


os.register_at_fork(after_in_child=_forget_map_after_fork)


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
