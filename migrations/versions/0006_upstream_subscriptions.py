"""WebSub subscriber: our subscriptions at upstream hubs

Revision ID: 0006
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0006"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, feedserver.models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "upstream_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("hub", sa.String(length=2000), nullable=False),
        sa.Column("topic", sa.String(length=2000), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("callback", sa.String(length=2200), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("wanted", sa.String(length=16), nullable=False),
        sa.Column("pending_mode", sa.String(length=16), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        _time("expires_at"),
        _time("verified_at"),
        _time("requested_at"),
        _time("next_attempt_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("last_push_at"),
        sa.Column("pushes", sa.Integer(), nullable=False),
        _time("backup_poll_at"),
        _time("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_upstream_subscriptions_source_id_sources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_subscriptions")),
        sa.UniqueConstraint("token", name=op.f("uq_upstream_subscriptions_token")),
    )
    op.create_index(
        op.f("ix_upstream_subscriptions_source_id"),
        "upstream_subscriptions",
        ["source_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_upstream_subscriptions_next_attempt_at"),
        "upstream_subscriptions",
        ["next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_upstream_subscriptions_state_backup",
        "upstream_subscriptions",
        ["state", "backup_poll_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_upstream_subscriptions_state_backup", table_name="upstream_subscriptions")
    op.drop_index(
        op.f("ix_upstream_subscriptions_next_attempt_at"), table_name="upstream_subscriptions"
    )
    op.drop_index(op.f("ix_upstream_subscriptions_source_id"), table_name="upstream_subscriptions")
    op.drop_table("upstream_subscriptions")
