"""The hub's view of change: which feeds moved since we last looked, and what to send.

Each scope has a mark (the version we last distributed, a ``HubMark`` row);
:func:`changed_scopes` compares the marks with ``scope_versions``,
:func:`take_change` moves a mark forward exactly once across processes, and
:func:`enqueue_content` queues a ``content`` delivery for every active
subscriber of the feeds of that scope (:func:`enqueue_ping` for an external
hub). The rows themselves and their claiming are in
:mod:`feedserver.publishing.websub.store`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, exists, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from feedserver.models import HubDelivery, HubMark, HubSubscription, ScopeVersion, utcnow
from feedserver.models.base import upsert_insert
from feedserver.models.scopes import GLOBAL

log = logging.getLogger(__name__)


def ensure_mark(session: Session, key: str) -> None:
    """Start tracking a scope from its current version (no delivery for the past)."""
    if session.scalar(select(HubMark.version).where(HubMark.key == key)) is not None:
        return
    version = session.scalar(select(ScopeVersion.version).where(ScopeVersion.key == key)) or 0
    dialect = session.get_bind().dialect.name
    ins = upsert_insert(dialect)
    session.execute(
        ins(HubMark).values(key=key, version=version).on_conflict_do_nothing(),
        execution_options={"synchronize_session": False},
    )


def changed_scopes(session: Session, *, every_scope: bool) -> list[tuple[str, int, int | None]]:
    """(key, current version, marked version) of scopes changed since last distributed.

    Only scopes with active subscribers (and the global row) are looked at,
    unless ``every_scope`` (an external hub is pinged for every feed).
    """
    query = (
        select(ScopeVersion.key, ScopeVersion.version, HubMark.version)
        .outerjoin(HubMark, HubMark.key == ScopeVersion.key)
        .where(or_(HubMark.version.is_(None), HubMark.version != ScopeVersion.version))
    )
    if not every_scope:
        subscribed = select(HubSubscription.scope_key).where(HubSubscription.state == "active")
        query = query.where(
            HubMark.version.is_not(None),
            or_(ScopeVersion.key == GLOBAL, ScopeVersion.key.in_(subscribed)),
        )
    return [(key, version, mark) for key, version, mark in session.execute(query)]


def seed_marks(session: Session) -> bool:
    """Mark every scope as distributed, once (True if this call did it).

    When an external hub is first configured every scope would look new; the
    feeds did not change, so nothing is pinged for them.
    """
    if session.scalar(select(HubMark.version).where(HubMark.key == GLOBAL)) is not None:
        return False
    marked = set(session.scalars(select(HubMark.key)))
    rows = [
        {"key": key, "version": version}
        for key, version in session.execute(select(ScopeVersion.key, ScopeVersion.version))
        if key not in marked
    ]
    if rows:
        session.execute(insert(HubMark), rows)
    ensure_mark(session, GLOBAL)
    return True


def take_change(session: Session, key: str, version: int, marked: int | None) -> bool:
    """Compare-and-set the mark; True if this process is the one to distribute it."""
    if marked is None:
        dialect = session.get_bind().dialect.name
        ins = upsert_insert(dialect)
        stmt: Any = (
            ins(HubMark)
            .values(key=key, version=version)
            .on_conflict_do_nothing()
            .returning(HubMark.key)
        )
    else:
        stmt = (
            update(HubMark)
            .where(HubMark.key == key, HubMark.version == marked)
            .values(version=version)
            .returning(HubMark.key)
            .execution_options(synchronize_session=False)
        )
    # RETURNING, not rowcount: an INSERT's rowcount is not reliable on every driver.
    return session.execute(stmt).first() is not None


def enqueue_content(session: Session, key: str) -> int:
    """Queue a content delivery for every active subscriber of scope ``key`` (all, for global).

    A subscriber that already has one waiting (not being sent) gets no second
    one: it renders page 1 when it goes out, so it carries this change too.
    One waiting to be retried later (a callback that failed) is made due
    now: the change goes out within seconds (INTERFACE §7), and if the
    callback still fails, its back-off goes on from where it was.
    """
    now = utcnow()
    waiting = exists().where(
        HubDelivery.subscription_id == HubSubscription.id,
        HubDelivery.kind == "content",
        or_(HubDelivery.claimed_until.is_(None), HubDelivery.claimed_until < now),
    )
    # A lease that ended is over now, whether or not the sweep has marked it.
    live = or_(HubSubscription.expires_at.is_(None), HubSubscription.expires_at > now)
    subscribed = [HubSubscription.state == "active", live]
    if key != GLOBAL:
        subscribed.append(HubSubscription.scope_key == key)
    subscribers = select(HubSubscription.id).where(*subscribed)
    conditions = [*subscribed, ~waiting]
    session.execute(
        update(HubDelivery)
        .where(
            HubDelivery.kind == "content",
            HubDelivery.due_at > now,
            HubDelivery.claimed_until.is_(None) | (HubDelivery.claimed_until < now),
            HubDelivery.subscription_id.in_(subscribers),
        )
        .values(due_at=now)
        .execution_options(synchronize_session=False)
    )
    source = select(
        literal("content"),
        HubSubscription.id,
        HubSubscription.callback,
        HubSubscription.topic,
        literal(now, type_=HubDelivery.due_at.type),
        literal(0),
        literal(now, type_=HubDelivery.created_at.type),
    ).where(and_(*conditions))
    result = session.execute(
        insert(HubDelivery).from_select(
            ["kind", "subscription_id", "url", "topic", "due_at", "attempts", "created_at"],
            source,
        )
    )
    count = getattr(result, "rowcount", None)
    return int(count) if isinstance(count, int) and count >= 0 else 0


def enqueue_ping(session: Session, hub: str, topics: list[str]) -> None:
    """Queue a ``hub.mode=publish`` ping of the external hub for each topic not already queued."""
    now = utcnow()
    waiting = set(
        session.scalars(
            select(HubDelivery.topic).where(
                HubDelivery.kind == "ping",
                HubDelivery.topic.in_(topics),
                or_(HubDelivery.claimed_until.is_(None), HubDelivery.claimed_until < now),
            )
        )
    )
    for topic in topics:
        if topic not in waiting:
            session.add(
                HubDelivery(
                    kind="ping", url=hub, topic=topic, due_at=now, created_at=now, attempts=0
                )
            )
