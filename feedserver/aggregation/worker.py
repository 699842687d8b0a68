"""The poller as a long-running process: ``feedserver worker``, or a thread in the web process.

:class:`Worker` runs :class:`~feedserver.aggregation.poller.Poller` passes until
stopped (a first SIGTERM/SIGINT lets the refreshes under way finish), and between
passes does the upkeep a poller owns: WebSub subscriber requests, the hub's
deliveries and the purge of expired tombstones. :func:`start_in_process` runs one
inside the web process (``make run``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from feedserver.aggregation import websub
from feedserver.aggregation.poller import EXTENSION, Poller, due_filter
from feedserver.aggregation.refresh import PollSettings
from feedserver.content.deletion import purge_tombstones
from feedserver.db import Database, describe, get_db
from feedserver.models import Source, utcnow

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

TOMBSTONE_PURGE_EVERY = 3600.0  # seconds between purges of expired tombstones
IDLE_WAIT = 10.0  # longest sleep of an idle worker, seconds (new sources wait at most this)


def next_due_in(db: Database) -> float | None:
    """Seconds until the next enabled source is due (None: nothing to poll)."""
    with db.session() as session:
        soonest = session.scalar(
            select(func.min(Source.next_fetch_at)).where(
                Source.enabled.is_(True), Source.feed_url.is_not(None)
            )
        )
        if soonest is None:
            has_null = session.scalar(select(Source.id).where(*due_filter(utcnow())).limit(1))
            return 0.0 if has_null else None
    return max(0.0, (soonest - utcnow()).total_seconds())


class Worker:
    """Poll forever; a first SIGTERM/SIGINT finishes the refreshes under way, then stops."""

    def __init__(
        self,
        db: Database,
        settings: PollSettings,
        *,
        parse_processes: int | None = None,
        startup_delay: float = 0.0,
        tombstone_days: int = 30,
    ) -> None:
        self.db = db
        self.settings = settings
        self.parse_processes = parse_processes
        self.startup_delay = startup_delay
        self.tombstone_days = tombstone_days
        self.purged_at = 0.0  # time.monotonic() of the last tombstone purge
        self.stop_event = threading.Event()
        self.passes = 0
        self.poller: Poller | None = None  # while run() polls

    def install_signal_handlers(self) -> None:
        """Stop gracefully on the first SIGTERM/SIGINT, at once on the second."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_event.is_set():
            # A second Ctrl-C: now, not after the slowest fetch (up to
            # FEEDSERVER_FETCH_TIMEOUT). What was under way is due again for
            # the next start (release); nothing is half-written.
            log.warning("signal %s again: stopping now", signum)
            self.release()
            logging.shutdown()
            os._exit(128 + signum)
        log.info("signal %s: finishing the refreshes under way, then stopping", signum)
        self.stop_event.set()

    def stop(self) -> None:
        self.stop_event.set()

    def release(self) -> int:
        """Hand back the sources of refreshes still under way (see Poller.release)."""
        poller = self.poller
        return poller.release() if poller is not None else 0

    def run(self) -> None:
        """Poll until stopped."""
        if self.stop_event.wait(self.startup_delay):
            return
        log.info("poller started pid=%s concurrency=%s", os.getpid(), self.settings.concurrency)
        with Poller(self.db, self.settings, parse_processes=self.parse_processes) as poller:
            self.poller = poller
            while not self.stop_event.is_set():
                try:
                    stats = poller.poll_due(stop=self.stop_event, follow=True)
                    websub.maintain(self.db, self.settings)  # WebSub subscriber requests
                    self.passes += 1
                    if stats.sources:
                        log.info(
                            "poll pass sources=%d added=%d updated=%d errors=%d",
                            stats.sources, stats.added, stats.updated, stats.errors,
                        )  # fmt: skip
                    self.purge_tombstones()
                    wait_for = next_due_in(self.db)
                except OperationalError as exc:  # the database went away: one line a pass
                    log.warning("poll pass failed, database unavailable: %s", describe(exc))
                    wait_for = IDLE_WAIT
                except Exception:  # a bug: its traceback
                    log.exception("poll pass failed")
                    wait_for = IDLE_WAIT
                idle = IDLE_WAIT if wait_for is None else min(IDLE_WAIT, wait_for)
                self.stop_event.wait(max(idle, 0.5))
        log.info("poller stopped pid=%s", os.getpid())

    def purge_tombstones(self, every: float = TOMBSTONE_PURGE_EVERY) -> int:
        """Remove expired tombstones, at most once per ``every`` seconds.

        Housekeeping only: feed reads already leave expired tombstones out
        and purge them (publishing.tombstones); this keeps the table small.
        """
        now = time.monotonic()
        if self.purged_at and now - self.purged_at < every:
            return 0
        self.purged_at = now
        with self.db.session() as session:
            return purge_tombstones(session, utcnow(), self.tombstone_days)


def start_in_process(app: Flask) -> Worker | None:
    """Run a poller thread inside the web process (``make run``), once per app."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]  # type: ignore[no-any-return]  # Flask's extensions, g and generic lookups hold Any
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None  # the reloader's watcher process serves nothing: its child polls
    settings = PollSettings.from_config(app.config)
    # No parse processes inside a web server; a short delay so one-shot CLI
    # commands that build the app exit before the first pass.
    worker = Worker(
        get_db(app),
        settings,
        parse_processes=0,
        startup_delay=2.0,
        tombstone_days=app.config["TOMBSTONE_DAYS"],
    )
    thread = threading.Thread(target=worker.run, name="feedserver-poller", daemon=True)
    app.extensions[EXTENSION] = worker
    thread.start()
    return worker


def stop_in_process(app: Flask) -> None:
    """Stop the in-process poller, if any (``poll``/``worker`` commands run their own)."""
    worker = app.extensions.pop(EXTENSION, None)
    if worker is not None:
        worker.stop()
