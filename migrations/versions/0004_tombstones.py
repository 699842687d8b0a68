"""RFC 6721 tombstones of deleted articles

Revision ID: 0004
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0004"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=140), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("upstream_key", sa.String(length=512), nullable=True),
        sa.Column(
            "deleted_at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
    )
    op.create_index(op.f("ix_tombstones_article_id"), "tombstones", ["article_id"])
    op.create_index(op.f("ix_tombstones_slug"), "tombstones", ["slug"])
    op.create_index(op.f("ix_tombstones_deleted_at"), "tombstones", ["deleted_at"])
    op.create_index(
        "ix_tombstones_source_upstream", "tombstones", ["source_id", "upstream_key"]
    )
    op.create_table(
        "tombstone_scopes",
        sa.Column("tombstone_id", sa.Integer(), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column(
            "deleted_at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tombstone_id"],
            ["tombstones.id"],
            name=op.f("fk_tombstone_scopes_tombstone_id_tombstones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tombstone_id", "scope_key", name=op.f("pk_tombstone_scopes")),
    )
    op.create_index(
        "ix_tombstone_scopes_scope", "tombstone_scopes", ["scope_key", "deleted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_tombstone_scopes_scope", table_name="tombstone_scopes")
    op.drop_table("tombstone_scopes")
    op.drop_index("ix_tombstones_source_upstream", table_name="tombstones")
    op.drop_index(op.f("ix_tombstones_deleted_at"), table_name="tombstones")
    op.drop_index(op.f("ix_tombstones_slug"), table_name="tombstones")
    op.drop_index(op.f("ix_tombstones_article_id"), table_name="tombstones")
    op.drop_table("tombstones")
