"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4).

Counters live in ``prometheus_client``; with ``PROMETHEUS_MULTIPROC_DIR`` set
(``feedserver serve`` sets it for its workers; set it yourself under gunicorn)
every process writes its values to a shared folder and a scrape of any worker
sums them all. Without it a scrape shows the answering process only.

The request layer must stay cheap on the fast path (a cached feed hit is tens
of microseconds): it counts into a plain dict under a lock and hands the
totals to ``prometheus_client`` at most once a second, and at each scrape.

Who may scrape: ``FEEDSERVER_METRICS_ALLOW`` (addresses and CIDRs; loopback by
default), judged on the client address after ``FEEDSERVER_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import atexit
import collections
import ipaddress
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feedserver.ops.logs import REQUEST_ID, clean_request_id

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.wrappers.response import Response

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

FLASK_FLAG = "feedserver.flask"  # set when Flask, not the fast path, answered
REQUEST_ID_KEY = "feedserver.request_id"
FLUSH_EVERY = 0.25  # seconds between hand-overs of the request counts (short: small pauses)
# The classic text format, which generate_latest writes and every scraper reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The *_created samples double the scrape for no use here. (prometheus_client has no
# annotations for this function.)
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "feedserver_http_requests",
    "HTTP requests answered, by route group and status code.",
    ["group", "status"],
    registry=REGISTRY,
)
FAST_PATH = Counter(
    "feedserver_fastpath_answers",
    "Feed requests answered from the in-memory fast path, by status (200 or 304).",
    ["status"],
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "feedserver_feed_render_seconds",
    "Time to query and render one feed page that was not cached.",
    ["format"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
POLL_FETCHES = Counter(
    "feedserver_poll_fetches",
    "Upstream refreshes by outcome (changed, not_modified, error).",
    ["outcome"],
    registry=REGISTRY,
)
ENTRIES_STORED = Counter(
    "feedserver_entries_stored",
    "Upstream entries stored, by kind (added, updated).",
    ["kind"],
    registry=REGISTRY,
)
REFRESH_ERRORS = Counter(
    "feedserver_refresh_errors",
    "Failed upstream refreshes by stage (fetch, parse, store, …).",
    ["stage"],
    registry=REGISTRY,
)
WEBSUB_DELIVERIES = Counter(
    "feedserver_websub_deliveries",
    "WebSub content deliveries to subscribers, by result (ok, failed, gone).",
    ["result"],
    registry=REGISTRY,
)


def route_group(path: str) -> str:
    """Name the part of the site a path belongs to (a bounded label set)."""
    if path.endswith(("/feed.rss", "/feed.atom", "/feed.json", "/comments.rss", "/comments.atom")):
        return "feed"
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin"):
        return "admin"
    if path.startswith("/static/"):
        return "static"
    if path.startswith("/websub"):
        return "websub"
    if path in ("/healthz", "/readyz", "/metrics"):
        return "ops"
    if path.startswith(("/feed/", "/category/", "/author/")):
        return "feed"  # WordPress-style redirects
    return "page"


class RequestMetrics:
    """WSGI layer: a request id for every request, and request counts.

    Per request it does the least it can — pick an id, note (path, status,
    answered by Flask?) on a deque (append is atomic: no lock) — and leaves the
    grouping and counting to :meth:`flush`, once a second on a thread.
    """

    def __init__(self, app: WSGIApp, *, count: bool = True) -> None:
        self.app = app
        self.count = count
        # Ids: a random per-process prefix and a counter — unique, and cheaper
        # than random bytes per request.
        self._prefix = os.urandom(5).hex()
        self._sequence = itertools.count(1)
        self._events: collections.deque[tuple[str, str, bool]] = collections.deque()
        self._groups: dict[str, str] = {}
        self._flush_lock = threading.Lock()
        self._watched = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        rid = environ.get("HTTP_X_REQUEST_ID")
        if rid is None or clean_request_id(rid) is None:
            rid = f"{self._prefix}{next(self._sequence):06x}"
        environ[REQUEST_ID_KEY] = rid
        status = "000"

        def answer(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = code
            # A new list: the fast path hands us the header list it keeps.
            return start_response(code, headers + [("X-Request-Id", rid)], exc_info)

        result = self.app(environ, answer)
        if self.count:
            self._events.append((environ.get("PATH_INFO", ""), status, FLASK_FLAG in environ))
            if not self._watched:
                self._watched = True
                _watch(self)
        return result

    def answered_before_flask(self, environ: dict[str, Any], status: str) -> str:
        """Name and count a request a layer in front of this one answered (the fast path's hits).

        Returns the request id, for the answer's X-Request-Id.
        """
        rid = environ.get("HTTP_X_REQUEST_ID")
        if rid is None or clean_request_id(rid) is None:
            rid = f"{self._prefix}{next(self._sequence):06x}"
        if self.count:
            self._events.append((environ.get("PATH_INFO", ""), status, False))
            if not self._watched:
                self._watched = True
                _watch(self)
        return rid

    def _group(self, path: str) -> str:
        group = self._groups.get(path)
        if group is None:
            group = route_group(path)
            if len(self._groups) < 4096:  # junk paths must not grow this without bound
                self._groups[path] = group
        return group

    def flush(self) -> None:
        """Hand the requests noted since the last flush to prometheus_client.

        Takes what is on the deque now (appends go on meanwhile) and counts it
        in C (collections.Counter), so the flush holds the GIL for well under a
        millisecond per thousand requests: it does not show in the hits' p99.
        """
        with self._flush_lock:
            events = self._events
            popleft = events.popleft
            taken = collections.Counter([popleft() for _ in range(len(events))])
        counts: dict[tuple[str, str, bool], int] = {}
        for (path, status, by_flask), n in taken.items():
            key = (self._group(path), status[:3], not by_flask)
            counts[key] = counts.get(key, 0) + n
        for (group, status, fast), n in counts.items():
            HTTP_REQUESTS.labels(group, status).inc(n)
            if fast and group == "feed" and status in ("200", "304"):
                FAST_PATH.labels(status).inc(n)


# One thread per process flushes every layer once a second (so an idle worker's
# counts still arrive), and once more at exit. Layers are held weakly: an app
# that is dropped (tests make many) is not kept alive by its metrics.
_LAYERS: weakref.WeakSet[RequestMetrics] = weakref.WeakSet()
_FLUSHER_LOCK = threading.Lock()
_flusher_pid = 0  # the process whose flusher thread runs (a forked child starts its own)


def _watch(layer: RequestMetrics) -> None:
    global _flusher_pid
    with _FLUSHER_LOCK:
        _LAYERS.add(layer)
        if _flusher_pid != os.getpid():
            _flusher_pid = os.getpid()
            threading.Thread(target=_flush_forever, name="feedserver-metrics", daemon=True).start()


def _flush_all() -> None:
    for layer in list(_LAYERS):
        try:
            layer.flush()
        except Exception:  # never let a metrics problem end the thread or the exit
            log.warning("metrics: flush failed", exc_info=True)


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_EVERY)
        _flush_all()


atexit.register(_flush_all)


# ------------------------------------------------------------------ poller side


def record_refresh(status: int | None, added: int, updated: int, error: str | None) -> None:
    """Count one finished upstream refresh (called by the poller)."""
    if error is not None:
        POLL_FETCHES.labels("error").inc()
        REFRESH_ERRORS.labels(error.partition(":")[0].strip()[:32] or "unknown").inc()
    elif status == 304:
        POLL_FETCHES.labels("not_modified").inc()
    else:
        POLL_FETCHES.labels("changed").inc()
    if added:
        ENTRIES_STORED.labels("added").inc(added)
    if updated:
        ENTRIES_STORED.labels("updated").inc(updated)


def record_deliveries(results: Iterable[tuple[bool, bool]]) -> None:
    """Count WebSub content deliveries sent by the hub: (ok, topic_gone) each."""
    for ok, gone in results:
        WEBSUB_DELIVERIES.labels("ok" if ok else "gone" if gone else "failed").inc()


# ------------------------------------------------------------------ scrape side


class PollLagCollector(Collector):
    """The age of the oldest due source, read from the database at scrape time."""

    def __init__(self, read: Callable[[], float | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "feedserver_oldest_due_source_age_seconds",
            "How long the longest-waiting due upstream source has been due (0: none due).",
        )
        try:
            age = self.read()
        except Exception as exc:  # the database is away: leave it out, keep the scrape
            log.warning("metrics: could not read the poll lag: %s", type(exc).__name__)
            return
        gauge.add_metric([], age or 0.0)
        yield gauge


def oldest_due_age(app: Flask) -> float | None:
    """Seconds since the longest-overdue enabled source became due, or None."""
    from sqlalchemy import func, select

    from feedserver.db import get_db
    from feedserver.models import Source

    with get_db(app).session() as session:
        oldest = session.scalar(
            select(func.min(func.coalesce(Source.next_fetch_at, Source.created_at))).where(
                Source.enabled.is_(True), Source.feed_url.is_not(None)
            )
        )
    if oldest is None:
        return None
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds())


def exposition(app: Flask) -> bytes:
    """The text every scrape gets: all processes' counters plus the live gauges."""
    layer = app.extensions.get(EXTENSION)
    if layer is not None:
        layer.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(PollLagCollector(lambda: oldest_due_age(app)))
    return generate_latest(registry)


class _Forward(Collector):
    """Expose another registry's metrics inside a scrape registry."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        return iter(self.inner.collect())


# ------------------------------------------------------------------ the app side

EXTENSION = "feedserver.ops.metrics"


def allowed(address: str | None, allow: str) -> bool:
    """Whether a client address is in the comma-separated allow list."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for item in allow.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_allow_list(allow: str) -> None:
    """Refuse a FEEDSERVER_METRICS_ALLOW entry that is not an address or CIDR."""
    for item in allow.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"config FEEDSERVER_METRICS_ALLOW: not an address or CIDR: {item!r}"
            ) from None


def metrics_view() -> Response:
    """Answer a scrape, for allowed addresses only."""
    from flask import Response, current_app, request

    if not allowed(request.remote_addr, current_app.config["METRICS_ALLOW"]):
        return Response(
            "Metrics are only shown to the addresses in FEEDSERVER_METRICS_ALLOW.\n",
            status=403,
            mimetype="text/plain",
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    response = Response(exposition(app), status=200)
    response.headers["Content-Type"] = CONTENT_TYPE
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add /metrics and mark the requests Flask answers (the rest were fast-path hits)."""
    from flask import request

    check_allow_list(app.config["METRICS_ALLOW"])
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])

    @app.before_request
    def _mark_flask() -> None:
        request.environ[FLASK_FLAG] = True
        # Log lines written while Flask answers carry the request's id.
        request.environ["feedserver.request_id_token"] = REQUEST_ID.set(
            request.environ.get(REQUEST_ID_KEY)
        )

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        token = request.environ.pop("feedserver.request_id_token", None)
        if token is not None:
            REQUEST_ID.reset(token)


def wrap(app: Flask) -> RequestMetrics:
    """Put the request-id and counting layer around the app.

    The fast path, in front of it, names and counts its own hits through
    :meth:`RequestMetrics.answered_before_flask`.
    """
    layer = RequestMetrics(app.wsgi_app, count=bool(app.config["METRICS"]))
    app.wsgi_app = layer  # type: ignore[method-assign]
    app.extensions[EXTENSION] = layer
    return layer
