"""Sources: the freshness the upstream's last 200 gave (sources.cache_seconds, ttl_minutes)

An upstream that answered 200 with Cache-Control: max-age=3600 was next
fetched in an hour; after a 304 that did not repeat the header it was back to
the default interval. A 304 updates the stored answer's headers, and those it
does not repeat still apply (RFC 9111 §4.3.4): the max-age (or Expires) and
the RSS <ttl> of the last 200 are now kept for the 304s that follow.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("cache_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ttl_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("ttl_minutes")
        batch.drop_column("cache_seconds")
