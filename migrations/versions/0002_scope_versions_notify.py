"""Notify listeners when scope versions change (PostgreSQL only)

Every web worker's in-process feed cache (feedserver.publishing.fastpath) LISTENs on
this channel, so a write from any process on any machine — web, poller, CLI,
a script — reaches every worker at commit. SQLite needs nothing: workers
there watch ``PRAGMA data_version``.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION feedserver_scope_versions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('feedserver_scope_versions', '');
    RETURN NULL;
END $$;
"""
TRIGGER = """
CREATE TRIGGER feedserver_scope_versions_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scope_versions
    FOR EACH STATEMENT EXECUTE FUNCTION feedserver_scope_versions_notify();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS feedserver_scope_versions_notify ON scope_versions")
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS feedserver_scope_versions_notify ON scope_versions")
    op.execute("DROP FUNCTION IF EXISTS feedserver_scope_versions_notify()")
