"""Feed statistics in the database: batched writes from the tally, reads for API and admin.

Every write is an upsert that adds to (traffic) or keeps the newer of
(clients, reports) what is stored, so any number of web processes on any
number of machines can flush into the same tables in any order. SQLite and
PostgreSQL share the ``INSERT … ON CONFLICT DO UPDATE`` form.

Subscribers of a feed = the latest report of each reader service (per feed
id), plus one per distinct other client, both counted over the last
:data:`WINDOW` (3 days, INTERFACE §9). A report older than that no longer
counts: the service has stopped fetching.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from feedserver.db import Database
from feedserver.models.base import upsert_insert
from feedserver.models.stats import FeedClient, FeedDay, FeedTrafficHour, ReaderReport
from feedserver.publishing.readers import OTHER

log = logging.getLogger(__name__)

WINDOW = timedelta(days=3)
HOURLY_KEPT = timedelta(hours=49)
DAILY_KEPT = timedelta(days=400)
CHUNK = 400  # rows per INSERT statement (SQLite binds at most 32766 values)


@dataclass(slots=True)
class Batch:
    """What one process saw since its last flush (times are epoch seconds)."""

    traffic: dict[tuple[str, int], list[int]] = field(
        default_factory=dict
    )  # (path, hour) → [n, 304s, bytes]
    clients: dict[tuple[str, str], float] = field(default_factory=dict)  # (path, client) → seen
    reports: dict[tuple[str, str, str], tuple[int, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.traffic or self.clients or self.reports)

    def merge(self, other: Batch) -> None:
        """Fold an unflushed batch back in (after a failed write)."""
        for key, (n, nm, size) in other.traffic.items():
            mine = self.traffic.setdefault(key, [0, 0, 0])
            mine[0] += n
            mine[1] += nm
            mine[2] += size
        for ckey, seen in other.clients.items():
            self.clients[ckey] = max(seen, self.clients.get(ckey, 0.0))
        for rkey, report in other.reports.items():
            if rkey not in self.reports or self.reports[rkey][1] < report[1]:
                self.reports[rkey] = report


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    return upsert_insert(session.get_bind().dialect.name)(model)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def write_batch(db: Database, batch: Batch, now: datetime) -> None:
    """Store one flush in one transaction, then refresh today's subscriber figures."""
    touched = {path for path, _ in batch.traffic} | {path for path, _ in batch.clients}
    touched |= {path for path, _, _ in batch.reports}
    with db.session() as session:
        _write_traffic(session, batch)
        _write_clients(session, batch)
        _write_reports(session, batch)
        _snapshot(session, sorted(touched), now)


def _write_traffic(session: Session, batch: Batch) -> None:
    hourly = [
        {"path": p, "hour": _epoch(h * 3600), "requests": n, "not_modified": nm, "bytes": size}
        for (p, h), (n, nm, size) in batch.traffic.items()
    ]
    days: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (p, h), (n, nm, size) in batch.traffic.items():
        totals = days[(p, _epoch(h * 3600).date())]
        totals[0] += n
        totals[1] += nm
        totals[2] += size
    daily = [
        {"path": p, "day": d, "requests": n, "not_modified": nm, "bytes": size,
         "subscribers": 0, "by_reader": {}}
        for (p, d), (n, nm, size) in days.items()
    ]  # fmt: skip
    for model, rows, keys in (
        (FeedTrafficHour, hourly, ["path", "hour"]),
        (FeedDay, daily, ["path", "day"]),
    ):
        table = model.__table__
        for chunk in _chunks(rows):
            stmt = _insert(session, model).values(list(chunk))
            stmt = stmt.on_conflict_do_update(
                index_elements=keys,
                set_={
                    name: table.c[name] + stmt.excluded[name]
                    for name in ("requests", "not_modified", "bytes")
                },
            )
            session.execute(stmt)


def _write_clients(session: Session, batch: Batch) -> None:
    rows = [
        {"path": p, "client": c, "last_seen": _epoch(seen)}
        for (p, c), seen in batch.clients.items()
    ]
    table = FeedClient.__table__
    for chunk in _chunks(rows):
        stmt = _insert(session, FeedClient).values(list(chunk))
        stmt = stmt.on_conflict_do_update(
            index_elements=["path", "client"],
            set_={"last_seen": stmt.excluded.last_seen},
            where=table.c.last_seen < stmt.excluded.last_seen,
        )
        session.execute(stmt)


def _write_reports(session: Session, batch: Batch) -> None:
    rows = [
        {"path": p, "service": s, "feed_id": f, "subscribers": n, "reported_at": _epoch(at)}
        for (p, s, f), (n, at) in batch.reports.items()
    ]
    table = ReaderReport.__table__
    for chunk in _chunks(rows):
        stmt = _insert(session, ReaderReport).values(list(chunk))
        # The latest report wins, whichever process flushes last.
        stmt = stmt.on_conflict_do_update(
            index_elements=["path", "service", "feed_id"],
            set_={
                "subscribers": stmt.excluded.subscribers,
                "reported_at": stmt.excluded.reported_at,
            },
            where=table.c.reported_at <= stmt.excluded.reported_at,
        )
        session.execute(stmt)


