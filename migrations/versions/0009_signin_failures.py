"""Per-address sign-in failures shared by every web process

The sign-in slow-down per client address used to live in each process's
memory; one row per failure here (the address as a keyed hash) makes it one
count for the whole site, and rows are only ever inserted, so concurrent
failures are never lost.

Revision ID: 0009
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
    )
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signin_failures_address_at", ["address_hash", "at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signin_failures_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signin_failures_at"))
        batch_op.drop_index("ix_signin_failures_address_at")
    op.drop_table("signin_failures")
