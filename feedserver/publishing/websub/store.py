"""The hub's rows: subscription requests, verification outcomes, the delivery queue.

WebSub §5.1 (subscriber sends a request), §5.3 (hub verifies intent), §7
(content distribution). The request handler only records an intent to
verify (a ``verify`` delivery) and answers 202; the poller processes send
it, and :func:`apply_verification` turns its outcome into state.

Claiming (:func:`claim`) is one short transaction: ``UPDATE … WHERE id IN
(SELECT … FOR UPDATE SKIP LOCKED)`` on PostgreSQL sets ``claimed_until``, so
other processes skip those rows; on SQLite, where one writer at a time is
the rule, the same UPDATE is atomic by itself and a process-level lock
serializes this process's writers.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from feedserver.models import HubDelivery, HubSubscription, utcnow
from feedserver.models.scopes import GLOBAL
from feedserver.publishing.websub.changes import ensure_mark
from feedserver.publishing.websub.topics import Topic

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=25)  # retries go on for at least 24 hours (§7 contract)
MAX_BACKOFF = 3600.0
FIRST_RETRY = 5.0  # the first retry comes within 10 seconds


def subscription_ident(path: str, callback: str) -> str:
    """The identity of a (topic, callback) pair: one row however often it subscribes."""
    return hashlib.sha256(f"{path}\n{callback}".encode()).hexdigest()


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1: the first retry)."""
    return min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF)


