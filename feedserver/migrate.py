"""Run the Alembic migrations shipped with the package."""

from __future__ import annotations

import logging
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from feedserver.paths import resource_dir

# Alembic announces each of its plugins at INFO; only the migrations matter.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic Config pointing at our migrations and this engine."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    # A configparser value: "%" (a password's %40, say) is written "%%".
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to ``revision`` (developers and tests)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run Alembic's ``step`` to ``revision`` in one transaction.

    On SQLite, foreign keys are off while the migrations run: a migration
    that rebuilds a table (SQLite's way to change one) drops the old one,
    and with foreign keys on, that drop first deletes its rows, cascading to
    every table that refers to them. They are checked once it is done, and
    turned on again.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # outside any transaction (the driver's), where the pragma takes effect
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                cfg = alembic_config(engine)
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"migration left a broken reference: {tuple(broken)}")
        finally:
            if sqlite:
                connection.rollback()  # nothing is pending: ends SQLAlchemy's autobegun one
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision (developers only)."""
    with engine.begin() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
