"""Our WebSub callback, ``/websub/callback/<token>`` (the web side of the subscriber).

- ``GET`` — verification of intent (WebSub §5.3,
  https://www.w3.org/TR/websub/#hub-verifies-intent): ``200`` with exactly
  ``hub.challenge`` (text/plain) only when the token is one of ours, the
  topic is the one that row subscribes to and the mode is one we asked for
  (a pending or held subscription for ``subscribe``; a retired one for
  ``unsubscribe``); ``404`` otherwise (websub.rocks subscriber test 205).
  ``hub.mode=denied`` (§5.2) for our topic is recorded and answered ``200``.
- ``POST`` — content distribution (§7, §8): the body is read raw, at most
  ``FEEDSERVER_FETCH_MAX_BYTES`` (``413`` beyond); ``X-Hub-Signature`` must be
  the HMAC of those exact bytes under our secret (sha1/256/384/512, compared
  in constant time by :func:`feeds.websub.verify_signature`). A wrong or
  missing one is answered ``202`` like a good one and the body is dropped
  (logged with the source id; §8: "MUST locally ignore the message", and the
  same answer gives a forger nothing to learn). A good one is parsed,
  sanitized, de-duplicated and attributed exactly as a poll would
  (:func:`feedserver.aggregation.entries.parse` then
  :func:`feedserver.aggregation.store.store_entries`) in the request, under
  the poller's write lock; at most ``PUSH_WORKERS`` pushes are processed at
  once per process, others wait up to ``PUSH_WAIT`` seconds and then get
  ``503`` with ``Retry-After`` (the hub retries). An unknown or retired token
  gets ``410 Gone``, which tells a hub to drop the subscription (§7).

CSRF-exempt: hubs post no forms of ours; the token in the path is the key.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from feeds.errors import FeedError
from feeds.websub import verify_signature
from feedserver.aggregation import entries
from feedserver.aggregation.store import Stored, again_on_conflict, store_entries
from feedserver.aggregation.websub import (
    DENIED_RETRY,
    VERIFY_WAIT,
    Sub,
    forget_unsubscribed,
    hold_source,
    renew_after,
    resume_polling,
    write_lock,
)
from feedserver.db import Database, get_db
from feedserver.errors import PayloadTooLarge, refuse_oversized_stream
from feedserver.models import Source, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("websub_callback", __name__)

TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
MAX_CHALLENGE = 1024
MAX_LEASE = 10 * 365 * 86400  # a hub's lease beyond this is nonsense; cap it
PUSH_WORKERS = 2
PUSH_WAIT = 20.0
_pushes = threading.BoundedSemaphore(PUSH_WORKERS)


def init_app(app: Flask) -> None:
    """Register the callback (CSRF-exempt)."""
    from feedserver.security import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)


def _text(body: str, status: int) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/websub/callback/<token>")
def verify(token: str) -> Response:
    """Answer a hub's verification of intent or denial."""
    args = request.args
    mode, topic = args.get("hub.mode", ""), args.get("hub.topic", "")
    if (
        not TOKEN.fullmatch(token)
        or not topic
        or mode not in ("subscribe", "unsubscribe", "denied")
    ):
        return _text("Not a request this subscriber made.\n", 404)
    db = get_db()
    now = utcnow()
    with write_lock(db), db.session() as session:
        row = session.scalar(select(Sub).where(Sub.token == token))
        if row is None or row.topic != topic:
            log.info("websub verification refused: unknown callback or topic mode=%s", mode)
            return _text("Not a request this subscriber made.\n", 404)
        if mode == "denied":
            reason = " ".join(args.get("hub.reason", "")[:300].split())
            log.warning("websub denied id=%s source_id=%s: %s", row.id, row.source_id, reason)
            if row.wanted == "unsubscribe":
                forget_unsubscribed(session, row)
            else:
                row.state = "denied"
                row.pending_mode = None
                row.expires_at = None
                row.last_error = f"hub denied the subscription: {reason or 'no reason given'}"
                row.next_attempt_at = now + DENIED_RETRY
                resume_polling(session, row, now)
            return _text("", 200)
        challenge = args.get("hub.challenge", "")
        if not challenge or len(challenge) > MAX_CHALLENGE:
            return _text("Not a request this subscriber made.\n", 404)
        if mode == "unsubscribe":
            if row.wanted != "unsubscribe":
                return _text("Not a request this subscriber made.\n", 404)
            log.info("websub unsubscribed id=%s source_id=%s", row.id, row.source_id)
            forget_unsubscribed(session, row)
            return _text(challenge, 200)
        # Asked: a request of ours waits for this, or one whose sending seemed
        # to fail (a time-out) went out lately. An active lease re-verified
        # out of the blue is not (WebSub §5.3): anyone who learnt the callback
        # could otherwise shorten it at will.
        late = (
            row.requested_at is not None
            and now - row.requested_at <= VERIFY_WAIT
            and (row.verified_at is None or row.verified_at < row.requested_at)
        )  # and not verified since: one request, one confirmation
        asked = row.pending_mode == "subscribe" or late
        if row.wanted != "subscribe" or not asked or row.source_id is None:
            return _text("Not a request this subscriber made.\n", 404)
        lease = _lease(args.get("hub.lease_seconds"))
        row.state = "active"
        row.pending_mode = None
        row.lease_seconds = lease
        row.verified_at = now
        row.expires_at = now + timedelta(seconds=lease)
        row.attempts = 0
        row.last_error = None
        row.next_attempt_at = now + timedelta(seconds=renew_after(lease))
        hold_source(session, row, now, int(current_app.config["WEBSUB_BACKUP_POLL"]))
        log.info("websub active id=%s source_id=%s lease=%s", row.id, row.source_id, lease)
    return _text(challenge, 200)


