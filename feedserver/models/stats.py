"""Who reads each feed: distinct clients, reader reports, and traffic per hour and per day.

Written in batches by ``feedserver.publishing.tally`` (never per request) and
read by the stats API and the admin. A feed is named by its URL path (without
the query: ``?page=N`` requests count towards their feed). Clients are kept
as keyed hashes of address and user agent, never as addresses.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from feedserver.models.base import Base

PATH_LENGTH = 300


class FeedClient(Base):
    """A client without a reported count, last seen fetching a feed."""

    __tablename__ = "feed_clients"
    __table_args__ = (Index("ix_feed_clients_last_seen", "last_seen"),)

    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    client: Mapped[str] = mapped_column(String(32), primary_key=True)  # keyed hash, hex
    last_seen: Mapped[datetime] = mapped_column()


class ReaderReport(Base):
    """The latest subscriber count a reader service reported for a feed (and feed id)."""

    __tablename__ = "feed_reader_reports"
    __table_args__ = (Index("ix_feed_reader_reports_reported_at", "reported_at"),)

    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    subscribers: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column()


class FeedTrafficHour(Base):
    """Requests, 304s and body bytes of a feed in one hour (kept two days)."""

    __tablename__ = "feed_traffic_hourly"
    __table_args__ = (Index("ix_feed_traffic_hourly_hour", "hour"),)

    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    not_modified: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedDay(Base):
    """A feed's day: traffic, and its subscribers as last computed that day (for charts)."""

    __tablename__ = "feed_daily"
    __table_args__ = (Index("ix_feed_daily_day", "day"),)

    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    not_modified: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    subscribers: Mapped[int] = mapped_column(Integer, default=0)
    # {"Feedly": 42, …, "other": 3}, as of the last flush that day.
    by_reader: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
