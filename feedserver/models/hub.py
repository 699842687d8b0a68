"""Our WebSub hub's tables: subscriptions, queued deliveries, distribution marks.

https://www.w3.org/TR/websub/ §5 (subscribing), §7 (content distribution).

- :class:`HubSubscription`: one (topic, callback) pair. ``ident`` is a hash of
  the canonical topic path and the callback, so a re-subscription finds its
  row (and a unique index over two 2 kB strings is not needed).
- :class:`HubDelivery`: queued outgoing requests — ``verify`` (verification of
  intent, §5.3), ``content`` (a POST of the feed's page 1, §7) and ``ping``
  (``hub.mode=publish`` to an external hub). Claimed by the poller processes
  with a lease (``claimed_until``), so each goes out once and a crashed
  worker's claim lapses; they survive restarts because they are rows.
- :class:`HubMark`: the last scope version distributed, per scope key, so
  several poller processes turn one scope change into one set of deliveries
  (a compare-and-set on this row decides who does it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from feedserver.models.base import Base, utcnow

URL_LENGTH = 2048
SUBSCRIPTION_STATES = ("pending", "active", "ended")
DELIVERY_KINDS = ("verify", "content", "ping")


class HubSubscription(Base):
    """A subscriber's callback for one of our feeds."""

    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ident: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(URL_LENGTH))  # as the subscriber spelled it
    path: Mapped[str] = mapped_column(String(URL_LENGTH))  # canonical feed path, page 1
    scope_key: Mapped[str] = mapped_column(String(64))
    callback: Mapped[str] = mapped_column(String(URL_LENGTH))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    secret: Mapped[str | None] = mapped_column(String(255))
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_delivery_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_websub_subscriptions_scope_state", "scope_key", "state"),)


class HubDelivery(Base):
    """One queued outgoing hub request (verify, content or ping)."""

    __tablename__ = "websub_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("websub_subscriptions.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(URL_LENGTH))  # callback, or the external hub
    topic: Mapped[str] = mapped_column(String(URL_LENGTH))
    mode: Mapped[str | None] = mapped_column(String(12))  # verify: subscribe | unsubscribe
    secret: Mapped[str | None] = mapped_column(String(255))  # verify: the requested secret
    lease_seconds: Mapped[int | None] = mapped_column(Integer)  # verify: the granted lease
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_websub_deliveries_due_at", "due_at"),
        Index("ix_websub_deliveries_subscription_kind", "subscription_id", "kind"),
    )


class HubMark(Base):
    """The scope version whose change was last turned into deliveries."""

    __tablename__ = "websub_marks"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
