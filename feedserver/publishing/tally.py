"""Per-process counters of feed requests, flushed to the database in batches.

A feed hit must stay a dictionary update, so nothing here touches the
database on the request path: :meth:`Tally.record` adds to in-memory dicts
under a lock held for a few dict operations, and a background thread (started
lazily, in the process that serves — after a pre-fork server has forked)
hands what accumulated to :func:`feedserver.publishing.statsdb.write_batch`
every ``STATS_FLUSH_SECONDS`` (5 s by default), and once more at exit. With
the API's read that keeps ``GET /api/stats/feeds`` within 10 seconds of the
requests (INTERFACE §9); the API also flushes its own process first.

Clients are named by a keyed BLAKE2 hash of address and user agent (the key
derived from the app's secret), computed on the request path so no address
is kept, even in memory, past the request.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import Any

from feedserver.db import Database, log_failure
from feedserver.publishing import statsdb
from feedserver.publishing.readers import MAX_UA, Report, parse_user_agent

log = logging.getLogger(__name__)

MAX_PENDING_CLIENTS = 200_000  # per flush interval; beyond it new clients wait for the next
MAX_SERVICES_PER_FEED = 64  # reader services (× feed ids) believed per feed, per process
MAX_PARSED = 8192  # user agents whose parse is remembered
REWRITE_AFTER = 600.0  # seconds before a client already written is written again
MAX_WRITTEN = 500_000
PRUNE_EVERY = 3600.0
MAX_AGENTS_PER_ADDRESS = 16  # user agents of one address counted as clients of their own
MAX_ADDRESSES = 100_000  # addresses whose agents are remembered (then forgotten at once)
MANY_AGENTS = "\x00many agents"  # what an address's further agents count as (no real UA)
MAX_NAMED = 65_536  # (address, user agent) pairs whose client name is remembered


class Tally:
    """Counts feed requests and subscribers in memory; flushes them in batches."""

    def __init__(self, db: Database, secret: str, flush_seconds: float = 5.0) -> None:
        self.db = db
        # 0: no background flusher (tests); the API still flushes its own process.
        self.flush_seconds = max(0.0, float(flush_seconds))
        key = hashlib.blake2b(b"feedserver feed clients\x00" + secret.encode()).digest()[:32]
        # Keyed once; each request hashes with a copy (half the cost of keying anew).
        self._hasher = hashlib.blake2b(digest_size=16, key=key)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._batch = statsdb.Batch()
        self._parsed: dict[str, Report | None] = {}
        self._services: dict[str, set[tuple[str, str]]] = {}
        self._written: dict[tuple[str, str], float] = {}
        # An address's keyed hash → its user agents (bounded: see client()).
        self._agents: dict[tuple[int, bytes], set[str]] = {}
        # hash((address, user agent)) → its client name, so a poller's next
        # request skips the keyed hash; forgotten with _agents (its admissions).
        self._named: dict[int, str] = {}
        self._started = False  # this process's flusher runs (reset in a forked child)
        self._last_prune = 0.0
        self._closed = False
        self.dropped = 0

    # ------------------------------------------------------------ request path

    def client(self, address: str, user_agent: str, seen: int | None = None) -> str:
        """Return the keyed hash that names a client (address + user agent) — never the address.

        One address counts as at most :data:`MAX_AGENTS_PER_ADDRESS` clients
        per :data:`PRUNE_EVERY`: the user agent is anyone's to choose, and a
        new one on every request would add a subscriber (and a row) each time.
        Past that, its new agents are one client more, "many agents".
        ``seen``: :meth:`visitor` of the same pair, when the caller has it.
        """
        memo = self.visitor(address, user_agent) if seen is None else seen
        name = self._named.get(memo)
        if name is not None:
            return name
        agent = user_agent[:MAX_UA]
        if self.report(user_agent) is None:
            agent = self._allowed(address, agent, b"\x00", MAX_AGENTS_PER_ADDRESS)
        else:  # reader services' reports: those a feed believes are counted apart
            limit = MAX_SERVICES_PER_FEED + MAX_AGENTS_PER_ADDRESS
            agent = self._allowed(address, agent, b"\x01", limit)
        h = self._hasher.copy()
        h.update(f"{address}\x00{agent}".encode("utf-8", "replace"))
        name = h.hexdigest()
        if len(self._named) >= MAX_NAMED:
            self._named.clear()
        self._named[memo] = name
        return name

    @staticmethod
    def visitor(address: str, user_agent: str) -> int:
        """This process's key of a client (address + user agent), exactly as sent.

        It keys the polite-polling rows and :meth:`client`'s memo. Unlike
        :meth:`client`, it never merges an address's many agents: readers
        behind one NAT or proxy are each their own client there (INTERFACE §9),
        whatever their count in the statistics. Python's string hash is keyed
        per process, so no address is kept.
        """
        return hash((address, user_agent))

    def _allowed(self, address: str, agent: str, kind: bytes, limit: int) -> str:
        """``agent``, or :data:`MANY_AGENTS` once its address has used up ``limit`` agents."""
        # Python's string hash is keyed per process (SipHash): like the
        # clients' keyed BLAKE2, no address is kept, and it costs nothing.
        origin = (hash(address), kind)
        agents = self._agents.get(origin)
        if agents is None:
            if len(self._agents) >= MAX_ADDRESSES:
                self._forget_agents()
            agents = self._agents[origin] = set()
        return agent if _admit(agents, agent, limit) else MANY_AGENTS

    def report(self, user_agent: str) -> Report | None:
        """Parse a user agent once; remember the answer for the next request."""
        try:
            return self._parsed[user_agent]
        except KeyError:
            pass
        found = parse_user_agent(user_agent)
        if len(self._parsed) >= MAX_PARSED:
            self._parsed.clear()
        self._parsed[user_agent] = found
        return found

    def record(
        self,
        path: str,
        status: int,
        size: int,
        report: Report | None,
        client: str,
        now: float,
    ) -> None:
        """Count one answered feed request."""
        if not self._started:
            self._start()
        hour = int(now // 3600)
        nm = 1 if status == 304 else 0
        with self._lock:
            batch = self._batch
            counters = batch.traffic.get((path, hour))
            if counters is None:
                batch.traffic[(path, hour)] = [1, nm, size]
            else:
                counters[0] += 1
                counters[1] += nm
                counters[2] += size
            if report is not None and self._believe(path, report):
                batch.reports[(path, report.service, report.feed_id)] = (report.subscribers, now)
                return
            written = self._written.get((path, client))
            if written is not None and now - written < REWRITE_AFTER:
                return
            if len(batch.clients) < MAX_PENDING_CLIENTS:
                batch.clients[(path, client)] = now
            else:
                self.dropped += 1

    def _believe(self, path: str, report: Report) -> bool:
        """Keep at most MAX_SERVICES_PER_FEED reporting services per feed (a hostile bound)."""
        known = self._services.setdefault(path, set())
        return _admit(known, (report.service, report.feed_id), MAX_SERVICES_PER_FEED)

    # ------------------------------------------------------------ flushing

    def _start(self) -> None:
        """Start this process's flusher (again after a fork: the parent flushes its own)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forked(ref))
            if not self.flush_seconds or self._closed:
                return
            thread = threading.Thread(
                target=_flush_forever,
                args=(ref, self.flush_seconds),
                name="feed-stats",
                daemon=True,
            )
            thread.start()
            atexit.register(_flush_at_exit, ref)

    def close(self) -> None:
        """Stop flushing and forget what is pending (the app is going away)."""
        self._closed = True
        with self._lock:
            self._batch = statsdb.Batch()

    def flush(self) -> int:
        """Write what accumulated; return the number of rows handed to the database."""
        with self._flush_lock:
            with self._lock:
                batch, self._batch = self._batch, statsdb.Batch()
            if not batch:
                self._maybe_prune()
                return 0
            now = datetime.now(UTC)
            try:
                statsdb.write_batch(self.db, batch, now)
            except Exception as exc:
                kept = len(batch.traffic)
                log_failure(log, "feed stats: flush failed, keeping %d feed-hours", exc, kept)
                with self._lock:
                    if len(self._batch.clients) + len(batch.clients) <= MAX_PENDING_CLIENTS:
                        batch.merge(self._batch)
                        self._batch = batch
                return 0
            stamp = time.time()
            if len(self._written) > MAX_WRITTEN:
                self._written.clear()
            for key, seen in batch.clients.items():
                self._written[key] = seen
            self._maybe_prune(stamp)
            return len(batch.traffic) + len(batch.clients) + len(batch.reports)

    def _maybe_prune(self, stamp: float | None = None) -> None:
        stamp = time.time() if stamp is None else stamp
        if stamp - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = stamp
        self._forget_agents()  # each address starts again with its allowance
        try:
            statsdb.prune(self.db, datetime.now(UTC))
        except Exception:
            log.exception("feed stats: pruning old rows failed")

    def _forget_agents(self) -> None:
        """Forget every address's admitted agents, and the names that relied on them."""
        self._agents.clear()
        self._named.clear()


