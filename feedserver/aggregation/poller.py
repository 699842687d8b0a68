"""Poll upstream sources: claim the due ones, refresh them concurrently.

Scaling out: any number of poller processes (``feedserver worker``) on any
number of machines share one PostgreSQL database. A source is *claimed* in a
short transaction — ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``
— that pushes its ``next_fetch_at`` one lease (``POLL_LEASE``) into the
future, so no other worker sees it as due; the fetch then happens outside any
lock, and the refresh writes the real next fetch time. A worker killed
mid-refresh leaves the source claimed until its lease ends; then another
worker refreshes it from scratch (the refresh is one transaction).

Within a process, a thread pool refreshes ``POLL_CONCURRENCY`` sources at once
through one shared :class:`feeds.upstream.fetch.Fetcher` (one connection pool, its own
per-host limit ``POLL_PER_HOST``). Sources are claimed four per thread at a
time and topped up at two, so claims stay few. Parsing is CPU work the GIL
serializes, so ``POLL_PARSE_PROCESSES`` extra processes parse while the
threads fetch and store; this process's interpreter is left to the fetches
and the writes. On SQLite the threads' writes share transactions (group
commit, :mod:`~feedserver.aggregation.store.group`). A plain 304 (the steady state) does no work
beyond its conditional GET: its health is written with up to
``UNCHANGED_BATCH`` others in one transaction (one executemany).

SQLite allows one writer: run one poller (the in-process one under ``make
run``, or one ``feedserver worker``); its writes are serialized by
:meth:`~feedserver.db.Database.write_lock`.

Nothing a refresh meets escapes it (:mod:`~feedserver.aggregation.refresh` is
one error boundary per source), and the pass guards itself once more: a
refresh that still raised is recorded as that source's failure, and a failed
batch of 304s is written row by row, so other sources' results are never lost.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import (
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update

from feeds.errors import FeedError, ParseError
from feeds.upstream.fastparse import plain_document
from feeds.upstream.fetch import FetchCancelled
from feedserver.aggregation import entries as upstream_entries
from feedserver.aggregation import refresh as aggregation
from feedserver.aggregation import store, websub
from feedserver.aggregation.entries import Parsed
from feedserver.aggregation.refresh import Outcome, PollSettings, SourceJob
from feedserver.aggregation.store.group import GroupCommit
from feedserver.db import Database, log_failure
from feedserver.models import Source, utcnow
from feedserver.ops.metrics import record_refresh
from feedserver.stories import grouping

if TYPE_CHECKING:  # the poller runs without importing Flask
    pass

if TYPE_CHECKING:
    from feeds.upstream.fetch import FetchResult

log = logging.getLogger(__name__)

EXTENSION = "feedserver.aggregation.poller"
PARSE_IN_PROCESS_BYTES = 4096  # smaller bodies parse faster than they travel to a process
# Seconds a parse process may spend on one document. A parser's worst case
# may be far from its usual one (feedparser's author search was quadratic:
# minutes for 120 kB); past this the processes are stopped and replaced, and
# the refresh ends in a recorded error, as any other unreadable document.
PARSE_TIME_LIMIT = 30.0
UNCHANGED_BATCH = 200  # 304s written together (one transaction, one executemany)
GC_YOUNG = 20_000  # allocations between young collections during a pass (CPython: 700)
GROUP_EVERY = 1.0  # seconds a stored article waits for story grouping, at most (§10: 5)
FOLLOW_EVERY = 1.0  # the worker's pass: seconds between looks for sources newly due
STOP_CHECK = 0.5  # seconds between a pass's looks for a stop while refreshes run
FOLLOW_FOR = 60.0  # ...for at most this long, so the pass ends and its chores run
T = TypeVar("T")


@dataclass
class PollStats:
    """Totals of one poll pass."""

    sources: int = 0
    added: int = 0
    updated: int = 0
    errors: int = 0
    not_modified: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.sources += 1
        self.added += outcome.added
        self.updated += outcome.updated
        self.errors += outcome.error is not None
        self.not_modified += outcome.status == 304


def job_host(job: SourceJob) -> str:
    """The host a job's first request goes to, as the fetcher's per-host limit names it."""
    try:
        return (urlsplit(job.feed_url).hostname or "").rstrip(".")
    except ValueError:
        return ""


class HostShares:
    """Claimed jobs held back while their host already has its share of the threads.

    A thread waiting for a host's turn (``POLL_PER_HOST``) does nothing else:
    24 sources on one host that never answers held every thread, and sources
    on other hosts waited minutes for them (found by a black-box audit). A
    host gets at most ``share`` threads at a time; its other jobs wait here,
    and one is handed out each time one of that host's refreshes ends.
    """

    def __init__(self, share: int) -> None:
        self.share = max(1, share)
        self._active: dict[str, int] = {}
        self._held: dict[str, deque[SourceJob]] = {}
        self.held = 0

    def admit(self, job: SourceJob) -> bool:
        """True: run it now; False: it is held until its host has a free share."""
        host = job_host(job)
        if self._active.get(host, 0) < self.share:
            self._active[host] = self._active.get(host, 0) + 1
            return True
        self._held.setdefault(host, deque()).append(job)
        self.held += 1
        return False

    def finished(self, job: SourceJob) -> SourceJob | None:
        """One of ``job``'s host's refreshes ended: the next one of that host to run, if any."""
        host = job_host(job)
        waiting = self._held.get(host)
        if waiting:
            self.held -= 1
            following = waiting.popleft()
            if not waiting:
                del self._held[host]
            return following
        left = self._active.get(host, 1) - 1
        if left > 0:
            self._active[host] = left
        else:
            self._active.pop(host, None)
        return None

    def drop_held(self) -> list[SourceJob]:
        """Every job still held (a stop: they are handed back, not run)."""
        jobs = [job for waiting in self._held.values() for job in waiting]
        self._held.clear()
        self.held = 0
        return jobs


def due_filter(cutoff: datetime) -> Any:
    return (
        Source.enabled.is_(True),
        Source.feed_url.is_not(None),
        or_(Source.next_fetch_at.is_(None), Source.next_fetch_at <= cutoff),
    )


def make_all_due(db: Database) -> int:
    """Make every enabled source with a feed URL due now (``poll --once --all``); how many.

    One UPDATE of the schedule column (no feed shows it, so no flush hook);
    the pass then claims them like any due source, so a worker running at
    the same time shares the work instead of fetching twice.
    """
    now = utcnow()
    stmt = (
        update(Source)
        .where(Source.enabled.is_(True), Source.feed_url.is_not(None))
        .values(next_fetch_at=now)
        .execution_options(synchronize_session=False)
    )
    with db.write_lock(), db.session() as session:
        return session.execute(stmt).rowcount  # type: ignore[attr-defined,no-any-return]  # an UPDATE gives a CursorResult


def count_due(db: Database, cutoff: datetime | None = None) -> int:
    """How many enabled sources are due now (for a progress bar)."""
    with db.session() as session:
        query = select(func.count(Source.id)).where(*due_filter(cutoff or utcnow()))
        return session.scalar(query) or 0


def claim(db: Database, limit: int, lease: int, cutoff: datetime | None = None) -> list[SourceJob]:
    """Claim up to ``limit`` due sources for this worker (one short transaction)."""
    now = utcnow()
    due = (
        select(Source.id)
        .where(*due_filter(cutoff or now))
        .order_by(Source.next_fetch_at.asc().nulls_first(), Source.id)
        .limit(limit)
    )
    if not db.is_sqlite:
        # Rows another worker is claiming right now are skipped, not waited for.
        due = due.with_for_update(skip_locked=True)
    # next_fetch_at feeds no feed, so this core UPDATE needs no flush hook.
    stmt = (
        update(Source)
        .where(Source.id.in_(due.scalar_subquery()))
        .values(next_fetch_at=now + timedelta(seconds=lease))
        .returning(
            Source.id,
            Source.feed_url,
            Source.etag,
            Source.last_modified,
            Source.poll_interval,
            Source.home_url,
            Source.last_success_at,
            Source.cache_seconds,
            Source.ttl_minutes,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )
    with db.write_lock(), db.session() as session:
        rows = session.execute(stmt).all()
    jobs = [
        SourceJob(
            row[0],
            row[1] or "",
            *row[2:6],
            row[6] is None,
            cache_seconds=row[7],
            ttl_minutes=row[8],
        )  # fmt: skip
        for row in rows
    ]
    return sorted(jobs, key=lambda job: job.id)


@dataclass(frozen=True, slots=True)
class NotStarted:
    """A refresh a stop cancelled before it asked anything of its upstream."""

    job: SourceJob


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A 304 fetched by a thread, its health written later in a batch."""

    job: SourceJob
    result: FetchResult


