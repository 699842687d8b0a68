"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

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


def _counts(engine) -> dict[str, int]:
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        return {
            name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in inspect(conn).get_table_names()
            if name != "alembic_version"
        }


def test_sqlite_ids_are_never_handed_out_twice_and_the_rebuild_keeps_every_row(tmp_path):
    """Migration 0017 rebuilds four tables with AUTOINCREMENT; nothing referring to them is lost.

    With foreign keys on, dropping the old table would first delete its rows,
    cascading to bylines and comments (feedserver.migrate turns them off).
    """
    from sqlalchemy import text

    from feedserver.db import Database
    from feedserver.migrate import upgrade
    from feedserver.models import Article, Section, Source
    from tests.factories import make_article, make_author, make_comment, make_section, make_source

    db = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db.engine, "0016")
    # The factories write through today's models: their later columns are lent
    # to the old schema while the rows are made, and taken back before the upgrade.
    later = ("cache_seconds", "ttl_minutes")  # sources, revision 0019
    with db.engine.begin() as conn:
        for column in later:
            conn.exec_driver_sql(f"ALTER TABLE sources ADD COLUMN {column} INTEGER")
    with db.session() as s:
        section = make_section(s, slug="world", name="World")
        ada = make_author(s, slug="ada", name="Ada")
        for i in range(3):
            source = make_source(s, slug=f"wire-{i}", feed_url=f"https://wire{i}.example/feed")
            article = make_article(s, slug=f"a{i}", section=section, authors=[ada], source=source)
            make_comment(s, article, author_name="Cy", body="Hello.")
    from feedserver.aggregation.removal import remove_source

    with db.session() as s:  # deleted before the upgrade: its tombstones keep its id
        gone = max(s.scalars(select(Source.id)))
        remove_source(s, s.get(Source, gone))
    with db.engine.begin() as conn:
        for column in later:
            conn.exec_driver_sql(f"ALTER TABLE sources DROP COLUMN {column}")
    before = _counts(db.engine)
    upgrade(db.engine, "0017")
    assert _counts(db.engine) == before  # every byline, comment and tombstone is still there
    upgrade(db.engine)  # the rest, for today's models
    with db.session() as s:
        after = make_source(s, slug="after", feed_url="https://after.example/feed")
        assert after.id > gone  # not the id its tombstones are kept under
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again
        for table in ("sections", "authors", "sources", "articles"):
            sql = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}
            ).scalar_one()
            assert "AUTOINCREMENT" in sql, table
        indexes = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles'")
        ).scalars()
        assert {"ix_articles_published", "ix_articles_listed"} <= set(indexes)
    with db.session() as s:
        newest = max(s.scalars(select(Source.id)))
        s.delete(s.get(Source, newest))
        s.delete(s.scalars(select(Article).order_by(Article.id.desc())).first())
    with db.session() as s:
        again = make_source(s, slug="wire-again", feed_url="https://wire2.example/feed")
        assert again.id > newest  # was newest: its tombstones and scope were inherited
        assert make_section(s, slug="science", name="Science").id > max(
            s.scalars(select(Section.id).where(Section.slug != "science"))
        )
    db.engine.dispose()