def _lease(raw: str | None) -> int:
    """The lease the hub granted (§5.3 hub.lease_seconds); what we asked for if absent."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 12:
        return max(1, min(MAX_LEASE, int(raw)))
    return int(current_app.config["WEBSUB_SUBSCRIBE_LEASE"])


def _gone(db: Database, sub_id: int) -> None:
    """A push to a subscription we are leaving, answered 410: that ends it at the hub.

    The hub then has no subscription left to verify our unsubscribe against
    (ours ends one on a 410, as §7 says), so it is forgotten here too, or it
    would wait for a verification that never comes.
    """
    with write_lock(db), db.session() as session:
        row = session.get(Sub, sub_id)
        if row is not None and row.wanted == "unsubscribe":
            log.info("websub push answered 410 while unsubscribing; forgotten id=%s", sub_id)
            forget_unsubscribed(session, row)


@bp.post("/websub/callback/<token>")
def receive(token: str) -> Response:
    """Take a content distribution: check its signature, then store it like a poll."""
    limit = int(current_app.config["FETCH_MAX_BYTES"])
    request.max_content_length = limit
    if not TOKEN.fullmatch(token):
        return _text("No such subscription.\n", 410)
    db = get_db()
    with db.session() as session:
        row = session.scalar(select(Sub).where(Sub.token == token))
        if row is None or row.wanted != "subscribe" or row.source_id is None:
            if row is not None and row.wanted == "unsubscribe":
                _gone(db, row.id)
            return _text("No such subscription.\n", 410)
        sub_id, source_id, secret, topic = row.id, row.source_id, row.secret, row.topic
    try:
        refuse_oversized_stream(limit)  # a chunked body: Werkzeug would cut it silently
        body = request.get_data(cache=True)
    except (RequestEntityTooLarge, PayloadTooLarge):
        log.warning("websub push over %d bytes refused source_id=%s", limit, source_id)
        return _text(f"Body over {limit} bytes.\n", 413)
    if not verify_signature(body, secret, request.headers.get("X-Hub-Signature")):
        log.warning(
            "websub push discarded: signature %s source_id=%s",
            "missing" if "X-Hub-Signature" not in request.headers else "wrong",
            source_id,
        )
        return _text("", 202)
    if not _pushes.acquire(timeout=PUSH_WAIT):
        response = _text("Busy; try again shortly.\n", 503)
        response.headers["Retry-After"] = "10"
        return response
    try:
        ingest(db, sub_id, source_id, body, topic, request.content_type)
    finally:
        _pushes.release()
    return _text("", 202)


def ingest(
    db: Database, sub_id: int, source_id: int, body: bytes, topic: str, content_type: str | None
) -> None:
    """Parse a verified push and store it through the poll's own store path."""
    now = utcnow()
    try:
        parsed = entries.parse(body, topic, content_type)
    except FeedError as exc:
        log.warning("websub push unreadable source_id=%s: %s", source_id, exc)
        return

    def write(careful: bool) -> Stored | None:
        with write_lock(db), db.session() as session:
            source = session.get(Source, source_id)
            row = session.get(Sub, sub_id)
            if source is None or not source.enabled or row is None:
                return None
            stored = store_entries(session, source, parsed, now=now, careful=careful)
            row.last_push_at = now
            row.pushes = (row.pushes or 0) + 1
            return stored

    try:  # a slug race with the poller is stored again, carefully; a deadlock, again
        stored = again_on_conflict(write, f"pushed source_id={source_id}")
    except IntegrityError:
        log.exception("websub push not stored source_id=%s", source_id)
        return
    if stored is not None:
        log.info(
            "websub push stored source_id=%s added=%d updated=%d",
            source_id, stored.added, stored.updated,
        )  # fmt: skip