def request_intent(
    session: Session,
    *,
    mode: str,
    topic_url: str,
    topic: Topic,
    callback: str,
    lease_seconds: int,
    secret: str | None,
) -> int | None:
    """Record a (un)subscription request to verify; return the delivery id (None: nothing to do).

    A new pair gets a ``pending`` subscription row; an existing one keeps its
    state, lease and secret until the new intent is verified.
    """
    ident = subscription_ident(topic.path, callback)
    sub = session.scalar(select(HubSubscription).where(HubSubscription.ident == ident))
    if mode == "unsubscribe" and (sub is None or sub.state == "ended"):
        return None  # nothing to end; answering 202 reveals nothing either way
    if sub is None:
        sub = HubSubscription(
            ident=ident,
            topic=topic_url,
            path=topic.path,
            scope_key=topic.scope_key,
            callback=callback,
            state="pending",
            failures=0,
        )
        try:
            with session.begin_nested():
                session.add(sub)
                session.flush()
        except IntegrityError:  # a concurrent request created it first
            sub = session.scalars(
                select(HubSubscription).where(HubSubscription.ident == ident)
            ).one()
    now = utcnow()
    job = HubDelivery(
        kind="verify",
        subscription_id=sub.id,
        url=callback,
        topic=topic_url,
        mode=mode,
        secret=secret,
        lease_seconds=lease_seconds if mode == "subscribe" else None,
        due_at=now,
        created_at=now,
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job.id


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed delivery with what sending it needs."""

    id: int
    kind: str
    url: str
    topic: str
    mode: str | None
    lease_seconds: int | None
    secret: str | None  # verify: the requested one; content: the subscription's
    subscription_id: int | None
    path: str | None
    attempts: int
    created_at: datetime


def claim(session: Session, limit: int, lease: float, *, postgres: bool) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``lease`` seconds (commit right after)."""
    now = utcnow()
    # A pair's verifications go one at a time, in the order they were asked
    # for: an unsubscribe and the subscribe right after it were verified at
    # once, and whichever answer came last decided (§5.3: the latest request
    # is the subscriber's wish).
    earlier = aliased(HubDelivery)
    asked_before = (
        select(earlier.id)
        .where(
            earlier.kind == "verify",
            earlier.subscription_id == HubDelivery.subscription_id,
            earlier.id < HubDelivery.id,
        )
        .exists()
    )
    due = (
        select(HubDelivery.id)
        .where(
            HubDelivery.due_at <= now,
            or_(HubDelivery.claimed_until.is_(None), HubDelivery.claimed_until < now),
            or_(HubDelivery.kind != "verify", ~asked_before),
        )
        .order_by(HubDelivery.due_at, HubDelivery.id)
        .limit(limit)
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    ids = list(
        session.scalars(
            update(HubDelivery)
            .where(HubDelivery.id.in_(due.scalar_subquery()))
            .values(claimed_until=now + timedelta(seconds=lease))
            .returning(HubDelivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not ids:
        return []
    rows = session.execute(
        select(HubDelivery, HubSubscription.secret, HubSubscription.path)
        .outerjoin(HubSubscription, HubSubscription.id == HubDelivery.subscription_id)
        .where(HubDelivery.id.in_(ids))
    ).all()
    claimed = []
    for job, sub_secret, path in rows:
        claimed.append(
            Claimed(
                id=job.id,
                kind=job.kind,
                url=job.url,
                topic=job.topic,
                mode=job.mode,
                lease_seconds=job.lease_seconds,
                secret=job.secret if job.kind == "verify" else sub_secret,
                subscription_id=job.subscription_id,
                path=path,
                attempts=job.attempts,
                created_at=job.created_at,
            )
        )
    return sorted(claimed, key=lambda c: c.id)


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one claimed delivery."""

    job: Claimed
    ok: bool
    status: int | None = None
    error: str | None = None
    topic_gone: bool = False  # the subscribed feed answers 404/410: the subscription ends


def record_results(session: Session, results: list[Result]) -> None:
    """Write the outcomes of a batch of deliveries (one transaction).

    Successful content deliveries — the bulk of a fan-out — are written with
    two statements for the whole batch; the rest one by one.
    """
    now = utcnow()
    delivered = [r for r in results if r.job.kind == "content" and r.ok]
    if delivered:
        table: Any = HubSubscription.__table__  # Core: an executemany, not ORM bulk by key
        session.execute(
            table.update()
            .where(table.c.id == bindparam("sid"))
            .values(
                last_delivery_at=now,
                last_status=bindparam("status"),
                last_error=None,
                failures=0,
            ),
            [{"sid": r.job.subscription_id, "status": r.status} for r in delivered],
        )
        session.execute(
            delete(HubDelivery)
            .where(HubDelivery.id.in_([r.job.id for r in delivered]))
            .execution_options(synchronize_session=False)
        )
    wanted = {r.job.subscription_id for r in results if r.job.subscription_id}
    if wanted:  # load the rest's subscriptions in one query
        list(session.scalars(select(HubSubscription).where(HubSubscription.id.in_(wanted))))
    for result in results:
        job = result.job
        if job.kind == "verify":
            apply_verification(session, result, now)
            session.execute(delete(HubDelivery).where(HubDelivery.id == job.id))
        elif job.kind == "content":
            if not result.ok:
                _content_result(session, result, now)
        elif result.ok:  # a ping the external hub took
            session.execute(delete(HubDelivery).where(HubDelivery.id == job.id))
        else:
            _retry_or_drop(session, result, now)


def apply_verification(session: Session, result: Result, now: datetime) -> None:
    """§5.3: a verified intent takes effect; a refused one changes nothing (or drops a new pair)."""
    job = result.job
    sub = session.get(HubSubscription, job.subscription_id) if job.subscription_id else None
    if sub is None:
        return
    if not result.ok:
        log.info(
            "websub verify refused subscription_id=%s mode=%s status=%s error=%s",
            sub.id, job.mode, result.status, result.error,
        )  # fmt: skip
        newer = session.scalar(
            select(HubDelivery.id).where(
                HubDelivery.subscription_id == sub.id,
                HubDelivery.kind == "verify",
                HubDelivery.id != job.id,
            )
        )
        if sub.state == "pending" and newer is None:
            # Never confirmed: it never existed. Unless another intent for the
            # pair waits its own verification (a subscriber that refuses all
            # but its latest request would otherwise lose that one too).
            session.delete(sub)
        return
    if job.mode == "subscribe":
        lease = job.lease_seconds or 0
        sub.state = "active"
        sub.topic = job.topic
        sub.secret = job.secret
        sub.lease_seconds = lease
        sub.expires_at = now + timedelta(seconds=lease)
        sub.failures = 0
        ensure_mark(session, sub.scope_key)
        ensure_mark(session, GLOBAL)
        log.info("websub subscription active subscription_id=%s lease=%s", sub.id, lease)
    else:
        end(session, sub, now)
        log.info("websub subscription ended (unsubscribed) subscription_id=%s", sub.id)


def end(session: Session, sub: HubSubscription, now: datetime) -> None:
    """End a subscription: no more deliveries, secret forgotten."""
    sub.state = "ended"
    sub.secret = None
    sub.expires_at = min(sub.expires_at or now, now)
    session.execute(
        delete(HubDelivery).where(
            HubDelivery.subscription_id == sub.id, HubDelivery.kind == "content"
        )
    )


def _content_result(session: Session, result: Result, now: datetime) -> None:
    job = result.job
    sub = session.get(HubSubscription, job.subscription_id) if job.subscription_id else None
    if sub is None:
        session.execute(delete(HubDelivery).where(HubDelivery.id == job.id))
        return
    if result.topic_gone:  # nothing was sent: the subscribed feed is no more
        sub.last_error = (result.error or "the topic no longer exists")[:500]
        log.info("websub subscription ended (topic gone) subscription_id=%s", sub.id)
        end(session, sub, now)
        return
    sub.last_delivery_at = now
    sub.last_status = result.status
    sub.last_error = result.error[:500] if result.error else None
    if result.ok:
        sub.failures = 0
        session.execute(delete(HubDelivery).where(HubDelivery.id == job.id))
        return
    sub.failures += 1
    if result.status == 410:  # §7 contract: Gone ends the subscription
        log.info("websub subscription ended (410) subscription_id=%s", sub.id)
        end(session, sub, now)
        return
    _retry_or_drop(session, result, now)


def _retry_or_drop(session: Session, result: Result, now: datetime) -> None:
    job = result.job
    if now - job.created_at >= GIVE_UP_AFTER:
        log.warning(
            "websub giving up delivery_id=%s kind=%s after %s attempts",
            job.id, job.kind, job.attempts + 1,
        )  # fmt: skip
        session.execute(delete(HubDelivery).where(HubDelivery.id == job.id))
        return
    attempts = job.attempts + 1
    session.execute(
        update(HubDelivery)
        .where(HubDelivery.id == job.id)
        .values(
            attempts=attempts,
            due_at=now + timedelta(seconds=backoff(attempts)),
            claimed_until=None,
            last_error=(result.error or f"HTTP {result.status}")[:500],
        )
    )


def expire_leases(session: Session) -> int:
    """§5.3: a lease that ran out ends its subscription."""
    now = utcnow()
    ids = list(
        session.scalars(
            select(HubSubscription.id).where(
                HubSubscription.state == "active", HubSubscription.expires_at < now
            )
        )
    )
    if ids:
        session.execute(
            update(HubSubscription)
            .where(HubSubscription.id.in_(ids))
            .values(state="ended", secret=None)
        )
        session.execute(
            delete(HubDelivery).where(
                HubDelivery.subscription_id.in_(ids), HubDelivery.kind == "content"
            )
        )
        log.info("websub leases ended count=%d", len(ids))
    return len(ids)


# -- distribution: scope changes → deliveries ----------------------------------
