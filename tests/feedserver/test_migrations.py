"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedserver.models import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_feed_index_exists(db):
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    names = {ix["name"] for ix in inspector.get_indexes("articles")}
    assert {
        "ix_articles_published",
        "ix_articles_section_published",
        "ix_articles_source_published",
    } <= names
    assert "ix_article_authors_feed" in {
        ix["name"] for ix in inspector.get_indexes("article_authors")
    }


def test_postgresql_scope_versions_notify_listeners(db, db_backend):
    """The migration installs the trigger the web workers' feed caches listen to."""
    if db_backend != "postgresql":
        pytest.skip("SQLite workers watch the WAL index (or PRAGMA data_version) instead")
    from sqlalchemy import text

    from feedserver.publishing.scopewatch import CHANNEL, TRIGGER

    with db.engine.connect() as conn:
        names = (
            conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'scope_versions'::regclass")
            )
            .scalars()
            .all()
        )
        source = conn.execute(
            text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": TRIGGER}
        ).scalar_one()
    assert TRIGGER in names
    assert CHANNEL in source