def _admit(members: set[Any], key: Any, limit: int) -> bool:
    """Whether ``key`` is in ``members``, added if there is room (at most ``limit``)."""
    if key in members:
        return True
    if len(members) >= limit:
        return False
    members.add(key)
    return True


def _forked(ref: weakref.ref[Tally]) -> None:
    """In a forked child: drop the parent's pending counts (it flushes them) and restart."""
    tally = ref()
    if tally is not None:
        tally._batch = statsdb.Batch()
        tally._lock = threading.Lock()
        tally._flush_lock = threading.Lock()
        tally._started = False


def _flush_forever(ref: weakref.ref[Tally], interval: float) -> None:
    """Flush every ``interval`` seconds until the tally is gone."""
    while True:
        time.sleep(interval)
        tally = ref()
        if tally is None or tally._closed:
            return
        try:
            tally.flush()
        except Exception:  # pragma: no cover - flush logs its own failures
            log.exception("feed stats: flusher")
        del tally


EXIT_FLUSH_SECONDS = 2.0


def _flush_at_exit(ref: weakref.ref[Tally]) -> None:
    """Flush once more at exit, but never hold a stopping server up for long.

    The last write may wait on a database lock (another worker's final flush, the
    poller's transaction); a server's graceful stop must not wait with it, so the
    flush runs in a daemon thread given EXIT_FLUSH_SECONDS (at most ~5 s of counts lost).
    """
    tally = ref()
    if tally is None or tally._closed:
        return

    def final() -> None:
        try:
            tally.flush()
        except Exception:  # pragma: no cover - the process is ending anyway
            log.exception("feed stats: final flush failed")

    thread = threading.Thread(target=final, name="feed-stats-exit", daemon=True)
    thread.start()
    thread.join(EXIT_FLUSH_SECONDS)
