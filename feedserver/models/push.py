"""Our WebSub subscriptions to upstream hubs (the subscriber side of §7).

One row per subscription we hold or are setting up or ending. A source has at
most one row it *wants* (``wanted == "subscribe"``); rows being unsubscribed
(the source was disabled or removed, or its feed moved to another hub or
topic) stay until the hub confirms or we give up, which is why ``source_id``
survives the source's deletion as NULL.

The callback URL's last segment is ``token`` (unguessable, per row), so the
callback endpoint finds its row without trusting anything else the hub sends.
``secret`` is the ``hub.secret`` we sent: it never leaves the database except
in that request, and is never logged or shown.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedserver.models.base import Base, utcnow

# What the API shows (INTERFACE §7): none | pending | active | denied | expired.
PUSH_STATES = ("none", "pending", "active", "denied", "expired")


class UpstreamSubscription(Base):
    """A subscription of ours at an upstream feed's WebSub hub."""

    __tablename__ = "upstream_subscriptions"
    __table_args__ = (Index("ix_upstream_subscriptions_state_backup", "state", "backup_poll_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    hub: Mapped[str] = mapped_column(String(2000))
    topic: Mapped[str] = mapped_column(String(2000))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    callback: Mapped[str | None] = mapped_column(String(2200))  # as sent to the hub
    secret: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="none")
    wanted: Mapped[str] = mapped_column(String(16), default="subscribe")
    # The mode of the request whose verification we await (None: none asked).
    pending_mode: Mapped[str | None] = mapped_column(String(16))
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    requested_at: Mapped[datetime | None] = mapped_column()
    # When the poller next has something to do for this row (send, re-send,
    # renew, give up); None: nothing until something changes.
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_push_at: Mapped[datetime | None] = mapped_column()
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    # While active: when the source's next back-up poll is due.
    backup_poll_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
