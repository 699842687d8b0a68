"""The hub's sender: verification of intent, content distribution, external-hub pings.

WebSub §5.3 (verification: ``GET callback?hub.mode&hub.topic&hub.challenge&
hub.lease_seconds``; only a 2xx whose body is exactly the challenge counts),
§7 (content distribution: ``POST callback`` with the topic's new content,
its Content-Type, ``Link`` rel=hub and rel=self, and ``X-Hub-Signature``
when the subscriber gave a secret), §8 (signatures).
https://www.w3.org/TR/websub/

Runs in the poller processes (``feedserver worker`` and the in-process
poller of ``make run``) as its own thread, :class:`Deliverer`. Each pass:
end lapsed leases; turn scope changes into queued deliveries
(:mod:`store`: a compare-and-set on ``websub_marks`` makes one process do
each); claim due deliveries; send them concurrently on a thread pool
through one guarded httpx client (:mod:`feeds.upstream.transport`: the
private-address guard at every connection), at most ``per_host`` at once to
one host; write the outcomes in one transaction.

Page 1 is rendered by the app's own feed view (a request context and
``full_dispatch_request``), so a delivery carries the bytes a GET would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import OperationalError

from feeds.errors import FeedError
from feeds.upstream import transport
from feeds.upstream.guard import Allowlist, numeric_host, system_resolver
from feeds.websub import format_link, new_challenge, sign, verification_url
from feedserver.db import Database, describe
from feedserver.ops.metrics import record_deliveries
from feedserver.publishing.websub import changes as changed
from feedserver.publishing.websub import store
from feedserver.publishing.websub.store import Claimed, Result

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

USER_AGENT = "feedserver-websub-hub/0.1 (+https://www.w3.org/TR/websub/)"
MAX_RESPONSE_READ = 64 * 1024  # a callback's answer: we need the challenge, nothing more
IDLE_WAIT = 0.5  # seconds between passes when nothing is due (changes go out within ~1 s)
CLAIM_LEASE = 120.0
DISTRIBUTE_EVERY = 0.5  # seconds: how often changes are queued while deliveries are under way
EXPIRE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class HubSettings:
    """What the sender needs from the configuration."""

    allowlist: str = ""
    concurrency: int = 32
    per_host: int = 8
    timeout: float = 10.0
    external_hub: str = ""
    base_url: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HubSettings:
        get = config.get
        return cls(
            allowlist=str(get("UPSTREAM_ALLOWLIST") or ""),
            concurrency=max(1, int(get("WEBSUB_CONCURRENCY") or 32)),
            per_host=max(1, int(get("WEBSUB_PER_HOST") or 8)),
            timeout=float(get("WEBSUB_TIMEOUT") or 10),
            external_hub=str(get("WEBSUB_HUB") or ""),
            base_url=str(get("BASE_URL") or "").rstrip("/"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page 1: what a content delivery sends."""

    status: int
    body: bytes
    content_type: str
    hub: str


Renderer = Callable[[str, str], Page]


def app_renderer(app: Flask) -> Renderer:
    """Render a feed path through the app's own view, as a GET at ``base`` would."""

    def render(path: str, base: str) -> Page:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        with app.test_request_context(path, base_url=base, headers=headers):
            response = app.full_dispatch_request()
            body = response.get_data()
            hub = ""
            for value in response.headers.getlist("Link"):
                if value.endswith('rel="hub"'):
                    hub = value[1 : value.index(">")]
            return Page(response.status_code, body, response.content_type or "", hub)

    return render


class Sender:
    """One guarded HTTP client and the per-host limits, shared by the pool's threads."""

    def __init__(self, settings: HubSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.Client(
            transport=transport.GuardedTransport(
                Allowlist.parse(settings.allowlist),
                max_connections=settings.concurrency * 2,
                max_keepalive_connections=settings.concurrency,
            ),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
            follow_redirects=False,  # a callback that moves must subscribe again
            timeout=httpx.Timeout(settings.timeout),
        )
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._addresses: dict[str, tuple[float, str]] = {}  # origin → (until, address)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        origin = url.split("/", 3)[2] if url.count("/") >= 2 else url
        now = time.monotonic()
        known = self._addresses.get(origin)
        if known is None or known[0] < now:
            # Looked up once a minute per host, not at every delivery.
            if len(self._addresses) > 4096:
                self._addresses.clear()
            known = self._addresses[origin] = (now + ADDRESS_TTL, _host_key(url))
        host = known[1]
        with self._lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self.settings.per_host)
            return slot

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request within the time limit; (status, first bytes of the body)."""
        with self._slot(url):
            token = transport.deadline.set(time.monotonic() + self.settings.timeout)
            try:
                with self.client.stream(
                    method, url, content=content if method == "POST" else None, headers=headers
                ) as response:
                    data = b""
                    for chunk in response.iter_bytes():
                        data += chunk
                        if len(data) > MAX_RESPONSE_READ:
                            break
                    return response.status_code, data[: MAX_RESPONSE_READ + 1]
            finally:
                transport.deadline.reset(token)


ADDRESS_TTL = 60.0  # seconds a callback host's address is reused for its limit


def _host_key(url: str) -> str:
    """The address a callback's requests go to: what the per-host limit counts.

    Not the URL's spelling: 127.0.0.1, 127.1, 0x7f.1, 2130706433, any port and
    any name of one address (a wildcard DNS zone) would each have had their
    own slots, and a subscriber with slow callbacks under many spellings held
    every sender, so deliveries to everyone else came late (found by an audit).
    A host that does not resolve counts as itself (its request fails anyway).
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return url
    address = numeric_host(host)
    if address is not None:
        return str(address)
    try:
        found = system_resolver(host, port)
    except FeedError:
        return host
    return found[0] if found else host


