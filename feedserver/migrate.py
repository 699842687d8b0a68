"""Run the Alembic migrations shipped with the package."""

from __future__ import annotations

import logging

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
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    with engine.begin() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision (developers only)."""
    with engine.begin() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
