"""Group commit: the fetched refreshes of many poller threads in one transaction.

SQLite has one writer, so a poll pass's stores queue on
:meth:`~feedserver.db.Database.write_lock`. Each store paid for a transaction
of its own: a session, the source's row read alone, its scope bumps, the ORM
flush and a commit that writes every touched page of the articles, their
indexes and the story index to the log again. A first poll stores a thousand
feeds that way.

:class:`GroupCommit` lets whichever thread holds the write lock write every
refresh waiting for it (up to :data:`MAX_BATCH`) in one transaction — the
sources read in one statement, one flush, one pair of scope-bump statements,
one commit — and hands each waiting thread its own outcome. Nothing is
shared but the transaction: each refresh is written by the same
:func:`~feedserver.aggregation.store.store_fetched` as alone.

One refresh never costs another: if the shared transaction fails (a slug
race, hostile entries meeting a bug, a database error), it is rolled back
as a whole and every refresh of the batch is written again alone through
:func:`~feedserver.aggregation.store.write_fetched`, with its usual retries;
a refresh that still fails gets its own exception, which its thread's error
boundary records as that source's failure.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import select

from feeds.upstream.fetch import FetchResult
from feedserver.aggregation.entries import Parsed
from feedserver.aggregation.jobs import Outcome, PollSettings, SourceJob
from feedserver.aggregation.store import StoreError, fetched_from, store_fetched, write_fetched
from feedserver.db import Database
from feedserver.models import Source
from feedserver.stories import grouping

log = logging.getLogger(__name__)

MAX_BATCH = 16  # refreshes per shared transaction


@dataclass(eq=False)
class _Waiting:
    """One thread's refresh, waiting to be written."""

    job: SourceJob
    result: FetchResult
    parsed: Parsed | None
    done: threading.Event = field(default_factory=threading.Event)
    # Its thread's story mode (grouping.deferred): whoever writes it keeps it.
    deferred: bool = field(default_factory=grouping.is_deferred)
    outcome: Outcome | None = None
    error: BaseException | None = None

    def finish(self, outcome: Outcome | None = None, error: BaseException | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.done.set()


class GroupCommit:
    """Write fetched refreshes of many threads together; each gets its own outcome.

    Call it as :func:`~feedserver.aggregation.store.write_fetched` is called:
    it returns that refresh's outcome or raises that refresh's exception.
    Only for a database with a write lock (SQLite); elsewhere writers
    already run at once.
    """

    def __init__(self, db: Database, settings: PollSettings, max_batch: int = MAX_BATCH) -> None:
        if not db.is_sqlite:
            raise ValueError("group commit is for SQLite's single writer")
        self.db = db
        self.settings = settings
        self.max_batch = max_batch
        self._waiting: deque[_Waiting] = deque()
        self._queue_lock = threading.Lock()
        self.batches = 0  # shared transactions committed (for tests and benchmarks)

    def __call__(self, job: SourceJob, result: FetchResult, parsed: Parsed | None) -> Outcome:
        mine = _Waiting(job, result, parsed)
        with self._queue_lock:
            self._waiting.append(mine)
        with self.db.write_lock():
            # Whoever held the lock before may have written ours already.
            while not mine.done.is_set():
                self._write(self._take())
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _take(self) -> list[_Waiting]:
        """The next refreshes to write: the first waiting, and those after it of its mode."""
        with self._queue_lock:
            batch = [self._waiting.popleft()]
            while (
                self._waiting
                and len(batch) < self.max_batch
                and self._waiting[0].deferred == batch[0].deferred
            ):
                batch.append(self._waiting.popleft())
            return batch

    def _write(self, batch: list[_Waiting]) -> None:
        """Write ``batch`` (under the write lock): together, else each alone."""
        try:
            with grouping.deferred(batch[0].deferred):
                if len(batch) > 1 and self._write_together(batch):
                    return
                for item in batch:
                    try:
                        outcome = write_fetched(
                            self.db, item.job, item.result, item.parsed, self.settings
                        )
                    except Exception as exc:  # its thread's error boundary records it
                        item.finish(error=exc)
                    else:
                        item.finish(outcome)
        finally:  # even on KeyboardInterrupt: no thread waits for a write that will not come
            for item in batch:
                if not item.done.is_set():
                    item.finish(error=StoreError(item.job.feed_url, "store interrupted"))

    def _write_together(self, batch: list[_Waiting]) -> bool:
        """One shared transaction; False (all rolled back) if it failed."""
        try:
            outcomes = self._together(batch)
        except Exception as exc:
            log.info(
                "shared store of %d refreshes failed (%s); storing each alone",
                len(batch), type(exc).__name__,
            )  # fmt: skip
            return False
        self.batches += 1
        for item, outcome in zip(batch, outcomes, strict=True):
            item.finish(outcome)
        return True

    def _together(self, batch: list[_Waiting]) -> list[Outcome]:
        """One transaction for every refresh of the batch; their outcomes, in order."""
        ids = [item.job.id for item in batch]
        with self.db.session() as session:
            sources = {s.id: s for s in session.scalars(select(Source).where(Source.id.in_(ids)))}
            outcomes = []
            for item in batch:
                source = sources.get(item.job.id)
                if not fetched_from(source, item.job):  # removed or moved while fetched
                    outcomes.append(Outcome(item.job.id, item.result.status))
                    continue
                outcomes.append(
                    store_fetched(session, source, item.result, item.parsed, self.settings)
                )
        return outcomes
