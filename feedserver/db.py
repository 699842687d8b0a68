"""The database: one engine and session factory per app, usable without Flask.

Plain SQLAlchemy 2.0 (not Flask-SQLAlchemy) so the poller, the CLI and the
benchmarks open sessions with ``Database.from_url(url)`` and no app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # the poller and CLI use Database without importing Flask
    from flask import Flask

EXTENSION = "feedserver.db"


class Database:
    """An engine and its session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> Database:
        """Create the engine with the settings each backend wants."""
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **engine_options)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine_options.setdefault("pool_pre_ping", True)
            engine_options.setdefault("pool_size", 5)
            engine_options.setdefault("max_overflow", 10)
            engine = create_engine(url, **engine_options)
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the web) and the writer (the poller) work at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
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
    if session is not None:
        session.close()
