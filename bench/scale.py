"""Time every feed query and a cold render at each dataset size, with query plans.

    python -m bench.scale --url sqlite:///bench/data/10k.db --url postgresql+psycopg://…/feedserver_bench_1m

For each database: the scope lookup (slug → id), the validator read
(scope_versions), one page of articles for the site, a section, an author
and a source, the same at a deep page (?page=200), and a cold render (query +
feed description + RSS bytes, no cache) of a 20-item feed. Medians of many
runs, in milliseconds; the EXPLAIN (QUERY PLAN) of each SQL statement run, so
index use is visible.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from feedserver.db import Database
from feedserver.publishing import queries as publishing

BASE = "http://127.0.0.1:8000"
TITLE = "The Lantern Ledger"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm the statement cache and the pages
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _explain(db: Database, statement: str, params: Any) -> str:
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()  # type: ignore[union-attr]
        if db.is_sqlite:
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(row[-1] for row in cur.fetchall())
        cur.execute("EXPLAIN " + statement, params)
        return "\n".join(row[0] for row in cur.fetchall())


def measure(url: str, runs: int = 50) -> dict[str, Any]:
    from feeds.render import render_rss

    db = Database.from_url(url)
    result: dict[str, Any] = {"url": make_url(url).render_as_string(hide_password=True)}
    with db.engine.connect() as conn:
        result["articles"] = conn.scalar(text("SELECT count(*) FROM articles"))
    statements: dict[str, list[tuple[str, Any]]] = {}
    current: list[str] = []

    def record(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        if current:
            statements.setdefault(current[0], []).append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    timings: dict[str, float] = {}
    with db.sessions() as session:
        scopes = {
            "site": publishing.site_scope(TITLE, ""),
            "section": publishing.find_scope(session, "section", "world", TITLE),
            "author": publishing.find_scope(session, "author", "author-1", TITLE),
            "source": publishing.find_scope(session, "source", "source-1", TITLE),
        }

        def run(label: str, fn: Callable[[], object]) -> None:
            current[:] = [label]
            fn()
            current.clear()
            timings[label] = _median_ms(fn, runs)

        run(
            "scope lookup (slug)", lambda: publishing.find_scope(session, "section", "world", TITLE)
        )
        run("validators (scope_versions)", lambda: publishing.scope_state(session, "section:1"))
        for kind, scope in scopes.items():
            run(f"{kind} page 1", lambda s=scope: publishing.articles_page(session, s, 1, 20))
            session.expunge_all()
        for kind in ("site", "section"):
            scope = scopes[kind]
            run(f"{kind} page 200", lambda s=scope: publishing.articles_page(session, s, 200, 20))
            session.expunge_all()

        def cold(scope: publishing.Scope = scopes["section"]) -> bytes:
            session.expunge_all()  # nothing from the identity map: a real cold render
            state = publishing.scope_state(session, scope.key)
            rows = publishing.articles_page(session, scope, 1, 20)
            feed = publishing.build_feed(
                scope, state, rows, fmt="rss", page=1, per_page=20, base=BASE, site_title=TITLE
            )
            return render_rss(feed).body

        timings["cold render (20-item section RSS)"] = _median_ms(cold, max(runs // 2, 10))
    event.remove(db.engine, "before_cursor_execute", record)
    plans = {}
    for label, stmts in statements.items():
        plans[label] = [
            {"sql": " ".join(sql.split()), "plan": _explain(db, sql, params)}
            for sql, params in stmts
        ]
    db.engine.dispose()
    result["timings_ms"] = timings
    result["plans"] = plans
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = [measure(url, args.runs) for url in args.url]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))
    for item in data:
        print(item["url"], item["articles"])
        for label, ms in item["timings_ms"].items():
            print(f"  {label:40} {ms:8.3f} ms")


if __name__ == "__main__":
    main()