def subscribers(
    session: Session, now: datetime, paths: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """Return {path: {reader: subscribers, …, "other": n}} as of ``now``."""
    cutoff = now - WINDOW
    result: dict[str, dict[str, int]] = defaultdict(dict)
    groups: list[Sequence[str] | None] = (
        [None] if paths is None else [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    )
    for group in groups:
        reports = (
            select(ReaderReport.path, ReaderReport.service, func.sum(ReaderReport.subscribers))
            .where(ReaderReport.reported_at >= cutoff)
            .group_by(ReaderReport.path, ReaderReport.service)
        )
        clients = (
            select(FeedClient.path, func.count())
            .where(FeedClient.last_seen >= cutoff)
            .group_by(FeedClient.path)
        )
        if group is not None:
            reports = reports.where(ReaderReport.path.in_(group))
            clients = clients.where(FeedClient.path.in_(group))
        for path, service, total in session.execute(reports):
            result[path][service] = int(total or 0)
        for path, count in session.execute(clients):
            result[path][OTHER] = int(count)
    return {path: ordered(readers) for path, readers in result.items()}


def ordered(readers: dict[str, int]) -> dict[str, int]:
    """Readers by subscribers (most first, then by name), with "other" always last."""
    named = sorted(
        ((k, v) for k, v in readers.items() if k != OTHER), key=lambda kv: (-kv[1], kv[0])
    )
    return {**dict(named), OTHER: readers.get(OTHER, 0)}


def _snapshot(session: Session, paths: Sequence[str], now: datetime) -> None:
    """Keep today's subscriber figures of the touched feeds, for the 90-day charts."""
    if not paths:
        return
    current = subscribers(session, now, paths)
    today = now.astimezone(UTC).date()
    rows = []
    for path in paths:
        readers = current.get(path, {OTHER: 0})
        rows.append(
            {"path": path, "day": today, "requests": 0, "not_modified": 0, "bytes": 0,
             "subscribers": sum(readers.values()), "by_reader": readers}
        )  # fmt: skip
    for chunk in _chunks(rows):
        stmt = _insert(session, FeedDay).values(list(chunk))
        stmt = stmt.on_conflict_do_update(
            index_elements=["path", "day"],
            set_={"subscribers": stmt.excluded.subscribers, "by_reader": stmt.excluded.by_reader},
        )
        session.execute(stmt)


def prune(db: Database, now: datetime) -> None:
    """Drop what no figure needs any more (clients and reports past the window, old traffic)."""
    with db.session() as session:
        session.execute(delete(FeedClient).where(FeedClient.last_seen < now - WINDOW))
        session.execute(delete(ReaderReport).where(ReaderReport.reported_at < now - WINDOW))
        session.execute(delete(FeedTrafficHour).where(FeedTrafficHour.hour < now - HOURLY_KEPT))
        session.execute(delete(FeedDay).where(FeedDay.day < (now - DAILY_KEPT).date()))


# ---------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class FeedFigures:
    """One feed's figures for the API and the admin table."""

    path: str
    by_reader: dict[str, int]
    requests: int
    not_modified: int
    bytes: int

    @property
    def subscribers(self) -> int:
        return sum(self.by_reader.values())

    @property
    def not_modified_share(self) -> float:
        return round(self.not_modified / self.requests, 4) if self.requests else 0.0


def feed_figures(session: Session, now: datetime) -> list[FeedFigures]:
    """Every feed with subscribers now or requests in the last 24 hours, most followed first."""
    since = _hour_start(now) - timedelta(hours=23)  # this hour and the 23 before it
    traffic = {
        path: (int(n or 0), int(nm or 0), int(size or 0))
        for path, n, nm, size in session.execute(
            select(
                FeedTrafficHour.path,
                func.sum(FeedTrafficHour.requests),
                func.sum(FeedTrafficHour.not_modified),
                func.sum(FeedTrafficHour.bytes),
            )
            .where(FeedTrafficHour.hour >= since)
            .group_by(FeedTrafficHour.path)
        )
    }
    readers = subscribers(session, now)
    figures = [
        FeedFigures(path, readers.get(path, {OTHER: 0}), *traffic.get(path, (0, 0, 0)))
        for path in set(traffic) | set(readers)
    ]
    figures.sort(key=lambda f: (-f.subscribers, -f.requests, f.path))
    return figures


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day of a chart."""

    day: date
    subscribers: int
    requests: int
    not_modified: int


def daily_series(
    session: Session, today: date, days: int = 90, path: str | None = None
) -> list[DayPoint]:
    """Return ``days`` days ending today (missing days as zeros), for one feed or all together."""
    first = today - timedelta(days=days - 1)
    query = (
        select(
            FeedDay.day,
            func.sum(FeedDay.subscribers),
            func.sum(FeedDay.requests),
            func.sum(FeedDay.not_modified),
        )
        .where(FeedDay.day >= first, FeedDay.day <= today)
        .group_by(FeedDay.day)
    )
    if path is not None:
        query = query.where(FeedDay.path == path)
    found = {
        row[0]: (int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))
        for row in session.execute(query)
    }
    return [
        DayPoint(day, *found.get(day, (0, 0, 0)))
        for day in (first + timedelta(days=i) for i in range(days))
    ]


def top_readers(figures: Iterable[FeedFigures], limit: int = 10) -> list[tuple[str, int]]:
    """Reader services by subscribers over every feed ("other" included), most first."""
    totals: dict[str, int] = defaultdict(int)
    for figure in figures:
        for reader, count in figure.by_reader.items():
            totals[reader] += count
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def _hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
