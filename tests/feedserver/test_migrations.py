"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedserver.models import Base


# Neither backend's reflection compares expression indexes (uq_sections_name on
# lower(name)); test_section_names_are_unique_in_the_database checks that one.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:.*expression-based index")
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


def test_section_names_are_unique_in_the_database(db):
    """Two writers that both passed the services' name check: the second insert fails."""
    from sqlalchemy.exc import IntegrityError

    from feedserver.models import Section

    with db.session() as s:
        s.add(Section(slug="weather", name="Weather"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Section(slug="weather-2", name="WEATHER"))
    with db.session() as s:
        assert [x.name for x in s.query(Section).filter(Section.slug.like("weather%"))] == [
            "Weather"
        ]


def test_the_migration_renames_sections_races_doubled(tmp_path):
    """Upgrading a database where a race made two sections of one name keeps both, renamed."""
    from sqlalchemy import create_engine, text

    from feedserver.migrate import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0013")
    with engine.begin() as conn:
        for ident, name in [(1, "World"), (2, "world"), (3, "World (2)"), (4, "Sport")]:
            conn.execute(
                text(
                    "INSERT INTO sections (id, slug, name, description, created_at, updated_at)"
                    " VALUES (:i, :s, :n, '', '2026-01-01', '2026-01-01')"
                ),
                {"i": ident, "s": f"s{ident}", "n": name},
            )
    upgrade(engine)
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM sections")).all())
    assert names == {1: "World", 2: "world (3)", 3: "World (2)", 4: "Sport"}
    engine.dispose()
