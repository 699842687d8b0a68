"""Feed statistics: distinct clients, reader reports, hourly and daily traffic

Written in batches by the web processes (feedserver.publishing.tally) and read
by GET /api/stats/feeds and /admin/stats (INTERFACE §9).

Revision ID: 0007
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0007"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = feedserver.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_clients",
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("client", sa.String(length=32), nullable=False),
        sa.Column("last_seen", UTC, nullable=False),
        sa.PrimaryKeyConstraint("path", "client", name=op.f("pk_feed_clients")),
    )
    op.create_index("ix_feed_clients_last_seen", "feed_clients", ["last_seen"])
    op.create_table(
        "feed_reader_reports",
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("reported_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("path", "service", "feed_id", name=op.f("pk_feed_reader_reports")),
    )
    op.create_index(
        "ix_feed_reader_reports_reported_at", "feed_reader_reports", ["reported_at"]
    )
    op.create_table(
        "feed_traffic_hourly",
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("hour", UTC, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("not_modified", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("path", "hour", name=op.f("pk_feed_traffic_hourly")),
    )
    op.create_index("ix_feed_traffic_hourly_hour", "feed_traffic_hourly", ["hour"])
    op.create_table(
        "feed_daily",
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("not_modified", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("by_reader", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("path", "day", name=op.f("pk_feed_daily")),
    )
    op.create_index("ix_feed_daily_day", "feed_daily", ["day"])


def downgrade() -> None:
    op.drop_index("ix_feed_daily_day", table_name="feed_daily")
    op.drop_table("feed_daily")
    op.drop_index("ix_feed_traffic_hourly_hour", table_name="feed_traffic_hourly")
    op.drop_table("feed_traffic_hourly")
    op.drop_index("ix_feed_reader_reports_reported_at", table_name="feed_reader_reports")
    op.drop_table("feed_reader_reports")
    op.drop_index("ix_feed_clients_last_seen", table_name="feed_clients")
    op.drop_table("feed_clients")
