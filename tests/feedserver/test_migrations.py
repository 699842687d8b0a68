"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

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