def _within_time(future: Future[T]) -> T:
    """The result of a parse process's work, allowed PARSE_TIME_LIMIT once it is under way.

    Time spent queued behind other parses does not count: the future turns
    "running" when it is handed to the processes (with at most one other call
    buffered ahead of it). Raises TimeoutError past the limit.
    """
    while not future.running() and not future.done():
        futures_wait([future], timeout=0.05)
    return future.result(timeout=PARSE_TIME_LIMIT)


class Poller:
    """One process's poller: a shared fetcher, a thread pool, maybe parse processes."""

    def __init__(
        self, db: Database, settings: PollSettings, *, parse_processes: int | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.fetcher = settings.fetcher()
        self.threads = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="poll")
        processes = settings.parse_processes if parse_processes is None else parse_processes
        self._processes = processes
        self.parsers: ProcessPoolExecutor | None = None
        if processes > 0:
            self.parsers = self._new_parsers(processes)
        self._inflight = 0
        # Every thread may queue its parse for the processes: the writer's
        # thread needs this process's interpreter (parsing here as well, when
        # one parse was already queued, left the second core idle half the
        # time: a first poll of 1,000 feeds without stories 17.5 → 11.6–15.1 s).
        self._inflight_limit = max(processes * 2, settings.concurrency)
        self._inflight_lock = threading.Lock()
        self._queued_since: float | None = None  # when the first ungrouped article was stored
        # Sources claimed and not yet finished, with when: what release() hands back.
        self._leased: dict[int, datetime] = {}
        self._leased_lock = threading.Lock()
        # SQLite's one writer: the threads' stores share transactions (group commit).
        self.writer = GroupCommit(db, settings) if db.is_sqlite else None

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.threads.shutdown(wait=True)
        if self.parsers is not None:
            self.parsers.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()

    def _offload(self, work: Callable[..., T], *args: Any) -> T:
        """Run CPU work in a parse process (queued behind others), else here.

        It runs here only when more threads than :attr:`_inflight_limit` want
        a process at once (more threads than the poll's concurrency).
        """
        if self.parsers is None:
            return work(*args)
        with self._inflight_lock:
            if self._inflight >= self._inflight_limit:
                offload = False
            else:
                offload = True
                self._inflight += 1
        if not offload:
            return work(*args)
        try:
            for attempt in (1, 2):
                parsers = self.parsers
                try:
                    return _within_time(parsers.submit(work, *args))
                except TimeoutError:  # concurrent.futures' is this one since 3.11
                    self._replace_parsers(parsers, stop=True)
                    raise ParseError(
                        str(args[1]) if len(args) > 1 else "document",
                        f"reading this document took more than {PARSE_TIME_LIMIT:g} s (stopped)",
                    ) from None
                except BrokenProcessPool:
                    # A parse process died (killed, out of memory, a crash in a
                    # parser). The pool is unusable from now on: replace it and
                    # try once more there — never here, where a document that
                    # crashes a parser would take the poller down with it.
                    self._replace_parsers(parsers)
                    if attempt == 2:
                        raise ParseError(
                            str(args[1]) if len(args) > 1 else "document",
                            "the parse process died twice while parsing this document",
                        ) from None
            raise AssertionError("unreachable")
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    def _replace_parsers(self, broken: ProcessPoolExecutor, *, stop: bool = False) -> None:
        """Start a new pool instead of ``broken``; ``stop``: end its processes first.

        A parse past its time cannot be cancelled, only its process ended;
        the other parses that pool held then fail as from a dead process, and
        are tried again in the new pool.
        """
        with self._inflight_lock:
            if self.parsers is not broken:  # another thread replaced it already
                return
            if stop:
                log.error("a parse ran past %g s; stopping the parse processes", PARSE_TIME_LIMIT)
                for process in list((getattr(broken, "_processes", None) or {}).values()):
                    process.terminate()
            else:
                log.error("a parse process died; starting a new pool of %d", self._processes)
            self.parsers = self._new_parsers(self._processes)
        broken.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _new_parsers(processes: int) -> ProcessPoolExecutor:
        # spawn: forking a process that runs threads and holds sockets is unsafe.
        return ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )

    def _parse(self, body: bytes, url: str, content_type: str | None) -> Parsed:
        # A document the fast parser takes (feeds.upstream.fastparse) parses in
        # about a millisecond, less than the trip to a process and back costs:
        # only feedparser's documents still pay for a parse process.
        if len(body) < PARSE_IN_PROCESS_BYTES or plain_document(body, content_type):
            return upstream_entries.parse(body, url, content_type)
        return self._offload(upstream_entries.parse, body, url, content_type)

    def _parser(self, job: SourceJob) -> aggregation.Parser:
        """How to parse this job's body: with its entries prepared on a first poll.

        A first poll's entries are all new, so they are sanitized with the
        parse — outside the write lock, in a parse process
        (worth its trip: preparing costs several times the parse) — and the
        store step only writes. Later polls prepare only new or changed
        entries, in the store step, after reading what is known.
        """
        if not job.first:
            return self._parse
        home, feed_url = job.home_url, job.feed_url

        def parse(body: bytes, url: str, content_type: str | None) -> Parsed:
            prepared = upstream_entries.parse_prepared
            if len(body) < PARSE_IN_PROCESS_BYTES:
                return prepared(body, url, content_type, home, feed_url)
            return self._offload(prepared, body, url, content_type, home, feed_url)

        return parse

    def refresh(self, job: SourceJob) -> Outcome:
        """Refresh one claimed source (in the calling thread)."""
        outcome = self.fetch_or_refresh(job)
        if isinstance(outcome, Unchanged):
            return store.store_unchanged(self.db, [(outcome.job, outcome.result)], self.settings)[0]
        return outcome

    def fetch_or_refresh(self, job: SourceJob) -> Outcome | Unchanged:
        """Fetch; a plain 304 comes back for a batched write, anything else is stored."""
        try:
            result = aggregation.fetch(self.fetcher, job)
        except FeedError as exc:
            return store.store_failure(self.db, job, exc, self.settings)
        if aggregation.unchanged(job, result):
            return Unchanged(job, result)
        parser = self._parser(job)
        return aggregation.complete(
            self.db, job, result, self.settings, parser=parser, writer=self.writer
        )

    def _guarded(self, job: SourceJob) -> Outcome | Unchanged | NotStarted:
        """fetch_or_refresh, and should anything still escape it, that source's failure.

        New articles are queued for story grouping, which the pass does in batches.
        """
        try:
            with grouping.deferred():
                return self.fetch_or_refresh(job)
        except FetchCancelled:  # a stop came while it waited for its host's turn
            return NotStarted(job)
        except Exception as exc:
            log.exception("refresh escaped its boundary source_id=%s", job.id)
            problem = store.StoreError(job.feed_url, aggregation.describe(exc))
            return store.store_failure(self.db, job, problem, self.settings)

    def _write_unchanged(self, batch: list[Unchanged]) -> list[Outcome]:
        items = [(u.job, u.result) for u in batch]
        try:
            return store.store_unchanged(self.db, items, self.settings)
        except Exception:  # the sources stay leased; the next pass after the lease retries
            log.exception("writing %d not-modified sources failed", len(items))
            return [
                Outcome(job.id, result.status, error="store: database error")
                for job, result in items
            ]

    def group_stories(self, *, wait: bool = True) -> int:
        """Group the queued articles (ours, or a crashed poller's); never raises.

        A batch per transaction, under the write lock; on failure they stay
        queued and the next call tries again. Without ``wait``, when another
        poller process is grouping (PostgreSQL), this one goes on polling and
        tries again in :data:`GROUP_EVERY`.
        """
        self._queued_since = None
        total = 0
        try:
            while True:
                with self.db.write_lock(), self.db.session() as session:
                    if not self.db.is_sqlite:
                        session.execute(store.REDOABLE)  # the queue is kept until it commits
                    done = grouping.group_queued(session, wait=wait)
                if done is None:  # another process is grouping: look again shortly
                    self._queued_since = time.monotonic()
                    return total
                count = done[0]
                total += count
                if count < grouping.QUEUE_BATCH:
                    return total
        except Exception as exc:
            log_failure(log, "grouping queued articles failed; they stay queued", exc)
            return total

    def release(self) -> int:
        """Make the sources whose refresh is still under way due again; how many were.

        For a stop that cannot wait for them (a slow upstream, a second
        Ctrl-C): they were claimed for the lease (FEEDSERVER_POLL_LEASE) and
        would wait it out; the next start fetches them at once instead. A
        source fetched since its claim keeps its own schedule. Never waits
        for a lock: a stop must not hang on one.
        """
        with self._leased_lock:
            leased, self._leased = self._leased, {}
        return self._release_leased(leased)

    def _hand_back(self, jobs: list[SourceJob]) -> int:
        """Make these claimed jobs, never started, due again at once (a stop)."""
        with self._leased_lock:
            leased = {job.id: self._leased.pop(job.id) for job in jobs if job.id in self._leased}
        return self._release_leased(leased)

    def _release_leased(self, leased: dict[int, datetime]) -> int:
        if not leased:
            return 0
        since = min(leased.values())
        statement = (
            update(Source)
            .where(
                Source.id.in_(sorted(leased)),
                or_(Source.last_fetch_at.is_(None), Source.last_fetch_at < since),
            )
            .values(next_fetch_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        try:
            self.db.write_now(statement)
        except Exception as exc:  # the lease still ends, as before
            log.warning("releasing %d sources cut at the stop failed: %s", len(leased), exc)
            return 0
        log.info("released %d sources cut at the stop; they are due again", len(leased))
        return len(leased)

    def _stories_queued(self) -> bool:
        try:
            with self.db.session() as session:
                return grouping.queued(session)
        except Exception as exc:
            log_failure(log, "reading the story queue failed", exc)
            return False

    def _grouping_wait(self) -> float | None:
        """Seconds until the queued articles must be grouped (None: none queued)."""
        if self._queued_since is None:
            return None
        return max(0.0, self._queued_since + GROUP_EVERY - time.monotonic())

    def poll_due(
        self,
        cutoff: datetime | None = None,
        *,
        progress: Callable[[Outcome], None] | None = None,
        stop: threading.Event | None = None,
        follow: bool = False,
    ) -> PollStats:
        """Refresh every source due at ``cutoff`` once; stop claiming when ``stop`` is set.

        Sources are claimed in batches of up to four per thread, topped up when
        fewer than two per thread run, so no thread idles and claims stay few;
        one host gets at most twice ``POLL_PER_HOST`` threads (:class:`HostShares`).
        ``follow`` (the worker): sources that come due while the pass runs are
        claimed too, looked for every second for up to a minute, instead of
        waiting for the slowest refresh of the pass to end.
        """
        with quiet_gc():
            return self._poll_due(cutoff, progress, stop, follow)

    def _poll_due(
        self,
        cutoff: datetime | None,
        progress: Callable[[Outcome], None] | None,
        stop: threading.Event | None,
        follow: bool = False,
    ) -> PollStats:
        cutoff = cutoff or utcnow()
        started = time.monotonic()
        stats = PollStats()
        window = self.settings.concurrency * 4
        refill = self.settings.concurrency * 2
        hosts = HostShares(self.settings.per_host * 2)
        # Finished refreshes arrive on a queue (concurrent.futures.wait would
        # hook into every pending future on each call).
        finished: queue.SimpleQueue[Future[Outcome | Unchanged | NotStarted]] = queue.SimpleQueue()
        jobs_of: dict[Future[Outcome | Unchanged | NotStarted], SourceJob] = {}
        stopped = False
        running = 0  # refreshes handed to the threads and not finished
        quiet: list[Unchanged] = []
        exhausted = False
        look_again = 0.0  # following: when to look for newly due sources
        if self._stories_queued():  # left by a poller that stopped before grouping them
            self.group_stories()

        def record(outcome: Outcome) -> None:
            with self._leased_lock:
                self._leased.pop(outcome.source_id, None)
            if outcome.added and self._queued_since is None:
                self._queued_since = time.monotonic()
            stats.add(outcome)
            record_refresh(outcome.status, outcome.added, outcome.updated, outcome.error)
            if progress is not None:
                progress(outcome)

        def start(job: SourceJob) -> None:
            future = self.threads.submit(self._guarded, job)
            jobs_of[future] = job
            future.add_done_callback(finished.put)

        while True:
            stopping = stop is not None and stop.is_set()
            if stopping and not stopped:
                # Only the refreshes under way finish: what was held, queued for a
                # thread or waiting for its host's turn is handed back, due at once.
                stopped = True
                self.fetcher.cancel_waiting()
                waiting = [job for future, job in jobs_of.items() if future.cancel()]
                self._hand_back(hosts.drop_held() + waiting)
            now = time.monotonic()
            following = follow and now >= look_again and now - started < FOLLOW_FOR
            if (
                (not exhausted or following)
                and not stopping
                and running < refill
                and hosts.held < window
            ):
                want = window - running
                claimed_at = utcnow()
                jobs = claim(self.db, want, self.settings.lease, claimed_at if follow else cutoff)
                exhausted = len(jobs) < want
                look_again = time.monotonic() + FOLLOW_EVERY
                with self._leased_lock:
                    self._leased.update((job.id, claimed_at) for job in jobs)
                for job in jobs:
                    if hosts.admit(job):
                        start(job)
                        running += 1
            if len(quiet) >= UNCHANGED_BATCH or (quiet and not running):
                for outcome in self._write_unchanged(quiet):
                    record(outcome)
                quiet = []
            if not running:  # nothing held either: a host's held jobs wait for its running ones
                if self._queued_since is not None:
                    self.group_stories()
                return stats
            wait = self._grouping_wait()
            if wait == 0:
                self.group_stories(wait=False)
                continue
            if follow and exhausted and time.monotonic() - started < FOLLOW_FOR:
                until_look = max(0.0, look_again - time.monotonic())
                wait = until_look if wait is None else min(wait, until_look)
            if stop is not None and not stopped:  # a stop is noticed within STOP_CHECK
                wait = STOP_CHECK if wait is None else min(wait, STOP_CHECK)
            try:
                done = [finished.get(timeout=wait)]
            except queue.Empty:
                continue  # time to group what is queued, or to look for due sources
            while True:  # take every refresh that finished meanwhile
                try:
                    done.append(finished.get_nowait())
                except queue.Empty:
                    break
            running -= len(done)
            for future in done:
                job = jobs_of.pop(future)
                if future.cancelled():  # handed back at the stop
                    continue
                after = hosts.finished(job)
                if after is not None:
                    if stopped:
                        self._hand_back([after])
                    else:
                        start(after)
                        running += 1
                result = future.result()
                if isinstance(result, NotStarted):
                    self._hand_back([result.job])
                elif isinstance(result, Unchanged):
                    quiet.append(result)
                else:
                    record(result)


PARENT_CHECK = 1.0  # seconds between a parse process's looks at its parent


def watch_parent(parent: int) -> None:
    """In a parse process: exit as soon as the poller that started it is gone.

    A poller killed outright (SIGKILL, a cron job's timeout, the OOM killer)
    never shuts its pool down; its parse process, and multiprocessing's
    resource tracker that waits on it, would live on under init.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(0)

    threading.Thread(target=watch, name="feedserver-parent-watch", daemon=True).start()


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Fewer cyclic-GC passes while polling (profile: 5–7 % of a first poll's CPU).

    A refresh allocates many short-lived objects (rows, entries, strings) and
    makes few cycles; CPython's default starts a young collection every 700
    allocations, and each one also walks the long-lived heap of imports and
    caches. This freezes what exists now (so it is not walked again) and
    collects young objects every :data:`GC_YOUNG` allocations; both are
    undone afterwards. Nesting is harmless (the outer setting is restored).
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(old[0], GC_YOUNG), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def poll_once(
    db: Database,
    settings: PollSettings | Mapping[str, Any],
    progress: Callable[[Outcome], None] | None = None,
) -> PollStats:
    """Refresh every source that is due now, once each."""
    if not isinstance(settings, PollSettings):
        settings = PollSettings.from_config(settings)
    with Poller(db, settings) as poller:
        stats = poller.poll_due(progress=progress)
    websub.maintain(db, settings)  # WebSub subscriber requests
    return stats
