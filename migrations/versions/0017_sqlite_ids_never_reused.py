"""SQLite: ids of sections, authors, sources and articles are never handed out twice

SQLite gives a new row the highest id in use plus one, so deleting the newest
source (or author, section, article) gave its id to the next one — and with
it what is kept under that id: its tombstones (a re-added feed's entries
were "deleted" and never stored), its feed's scope row, its hub
subscriptions. AUTOINCREMENT keeps the highest id ever handed out; its
sequence starts above every id still named anywhere (tombstones, scope
keys), so ids deleted before this upgrade are not handed out again either. SQLite
cannot add it to a table, so each one is rebuilt (its rows, indexes and
triggers as they are), with foreign keys off (feedserver.migrate.upgrade).
PostgreSQL's sequences never hand an id out twice: nothing to do there.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sections", "authors", "sources", "articles")


def _items(sql: str) -> list[str]:
    """The column and constraint definitions of a CREATE TABLE statement."""
    body = sql[sql.index("(") + 1 : sql.rindex(")")]
    items, depth, start = [], 0, 0
    for at, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(body[start:at].strip())
            start = at + 1
    items.append(body[start:].strip())
    return [item for item in items if item]


def _rebuild(table: str, autoincrement: bool) -> None:
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if ("AUTOINCREMENT" in sql.upper()) == autoincrement:
        return
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding a table needs foreign keys off (feedserver.migrate)")
    pk = f"CONSTRAINT pk_{table} PRIMARY KEY (id)"
    column = f"id INTEGER NOT NULL CONSTRAINT pk_{table} PRIMARY KEY AUTOINCREMENT"
    items = _items(sql)
    if autoincrement:
        wanted = [column if i == "id INTEGER NOT NULL" else i for i in items if i != pk]
    else:
        wanted = ["id INTEGER NOT NULL" if i == column else i for i in items] + [pk]
    if (column if autoincrement else "id INTEGER NOT NULL") not in wanted:
        raise RuntimeError(f"unexpected definition of {table}: {sql[:200]}")
    new = f"CREATE TABLE {table}_rebuilt (\n\t" + ",\n\t".join(wanted) + "\n)"
    others = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL",
        (table,),
    ).scalars().all()
    conn.exec_driver_sql(new)
    conn.exec_driver_sql(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
    conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
    for statement in others:
        conn.exec_driver_sql(statement)


# Where ids of each table live on after their rows are gone: the highest of
# them is the floor of the new sequence, or an id deleted before this upgrade
# would be handed out again with what is kept under it.
_KEPT_IDS = {
    "sections": ("section",),
    "authors": ("author",),
    "sources": ("source",),
    "articles": ("comments",),
}
_KEPT_COLUMNS = {"sources": ("tombstones", "source_id"), "articles": ("tombstones", "article_id")}
_SCOPE_TABLES = (
    "scope_versions.key",
    "tombstone_scopes.scope_key",
    "websub_subscriptions.scope_key",
)


def _floor(table: str) -> int:
    """The highest id ``table`` ever handed out, as far as the database remembers."""
    conn = op.get_bind()
    highest = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one()
    if table in _KEPT_COLUMNS:
        other, column = _KEPT_COLUMNS[table]
        kept = conn.exec_driver_sql(f"SELECT coalesce(max({column}), 0) FROM {other}").scalar_one()
        highest = max(highest, kept or 0)
    for place in _SCOPE_TABLES:
        other, column = place.split(".")
        for kind in _KEPT_IDS[table]:
            keys = conn.exec_driver_sql(
                f'SELECT "{column}" FROM {other} WHERE "{column}" LIKE ?', (f"{kind}:%",)
            ).scalars()
            for key in keys:
                number = key.partition(":")[2]
                if number.isdigit():
                    highest = max(highest, int(number))
    return int(highest)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        conn = op.get_bind()
        for table in TABLES:
            floor = _floor(table)
            _rebuild(table, autoincrement=True)
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, floor)
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in reversed(TABLES):
            _rebuild(table, autoincrement=False)
