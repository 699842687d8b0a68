"""The database: one engine and session factory per app, usable without Flask.

Plain SQLAlchemy 2.0 (not Flask-SQLAlchemy) so the poller, the CLI and the
benchmarks open sessions with ``Database.from_url(url)`` and no app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, exc, false, text, update
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # the poller and CLI use Database without importing Flask
    from flask import Flask

log = logging.getLogger(__name__)

EXTENSION = "feedserver.db"

# SQLite allows one writer per file: writers of one process queue on a lock
# instead of spinning on SQLITE_BUSY. Keyed by URL, so every Database object
# on the same file (the app's, a poller's, a CLI's) shares one lock.
_SQLITE_WRITE_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_LOCK = threading.Lock()


class Database:
    """An engine and its session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_lock: threading.RLock | None = None
        if engine.dialect.name == "sqlite":
            key = engine.url.render_as_string(hide_password=True)
            with _LOCKS_LOCK:
                self._write_lock = _SQLITE_WRITE_LOCKS.setdefault(key, threading.RLock())

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> Database:
        """Create the engine with the settings each backend wants."""
        # A statement's parameters hold what readers and upstreams sent (a
        # commenter's e-mail): never in an error's text, so never in a log.
        engine_options.setdefault("hide_parameters", True)
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **engine_options)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "handle_error", _sqlite_unusable)
        else:
            engine_options.setdefault("pool_pre_ping", True)
            engine_options.setdefault("pool_size", 5)
            engine_options.setdefault("max_overflow", 10)
            # A server that does not answer (a partition, a hung host) must
            # not hold a request for minutes: connecting gives up after a few
            # seconds, and a connection whose server went silent is found
            # dead by TCP keepalives and an unacknowledged-data limit.
            engine_options.setdefault("connect_args", dict(PG_CONNECT_ARGS))
            engine = create_engine(url, **engine_options)
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def write_now(self, statement: Any) -> None:
        """Run one write now or not at all: never wait for another writer's lock.

        For best-effort writes on a web server's thread (a token's "last
        used" time): while another process holds SQLite's write lock (or a
        row lock on PostgreSQL), waiting would hold the thread for the whole
        busy time-out, and every request meanwhile would add another.
        """
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                if not sqlite:
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
                conn.execute(statement)
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")

    def write_lock(self) -> AbstractContextManager[Any]:
        """Serialize this process's write transactions where the database needs it.

        SQLite: a process-wide re-entrant lock per database file (one writer at
        a time). PostgreSQL: a no-op; row locks and ``SKIP LOCKED`` do the work.
        Use as ``with db.write_lock(), db.session() as session: …``.
        """
        return self._write_lock if self._write_lock is not None else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session


# PostgreSQL's "try the transaction again" errors: deadlock_detected and
# serialization_failure.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def describe(error: BaseException) -> str:
    """An exception as one line for a source's health, cut at 500 characters.

    A database error is named by the driver's error and the first line of its
    message, never the statement or its parameters: those hold upstream text
    and the schema, which the API and the admin show.
    """
    if isinstance(error, exc.StatementError) and error.orig is not None:
        inner = error.orig
        first = (str(inner).strip().splitlines() or [""])[0]
        return f"{type(error).__name__}: {type(inner).__name__}: {first}"[:500]
    return f"{type(error).__name__}: {error}"[:500]


def log_failure(logger: logging.Logger, what: str, error: BaseException, *args: object) -> None:
    """Log a step that failed: one line while the database is unreachable, else the traceback.

    ``what`` is a template for ``args`` ("store failed source_id=%s"). An
    outage fails every pass of every background loop and many requests; a
    traceback each time buried the one line that says what is wrong.
    """
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        logger.warning(what + ": database unavailable: %s", *args, describe(error))
    else:
        logger.error(what, *args, exc_info=error)


def write_first(session: Session, table: Table, key: str) -> None:
    """Make the rest of this transaction run after every other writer's with ``key``.

    For a check that must hold until the commit (a flood limit, a duplicate):
    PostgreSQL takes a transaction-scoped advisory lock on ``key``; SQLite
    takes the database's one write lock now, with a write that changes
    nothing, so what is read next is the latest committed state and no other
    writer (thread or process) commits before this transaction ends. Reads
    outside a transaction on pysqlite would otherwise each see their own
    moment, and the insert another.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        take_sqlite_write_lock(session, table)


def take_sqlite_write_lock(runner: Session | Connection, table: Table) -> None:
    """SQLite: hold the database's write lock from now until the transaction ends.

    pysqlite begins a transaction only at a write, so reads before it each
    see their own moment; a write to ``table`` that changes nothing takes the
    lock (waiting for another writer's commit), and what is read next is the
    latest committed state.
    """
    first = table.primary_key.columns.values()[0]
    runner.execute(update(table).where(false()).values({first.name: first}))


def is_transient(exc: BaseException) -> bool:
    """Whether a database error only asks for the transaction to be run again."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _TRANSIENT_SQLSTATES


WAL_CHECKPOINT_PAGES = 10_000
SQLITE_BUSY_MS = 30_000  # how long a SQLite writer waits for another's lock


PG_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}

# SQLite errors after which a connection is no use even when the cause has
# gone: one opened while the file could not be written stays read-only, and
# the pool's ping (a read) passes on it. Treated as a lost connection, so the
# pool makes new ones (README: no restart after an outage).
_SQLITE_UNUSABLE = ("attempt to write a readonly database", "disk i/o error")


def _sqlite_unusable(context: Any) -> None:
    if any(text in str(context.original_exception).lower() for text in _SQLITE_UNUSABLE):
        context.is_disconnect = True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the web) and the writer (the poller) work at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A checkpoint (the WAL copied into the database, then synced) runs in the
    # commit that crosses this many pages, under the write lock. SQLite's
    # 1,000 (4 MB) meant one every few hundred stored articles on a first
    # poll; 10,000 (40 MB) copies a page written many times over once per
    # checkpoint instead of once per 4 MB (bench: first poll ~11 % faster).
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def init_app(app: Flask) -> None:
    """Attach the database to the app and close request sessions at teardown."""
    database = Database.from_url(app.config["DATABASE_URL"])
    # Read by the story grouping hook (feedserver.stories.grouping.enabled).
    database.sessions.configure(info={"feedserver_stories": bool(app.config["STORIES"])})
    app.extensions[EXTENSION] = database
    app.teardown_appcontext(_close_session)


def get_db(app: Flask | None = None) -> Database:
    """Return the app's Database."""
    from flask import current_app

    return (app or current_app).extensions[EXTENSION]  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any


def db_session() -> Session:
    """Return the session of the current request (or app context)."""
    from flask import g

    if "db_session" not in g:
        g.db_session = get_db().sessions()
    return g.db_session  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any


def _close_session(_exc: BaseException | None) -> None:
    from flask import g

    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except exc.SQLAlchemyError as problem:
        # The connection died under us (a database restart): the ROLLBACK of
        # close() fails. The answer is already made; drop the connection so the
        # pool opens a fresh one, rather than turn a sent 503 into a 500.
        log.warning("closing a request's session failed: %s", type(problem).__name__)
        with suppress(exc.SQLAlchemyError):
            session.invalidate()
