"""The WebSub subscriber (INTERFACE §7 "Subscriber"; https://www.w3.org/TR/websub/).

Three moments, three places:

1. **Discovery** — :func:`note_advertised`, called by the refresh for every
   fetched (200) feed, in the refresh's transaction: the hub and topic the
   feed advertises (:func:`feeds.upstream.hubs.advertised`: Link headers
   first, then the document) are recorded as the source's wanted
   subscription. A different hub or topic retires the old row (it will be
   unsubscribed) and starts a new one; a feed that stops naming a hub is
   unsubscribed.
2. **Requests** — :func:`maintain`, run by the poller after each pass (never
   in a web request): sends subscribe requests (when ``FEEDSERVER_BASE_URL``
   is set), renews leases at 80 % of their length, unsubscribes rows whose
   source was disabled or removed, marks lapsed leases ``expired`` and keeps
   subscribed sources on the back-up schedule. Rows are claimed like
   sources (``next_attempt_at`` moved ahead, ``SKIP LOCKED`` on PostgreSQL),
   so several poller processes never send the same request twice at once.
   The row is committed as pending *before* the request goes out, because a
   hub may verify before it even answers (websub.rocks does).
3. **Callbacks** — :mod:`feedserver.aggregation.websub_callback` (the web
   side): verification of intent, denials and content distribution.

Back-up polling: while a subscription is active its source's
``next_fetch_at`` is held at ``backup_poll_at`` (at most every
``FEEDSERVER_WEBSUB_BACKUP_POLL`` seconds, never past the lease's end); a
normal refresh that reschedules it sooner is put back on the next pass.
When the lease lapses or the hub denies, the source is due at once and
polled normally again. The poller's claim query needs no change.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from feeds.errors import FeedError
from feeds.model import UpstreamFeed
from feeds.upstream.fetch import FetchResult
from feeds.upstream.hubs import HubClient, advertised
from feedserver.aggregation.refresh import PollSettings
from feedserver.db import Database
from feedserver.models import Source, UpstreamSubscription, utcnow

log = logging.getLogger(__name__)

Sub = UpstreamSubscription
CALLBACK_PATH = "/websub/callback/"
VERIFY_WAIT = timedelta(hours=1)  # re-send a request whose verification never came
RETRY_BASE = 60  # seconds; doubled per failed request, up to RETRY_MAX
RETRY_MAX = 6 * 3600
DENIED_RETRY = timedelta(days=7)  # ask a hub that denied us again after this long
UNSUBSCRIBE_TRIES = 5  # then the lease is left to lapse
MIN_RENEW = 60  # seconds: never renew more often than this


def renew_after(lease: int) -> int:
    """Seconds from a granted lease to its renewal: at 80 % of it, and always before it ends.

    Not more often than every :data:`MIN_RENEW` seconds, unless the hub grants
    leases shorter than twice that (a 60-second lease renewed at 60 s lapsed
    before the next pass renewed it).
    """
    return max(1, min(MIN_RENEW, lease // 2), int(lease * 0.8))


CLAIM_LEASE = timedelta(minutes=5)
BATCH = 50  # requests one pass sends at most
REQUEST_TIMEOUT = 10.0


def write_lock(db: Database) -> Any:
    """The same write serialization the poller uses (one writer on SQLite)."""
    return db.write_lock()


def callback_url(base_url: str, token: str) -> str:
    """Our callback for one subscription: unguessable (256 random bits), unique per row."""
    return f"{base_url.rstrip('/')}{CALLBACK_PATH}{token}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_urlsafe(48)  # 64 characters: far under §5.1's 200 bytes


_SUBS: Table = Sub.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_WANTS_ONE = (
    select(_SUBS.c.id)
    .where(_SUBS.c.source_id == bindparam("source_id"), _SUBS.c.wanted == "subscribe")
    .limit(1)
)


def wanted_row(session: Session, source_id: int) -> UpstreamSubscription | None:
    """The subscription a source wants (at most one), or None."""
    return session.scalar(
        select(Sub).where(Sub.source_id == source_id, Sub.wanted == "subscribe").limit(1)
    )


# -- 1. discovery --------------------------------------------------------------


def note_advertised(
    session: Session, source: Source, result: FetchResult, feed: UpstreamFeed | None
) -> None:
    """Record the hub and topic a freshly fetched feed advertises (in the caller's transaction)."""
    found = advertised(result.links, result.final_url, feed)
    if found is None:
        # Most feeds advertise no hub and want no subscription: one prepared
        # query on the connection tells (no ORM query, no flush per refresh).
        conn = session.connection()
        if conn.execute(_WANTS_ONE, {"source_id": source.id}).first() is None:
            return
    row = wanted_row(session, source.id)
    if row is not None and found is not None and (row.hub, row.topic) == (found.hub, found.topic):
        return
    if row is not None:
        retire(row, "the feed advertises another hub or topic" if found else "no hub advertised")
    if found is None:
        return
    session.add(
        Sub(
            source_id=source.id,
            hub=found.hub,
            topic=found.topic,
            token=new_token(),
            secret=new_secret(),
            state="none",
            wanted="subscribe",
            attempts=0,
            pushes=0,
            next_attempt_at=utcnow(),
        )
    )
    log.info("websub hub advertised source_id=%s hub=%s", source.id, found.hub)


def retire(row: UpstreamSubscription, why: str) -> None:
    """Stop wanting a subscription: the poller unsubscribes (or just forgets) it."""
    if row.wanted != "unsubscribe":
        log.info("websub retiring subscription id=%s source_id=%s: %s", row.id, row.source_id, why)
    row.wanted = "unsubscribe"
    row.attempts = 0
    row.next_attempt_at = utcnow()


# -- what the API and the admin show ------------------------------------------


def push_json(row: UpstreamSubscription | None) -> dict[str, Any]:
    """The source's ``websub`` object: hub, state, expires_at, last_push_at, last_error.

    ``last_error``: why the last request to the hub failed (refused address,
    HTTP error), while it is retried with back-off; None once one succeeds.
    """
    from feedserver.api.common import rfc3339

    if row is None:
        return {
            "hub": None, "state": "none", "expires_at": None, "last_push_at": None,
            "last_error": None,
        }  # fmt: skip
    return {
        "hub": row.hub,
        "state": row.state,
        "expires_at": rfc3339(row.expires_at),
        "last_push_at": rfc3339(row.last_push_at),
        "last_error": row.last_error,
    }


def wanted_rows(session: Session, source_ids: list[int]) -> dict[int, UpstreamSubscription]:
    """{source id: wanted subscription} for many sources in one query."""
    if not source_ids:
        return {}
    rows = session.scalars(
        select(Sub).where(Sub.source_id.in_(source_ids), Sub.wanted == "subscribe")
    )
    return {row.source_id: row for row in rows if row.source_id is not None}


# -- 2. the poller's part --------------------------------------------------------


@dataclass
class Upkeep:
    """What one :func:`maintain` pass did."""

    requests: int = 0
    failures: int = 0
    expired: int = 0
    forgotten: int = 0


def maintain(db: Database, settings: PollSettings, *, client: HubClient | None = None) -> Upkeep:
    """Send due (un)subscription requests, expire leases, keep back-up schedules."""
    stats = Upkeep()
    now = utcnow()
    with write_lock(db), db.session() as session:
        stats.expired = _expire(session, now)
        _retire_orphans(session)
        _hold_backup_schedule(session, now, settings.websub_backup_poll)
    due = _claim(db, utcnow(), subscribing=bool(settings.base_url))  # incl. just retired
    if not due:
        return stats
    own = client is None
    client = client or HubClient(allowlist=settings.allowlist, timeout=REQUEST_TIMEOUT)
    try:
        for row_id in due:
            try:
                outcome = _act(db, client, settings, row_id)
            except Exception:  # one bad row must not stop the others
                log.exception("websub request failed id=%s", row_id)
                outcome = "failed"
            stats.requests += outcome in ("sent", "failed")
            stats.failures += outcome == "failed"
            stats.forgotten += outcome == "forgotten"
    finally:
        if own:
            client.close()
    return stats


def _expire(session: Session, now: datetime) -> int:
    """Active subscriptions whose lease ran out: expired, and normal polling resumes."""
    rows = list(session.scalars(select(Sub).where(Sub.state == "active", Sub.expires_at <= now)))
    for row in rows:
        row.state = "expired"
        row.backup_poll_at = None
        log.info("websub lease lapsed id=%s source_id=%s", row.id, row.source_id)
        resume_polling(session, row, now)
    return len(rows)


def _retire_orphans(session: Session) -> None:
    """Rows still wanted whose source was removed (source_id NULL) or disabled."""
    rows = session.scalars(
        select(Sub)
        .outerjoin(Source, Sub.source_id == Source.id)
        .where(
            Sub.wanted == "subscribe",
            or_(Sub.source_id.is_(None), Source.enabled.is_(False), Source.feed_url.is_(None)),
        )
    )
    for row in rows:
        retire(row, "source removed or disabled")


def _hold_backup_schedule(session: Session, now: datetime, backup: int) -> None:
    """Keep actively subscribed sources on the back-up poll schedule."""
    interval = timedelta(seconds=backup)
    # A back-up poll that has happened moves the next one a full interval on.
    polled = session.execute(
        select(Sub, Source.last_fetch_at)
        .join(Source, Sub.source_id == Source.id)
        .where(Sub.state == "active", Sub.backup_poll_at <= now)
    ).all()
    for row, last_fetch in polled:
        if last_fetch is not None and row.backup_poll_at and last_fetch >= row.backup_poll_at:
            row.backup_poll_at = _backup_at(row, last_fetch, interval)
    # A refresh (or a re-enable) scheduled the source sooner: put it back.
    early = session.execute(
        select(Sub, Source)
        .join(Source, Sub.source_id == Source.id)
        .where(
            Sub.state == "active",
            Sub.backup_poll_at > now,
            or_(Source.next_fetch_at.is_(None), Source.next_fetch_at < Sub.backup_poll_at),
        )
    ).all()
    for row, source in early:
        source.next_fetch_at = row.backup_poll_at


def _backup_at(row: UpstreamSubscription, since: datetime, interval: timedelta) -> datetime:
    moment = since + interval
    return min(moment, row.expires_at) if row.expires_at else moment


def hold_source(session: Session, row: UpstreamSubscription, now: datetime, backup: int) -> None:
    """A subscription just became active: the source waits for its back-up poll."""
    row.backup_poll_at = _backup_at(row, now, timedelta(seconds=backup))
    source = session.get(Source, row.source_id) if row.source_id else None
    if source is not None and (
        source.next_fetch_at is None or source.next_fetch_at < row.backup_poll_at
    ):
        source.next_fetch_at = row.backup_poll_at


def resume_polling(session: Session, row: UpstreamSubscription, now: datetime) -> None:
    """Push stopped (lapsed, denied): poll the source normally, starting now."""
    row.backup_poll_at = None
    if row.source_id is not None:
        session.execute(
            update(Source)
            .where(Source.id == row.source_id, Source.enabled.is_(True))
            .where(or_(Source.next_fetch_at.is_(None), Source.next_fetch_at > now))
            .values(next_fetch_at=now)
            .execution_options(synchronize_session=False)
        )


def _claim(db: Database, now: datetime, *, subscribing: bool) -> list[int]:
    """Claim up to BATCH rows with something due (one short transaction)."""
    due = select(Sub.id).where(Sub.next_attempt_at <= now)
    if not subscribing:  # without a base URL only goodbyes can be said
        due = due.where(Sub.wanted == "unsubscribe")
    due = due.order_by(Sub.next_attempt_at, Sub.id).limit(BATCH)
    if not db.is_sqlite:
        due = due.with_for_update(skip_locked=True)
    with write_lock(db), db.session() as session:
        ids = list(session.scalars(due))
        if ids:
            session.execute(
                update(Sub)
                .where(Sub.id.in_(ids))
                .values(next_attempt_at=now + CLAIM_LEASE)
                .execution_options(synchronize_session=False)
            )
    return ids


def _act(db: Database, client: HubClient, settings: PollSettings, row_id: int) -> str:
    """Do what one claimed row needs: subscribe, renew, unsubscribe or forget."""
    now = utcnow()
    with write_lock(db), db.session() as session:
        row = session.get(Sub, row_id)
        if row is None:
            return "gone"
        if row.wanted == "unsubscribe":
            live = row.state == "active" and row.expires_at is not None and row.expires_at > now
            if not live or row.attempts >= UNSUBSCRIBE_TRIES or not row.callback:
                session.delete(row)  # nothing (more) to undo at the hub: forget it
                return "forgotten"
            mode = "unsubscribe"
            form = {"hub.mode": mode, "hub.topic": row.topic, "hub.callback": row.callback}
        else:
            mode = "subscribe"
            if row.state in ("denied", "expired"):
                # Asking again after the hub said no (or the lease ran out): a
                # new unguessable callback and a fresh secret, as for a first
                # request; a renewal of a live lease keeps both (pushes in flight
                # are signed with the secret the hub holds).
                row.token, row.secret = new_token(), new_secret()
            row.callback = callback_url(settings.base_url, row.token)
            if row.state != "active":
                row.state = "pending"
            form = {
                "hub.mode": mode,
                "hub.topic": row.topic,
                "hub.callback": row.callback,
                "hub.secret": row.secret,
                "hub.lease_seconds": str(settings.websub_lease),
            }
        row.pending_mode = mode
        row.requested_at = now
        row.next_attempt_at = now + VERIFY_WAIT
        row.attempts += 1
        hub, source_id, attempts = row.hub, row.source_id, row.attempts
    # The request goes out after the commit: the hub may verify before answering.
    try:
        answer = client.request(hub, form)
        error = None if answer.accepted else f"hub {hub}: HTTP {answer.status} {answer.reason}"
    except FeedError as exc:
        error = str(exc)
    with write_lock(db), db.session() as session:
        row = session.get(Sub, row_id)
        if row is None or row.requested_at != now:
            return "sent"  # verified (and maybe ended) meanwhile
        if error is None:
            if mode == "subscribe" and row.pending_mode == mode:
                row.last_error = None
            log.info("websub %s requested id=%s source_id=%s", mode, row_id, source_id)
            return "sent"
        row.last_error = error[:2000]
        if row.pending_mode == mode:
            row.pending_mode = None
            delay = min(RETRY_MAX, RETRY_BASE * 2 ** min(attempts - 1, 16))
            row.next_attempt_at = now + timedelta(seconds=delay)
    log.warning("websub %s failed id=%s source_id=%s: %s", mode, row_id, source_id, error)
    return "failed"


def forget_unsubscribed(session: Session, row: UpstreamSubscription) -> None:
    """The hub confirmed our unsubscribe (or denied a retired row): drop the row."""
    session.execute(delete(Sub).where(Sub.id == row.id))
