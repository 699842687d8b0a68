"""WebSub hub: subscriptions, queued deliveries, distribution marks

Revision ID: 0005
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = feedserver.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ident", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=2048), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("callback", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("last_delivery_at", UTC, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_subscriptions")),
        sa.UniqueConstraint("ident", name=op.f("uq_websub_subscriptions_ident")),
    )
    op.create_index(
        "ix_websub_subscriptions_scope_state",
        "websub_subscriptions",
        ["scope_key", "state"],
        unique=False,
    )
    op.create_table(
        "websub_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("topic", sa.String(length=2048), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=True),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("claimed_until", UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["websub_subscriptions.id"],
            name=op.f("fk_websub_deliveries_subscription_id_websub_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_deliveries")),
    )
    op.create_index("ix_websub_deliveries_due_at", "websub_deliveries", ["due_at"], unique=False)
    op.create_index(
        "ix_websub_deliveries_subscription_kind",
        "websub_deliveries",
        ["subscription_id", "kind"],
        unique=False,
    )
    op.create_table(
        "websub_marks",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_websub_marks")),
    )


def downgrade() -> None:
    op.drop_table("websub_marks")
    op.drop_index("ix_websub_deliveries_subscription_kind", table_name="websub_deliveries")
    op.drop_index("ix_websub_deliveries_due_at", table_name="websub_deliveries")
    op.drop_table("websub_deliveries")
    op.drop_index("ix_websub_subscriptions_scope_state", table_name="websub_subscriptions")
    op.drop_table("websub_subscriptions")