def _failure(exc: Exception) -> str:
    if isinstance(exc, FeedError):
        return exc.problem
    return f"{type(exc).__name__}: {exc}"[:300]


class Deliverer:
    """The delivery loop of one poller process."""

    def __init__(
        self,
        db: Database,
        settings: HubSettings,
        render: Renderer,
        *,
        sender: Sender | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.render = render
        self.sender = sender or Sender(settings)
        self.pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="websub")
        self.stop_event = threading.Event()
        self._last_expiry = 0.0
        self._seeded = False
        self.delivered = 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.sender.close()

    def _write(self) -> AbstractContextManager[Any]:
        """The database's write lock (serializes this process's SQLite writers)."""
        return self.db.write_lock()

    # -- one pass ---------------------------------------------------------------

    def run_once(self) -> int:
        """Expire, distribute, then send everything due; return deliveries sent."""
        if time.monotonic() - self._last_expiry > EXPIRE_EVERY:
            with self._write(), self.db.session() as session:
                store.expire_leases(session)
            self._last_expiry = time.monotonic()
        self.distribute()
        sent = 0
        inflight: set[Future[Result]] = set()
        try:
            while not self.stop_event.is_set():
                room = self.settings.concurrency * 8 - len(inflight)
                batch = self._claim(room) if room > 0 else []
                inflight |= self._submit(batch)
                if not inflight:
                    break
                # Record what finished; a slow callback (up to the time-out)
                # holds its own thread only: changes made meanwhile are
                # queued, and sent to everyone else, without waiting for it.
                finished, inflight = wait(inflight, DISTRIBUTE_EVERY, FIRST_COMPLETED)
                sent += self._record(finished)
                self.distribute()
        finally:
            if inflight:  # stopping: what is under way ends within the time-out
                sent += self._record(wait(inflight).done)
        self.delivered += sent
        return sent

    def _submit(self, batch: list[Claimed]) -> set[Future[Result]]:
        """Start sending a claimed batch (one render per topic for the batch)."""
        if not batch:
            return set()
        page_for = self._pages()
        return {self.pool.submit(self._send_one, job, page_for) for job in _by_host(batch)}

    def _record(self, finished: set[Future[Result]]) -> int:
        results = [future.result() for future in finished]
        if results:
            with self._write(), self.db.session() as session:
                store.record_results(session, results)
            record_deliveries(
                (r.ok, r.topic_gone or r.status == 410) for r in results if r.job.kind == "content"
            )
        return len(results)

    def distribute(self) -> int:
        """Queue deliveries (and pings) for every scope that changed; return scopes taken."""
        external = self.settings.external_hub
        if external and not self._seeded:
            with self._write(), self.db.session() as session:
                changed.seed_marks(session)
            self._seeded = True
        with self.db.session() as session:
            changes = changed.changed_scopes(session, every_scope=bool(external))
        taken = 0
        for key, version, marked in changes:
            with self._write(), self.db.session() as session:
                if not changed.take_change(session, key, version, marked):
                    continue  # another process has it
                taken += 1
                count = changed.enqueue_content(session, key)
                if external and key != "global":
                    topics = self._topics_of(session, key)
                    changed.enqueue_ping(session, external, topics)
                log.info(
                    "websub scope changed key=%s version=%s deliveries=%s", key, version, count
                )
        return taken

    def _topics_of(self, session: object, key: str) -> list[str]:
        from feedserver.publishing.websub.pings import topics_of_scope

        return topics_of_scope(session, key, self.settings.base_url)  # type: ignore[arg-type]

    def _claim(self, limit: int | None = None) -> list[Claimed]:
        limit = self.settings.concurrency * 8 if limit is None else limit
        with self._write(), self.db.session() as session:
            return store.claim(session, limit, CLAIM_LEASE, postgres=not self.db.is_sqlite)

    def _pages(self) -> Callable[[str, str], Page]:
        """A renderer that renders each topic once, however many subscribers it has."""
        pages: dict[tuple[str, str], Page | Exception] = {}
        pages_lock = threading.Lock()

        def page_for(path: str, base: str) -> Page:
            key = (path, base)
            with pages_lock:  # one render per topic per batch, however many subscribers
                found = pages.get(key)
                if found is None:
                    try:
                        found = self.render(path, base)
                    except Exception as exc:  # the feed vanished, the database hiccuped
                        found = exc
                    pages[key] = found
            if isinstance(found, Exception):
                raise found
            return found

        return page_for

    def _send_one(self, job: Claimed, page_for: Callable[[str, str], Page]) -> Result:
        try:
            if job.kind == "verify":
                return self._verify(job)
            if job.kind == "content":
                return self._content(job, page_for)
            return self._ping(job)
        except Exception as exc:  # network errors, guard refusals, time-outs
            log.info("websub %s delivery_id=%s failed: %s", job.kind, job.id, _failure(exc))
            return Result(job, ok=False, error=_failure(exc))

    def _verify(self, job: Claimed) -> Result:
        challenge = new_challenge()
        url = verification_url(job.url, job.mode or "", job.topic, challenge, job.lease_seconds)
        status, body = self.sender.request("GET", url)
        ok = 200 <= status < 300 and body == challenge.encode()
        return Result(job, ok=ok, status=status, error=None if ok else "challenge not echoed")

    def _content(self, job: Claimed, page_for: Callable[[str, str], Page]) -> Result:
        base = self.settings.base_url or _origin(job.topic)
        page = page_for(job.path or urlsplit(job.topic).path, base)
        if page.status in (404, 410):
            # The feed is no more (its section deleted, its slug changed): the
            # subscription ends, saying why, rather than stay "active" for nothing.
            error = f"the topic answers {page.status}: it no longer exists"
            return Result(job, ok=False, error=error, topic_gone=True)
        if page.status != 200:  # an outage while rendering, say: tried again later
            return Result(job, ok=False, error=f"the topic answered {page.status}")
        headers = [
            ("Content-Type", page.content_type),
            ("Link", format_link(page.hub, "hub")),
            ("Link", format_link(job.topic, "self")),
        ]
        if job.secret:
            headers.append(("X-Hub-Signature", sign(page.body, job.secret, "sha256")))
        status, _ = self.sender.request("POST", job.url, content=page.body, headers=headers)
        ok = 200 <= status < 300
        return Result(job, ok=ok, status=status, error=None if ok else f"HTTP {status}")

    def _ping(self, job: Claimed) -> Result:
        form = httpx.QueryParams(
            {"hub.mode": "publish", "hub.url": job.topic, "hub.topic": job.topic}
        )
        status, _ = self.sender.request(
            "POST",
            job.url,
            content=str(form).encode(),
            headers=[("Content-Type", "application/x-www-form-urlencoded")],
        )
        ok = 200 <= status < 300
        return Result(job, ok=ok, status=status, error=None if ok else f"HTTP {status}")

    # -- the loop ---------------------------------------------------------------

    def run(self, startup_delay: float = 0.0) -> None:
        """Deliver until stopped."""
        if self.stop_event.wait(startup_delay):
            return
        log.info("websub deliverer started concurrency=%s", self.settings.concurrency)
        try:
            while not self.stop_event.is_set():
                try:
                    self.run_once()
                except OperationalError as exc:  # the database went away: one line a pass
                    log.warning(
                        "websub delivery pass failed, database unavailable: %s", describe(exc)
                    )
                    self.stop_event.wait(5.0)
                except Exception:  # a bug: its traceback
                    log.exception("websub delivery pass failed")
                    self.stop_event.wait(5.0)
                self.stop_event.wait(IDLE_WAIT)
        finally:
            self.close()
            log.info("websub deliverer stopped")

    def stop(self) -> None:
        self.stop_event.set()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _by_host(batch: list[Claimed]) -> list[Claimed]:
    """Interleave hosts, so one host's queue does not hold the pool's threads."""
    queues: dict[str, list[Claimed]] = defaultdict(list)
    for job in batch:
        queues[urlsplit(job.url).netloc.lower()].append(job)
    ordered: list[Claimed] = []
    while queues:
        for host in list(queues):
            ordered.append(queues[host].pop(0))
            if not queues[host]:
                del queues[host]
    return ordered
