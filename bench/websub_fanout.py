"""WebSub fan-out benchmark: POST /api/articles → the last of N subscribers has its delivery.

    python -m bench.websub_fanout [--subscribers 1000] [--hosts 10] [--pg URL]

Sets up a fresh database (SQLite by default) with one section, subscribes N
callbacks to that section's Atom feed through the real ``POST /websub``
endpoint, lets the hub verify them (timed), then publishes an article through
the API and measures the time until the last subscriber has received its
POST. The callbacks live in a separate process (an asyncio HTTP server
listening on ``--hosts`` loopback ports, so the per-host limit shows), so
receiving does not compete with the hub for the GIL.

Two deliverers are measured in the same run, on the same subscriptions:
the baseline sends one request at a time (concurrency 1, one per host), ours
uses the configured pool (``FEEDSERVER_WEBSUB_CONCURRENCY`` 32, per host 8).
The figures and their ratio go to stdout and to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- the subscribers: one process, several ports --------------------------------


def _receiver(ports: list[int], arrivals: Any, ready: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if method == "GET":
                    query = parse_qs(urlsplit(target).query)
                    body = query.get("hub.challenge", [""])[0].encode()
                else:
                    arrivals.put(time.time())
                    body = b"ok"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", port) for port in ports]
        ready.set()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# -- the run -------------------------------------------------------------------


def _wait_active(db: Any, n: int, deliverer: Any) -> float:
    from sqlalchemy import func, select

    from feedserver.models import HubSubscription

    start = time.perf_counter()
    while True:
        deliverer.run_once()
        with db.session() as s:
            active = s.scalar(
                select(func.count(HubSubscription.id)).where(HubSubscription.state == "active")
            )
        if active >= n:
            return time.perf_counter() - start


def _publish_and_time(
    api: Any, arrivals: Any, n: int, deliverer: Any, title: str
) -> tuple[float, float]:
    """(seconds to the last delivery, seconds to the first) for one publication."""
    thread = threading.Thread(target=deliverer.run, daemon=True)
    thread.start()
    time.sleep(1.0)  # the deliverer is idle and waiting, as in production
    start = time.time()
    response = api.post(
        "/api/articles",
        json={
            "title": title,
            "summary": "s",
            "body_html": "<p>b</p>",
            "section": "world",
            "authors": ["ada"],
        },
    )
    assert response.status_code == 201, response.get_json()
    times = [arrivals.get(timeout=120) for _ in range(n)]
    deliverer.stop()
    thread.join()
    return max(times) - start, min(times) - start


def run(subscribers: int, hosts: int, database_url: str | None) -> dict[str, Any]:
    from feedserver import accounts, create_app
    from feedserver.db import get_db
    from feedserver.migrate import upgrade
    from feedserver.models import Author, Section, User
    from feedserver.publishing.websub.deliver import Deliverer, HubSettings, app_renderer

    tmp = Path(tempfile.mkdtemp(prefix="websub-bench-"))
    os.environ["FEEDSERVER_INSTANCE_PATH"] = str(tmp)
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "RUN_POLLER": False,
            "UPSTREAM_ALLOWLIST": "127.0.0.1/32",
        }
    )
    db = get_db(app)
    upgrade(db.engine)
    with db.session() as s:
        s.add(Section(slug="world", name="World"))
        s.add(Author(slug="ada", name="Ada Lovelace"))
        user = User(name="bench", password_hash="unused")
        s.add(user)
        s.flush()
        token = accounts.create_token(s, user, "bench")

    ports = _free_ports(hosts)
    arrivals: Any = multiprocessing.Queue()
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=_receiver, args=(ports, arrivals, ready), daemon=True)
    receiver.start()
    ready.wait(10)

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        def post(self, path: str, **kw: Any) -> Any:
            return client.post(path, headers=headers, **kw)

    topic = "http://localhost/sections/world/feed.atom"
    start = time.perf_counter()
    for i in range(subscribers):
        callback = f"http://127.0.0.1:{ports[i % hosts]}/cb/{i}?n={i}"
        r = client.post(
            "/websub",
            data={
                "hub.mode": "subscribe",
                "hub.topic": topic,
                "hub.callback": callback,
                "hub.secret": f"secret-{i}",
            },
        )
        assert r.status_code == 202, r.data
    requests_s = time.perf_counter() - start

    def deliverer(concurrency: int, per_host: int) -> Deliverer:
        settings = HubSettings.from_config(
            {**app.config, "WEBSUB_CONCURRENCY": concurrency, "WEBSUB_PER_HOST": per_host}
        )
        from feedserver.aggregation.poller import sqlite_lock

        return Deliverer(db, settings, app_renderer(app), lock=sqlite_lock(db))

    verify_s = _wait_active(db, subscribers, deliverer(32, 8))
    results: dict[str, Any] = {
        "subscribers": subscribers,
        "hosts": hosts,
        "database": "postgresql" if database_url else "sqlite",
        "subscribe_requests_s": round(requests_s, 3),
        "verify_all_s": round(verify_s, 3),
        "runs": {},
    }
    for name, (concurrency, per_host) in (
        ("baseline_sequential", (1, 1)),
        ("ours", (32, 8)),
        ("ours_again", (32, 8)),
    ):
        last, first = _publish_and_time(
            Api(), arrivals, subscribers, deliverer(concurrency, per_host), f"Article {name}"
        )
        results["runs"][name] = {
            "concurrency": concurrency,
            "per_host": per_host,
            "first_delivery_s": round(first, 3),
            "last_delivery_s": round(last, 3),
            "deliveries_per_s": round(subscribers / max(last - first, 1e-6), 1),
        }
    receiver.terminate()
    ours = statistics.median(
        [results["runs"][k]["last_delivery_s"] for k in ("ours", "ours_again")]
    )
    results["speedup_vs_baseline"] = round(
        results["runs"]["baseline_sequential"]["last_delivery_s"] / ours, 2
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL (an empty database)")
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    results = run(args.subscribers, args.hosts, args.pg)
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = out / f"{stamp}-websub-fanout-{results['database']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
