"""Steady-state poll benchmark: every upstream answers 304; ours against the naive script.

    python bench/poll_steady.py [--feeds 1000] [--scale 10000] [--rounds 5]

The same nginx farm as bench/poll.py (its feeds, its nginx set-up, its
measured children), but without the first poll: the validators a first poll
would have stored (ETag, Last-Modified) are read from nginx with one HEAD per
feed and written into both databases, so the 10,000-source figure does not
wait for 10,000 first polls. Three programs are measured, each run in its own
process, alternately, ``--rounds`` times (medians shown):

- ``cli``: ``feedserver poll --once`` as an operator runs it (the console
  script's code in-process: settings from FEEDSERVER_* variables, the app
  for commands, the schema check, the poll, the summary line);
- ``library``: bench/poll.py's child (``poll_once`` on a ``Database``);
- ``naive``: bench/naive_poll.py (requests + feedparser + sqlite3, sequential).

"start" is the time from the child's first line to its first upstream
connection (an audit hook on ``socket.connect``): imports, settings, the
database and the claim. With ``--scale N`` the whole measurement is repeated
on N feeds in the same run, and the growth N-figure / first-figure printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import poll as base  # noqa: E402  # bench/poll.py: the farm and the library child

ROOT = base.ROOT


def seed_validators(port: int, paths: list[str], ours_db: str, naive_db: str) -> None:
    """Store each feed's ETag and Last-Modified as a first poll would have (not measured)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = []
    for path in paths:
        conn.request("HEAD", path)
        response = conn.getresponse()
        response.read()
        url = f"http://127.0.0.1:{port}{path}"
        seen.append((url, response.getheader("ETag"), response.getheader("Last-Modified")))
    conn.close()
    with sqlite3.connect(ours_db) as db:
        db.executemany(
            "UPDATE sources SET etag = ?, last_modified = ?, last_status = 200 WHERE feed_url = ?",
            [(etag, modified, url) for url, etag, modified in seen],
        )
    with sqlite3.connect(naive_db) as db:  # the tables naive_poll.py creates
        db.execute("CREATE TABLE feeds (url TEXT PRIMARY KEY, etag TEXT, modified TEXT)")
        db.execute(
            "CREATE TABLE entries (feed TEXT, guid TEXT, title TEXT, link TEXT,"
            " summary TEXT, published TEXT, PRIMARY KEY (feed, guid))"
        )
        db.executemany("INSERT INTO feeds VALUES (?, ?, ?)", seen)


def first_connection() -> list[float]:
    """A list that gets the time of this process's first ``socket.connect`` (an audit hook)."""
    first: list[float] = []

    def hook(event: str, _args: object) -> None:
        if event == "socket.connect" and not first:
            first.append(time.perf_counter())

    sys.addaudithook(hook)
    return first


def cli_child(db_path: str, port: int, tmp: str) -> None:
    """``feedserver poll --once`` in this process; print its figures as JSON."""
    started = time.perf_counter()
    first = first_connection()
    os.environ.update(
        FEEDSERVER_DATABASE_URL=f"sqlite:///{db_path}",
        FEEDSERVER_UPSTREAM_ALLOWLIST=f"127.0.0.1:{port}",
        FEEDSERVER_POLL_CONCURRENCY="16",
        FEEDSERVER_POLL_PER_HOST="8",
        FEEDSERVER_INSTANCE_PATH=tmp,
    )
    from feedserver.cli import main

    try:
        main(["poll", "--once"], prog_name="feedserver")
    except SystemExit as exc:
        if exc.code:
            raise
    wall = time.perf_counter() - started
    report(wall, (first[0] if first else time.perf_counter()) - started, db_path)


def report(wall: float, start: float, db_path: str) -> None:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    with sqlite3.connect(db_path) as db:
        polled = db.execute(
            "SELECT count(*) FROM sources WHERE last_status = 304 AND error_count = 0"
        ).fetchone()[0]
    print(json.dumps({"wall": wall, "start": start, "cpu": cpu, "polled": polled}))


def measured(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def library_child(db_path: str, urls: str, port: int) -> None:
    """bench/poll.py's child, with "start" taken at the first connection like the others."""
    started = time.perf_counter()
    first = first_connection()
    from feedserver.aggregation.poller import poll_once
    from feedserver.aggregation.refresh import PollSettings
    from feedserver.db import Database

    db = Database.from_url(f"sqlite:///{db_path}")
    poll_once(db, PollSettings(allowlist=f"127.0.0.1:{port}", concurrency=16, per_host=8))
    wall = time.perf_counter() - started
    report(wall, (first[0] if first else time.perf_counter()) - started, db_path)


def naive_child(db_path: str, urls: str) -> None:
    started = time.perf_counter()
    first = first_connection()
    import naive_poll

    naive_poll.main(db_path, urls)
    wall = time.perf_counter() - started
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = me.ru_utime + me.ru_stime
    start = (first[0] if first else time.perf_counter()) - started
    print(json.dumps({"wall": wall, "start": start, "cpu": cpu, "polled": 0}))


def farm(feeds: int, entries: int, rounds: int, nginx: str) -> dict[str, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="feedserver-steadybench-"))
    tmp.chmod(0o755)  # nginx's workers may run as another user
    port = base.free_port()
    server: subprocess.Popen[bytes] | None = None
    try:
        paths = base.write_feeds(tmp / "www", feeds, entries)
        (tmp / "nginx.conf").write_text(base.NGINX_CONF.format(tmp=tmp, port=port))
        server = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf")], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        urls = [f"http://127.0.0.1:{port}{p}" for p in paths]
        (tmp / "urls.txt").write_text("\n".join(urls))
        ours_db, naive_db = str(tmp / "ours.db"), str(tmp / "naive.db")
        base.prepare_ours(ours_db, urls)
        seed_validators(port, paths, ours_db, naive_db)
        common = ["--urls", str(tmp / "urls.txt"), "--port", str(port), "--tmp", str(tmp)]
        runs: dict[str, list[dict[str, float]]] = {"cli": [], "library": [], "naive": []}
        for _ in range(rounds):
            for kind in runs:
                db = naive_db if kind == "naive" else ours_db
                if kind != "naive":
                    base.make_due(ours_db)
                runs[kind].append(measured(["--child", kind, "--db", db, *common]))
        for kind in ("cli", "library"):
            polled = min(r["polled"] for r in runs[kind])
            if polled != feeds:  # every source must have had its 304, or the figure lies
                raise SystemExit(f"{kind}: only {polled} of {feeds} sources answered 304")
        return {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def show(feeds: int, results: dict[str, dict[str, float]]) -> None:
    naive = results["naive"]
    print(f"{feeds} feeds, every answer 304 (medians)")
    print(
        f"  {'run':10} {'wall s':>8} {'start s':>8} {'cpu s':>8} {'×naive':>7} {'× w/o start':>12}"
    )
    for kind, r in results.items():
        ratio = r["wall"] / naive["wall"]
        bare = (r["wall"] - r["start"]) / (naive["wall"] - naive["start"])
        print(
            f"  {kind:10} {r['wall']:8.3f} {r['start']:8.3f} {r['cpu']:8.3f} {ratio:7.2f} {bare:12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=0, help="also measure this many feeds")
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["cli", "library", "naive"])
    parser.add_argument("--db")
    parser.add_argument("--urls")
    parser.add_argument("--tmp")
    parser.add_argument("--port", type=int, default=0)
    opts = parser.parse_args()
    if opts.child == "cli":
        return cli_child(opts.db, opts.port, opts.tmp)
    if opts.child == "library":
        return library_child(opts.db, opts.urls, opts.port)
    if opts.child == "naive":
        return naive_child(opts.db, opts.urls)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    small = farm(opts.feeds, opts.entries, opts.rounds, nginx)
    show(opts.feeds, small)
    if opts.scale:
        large = farm(opts.scale, opts.entries, opts.rounds, nginx)
        show(opts.scale, large)
        for kind in small:
            growth = large[kind]["wall"] / small[kind]["wall"]
            bare = (large[kind]["wall"] - large[kind]["start"]) / (
                small[kind]["wall"] - small[kind]["start"]
            )
            print(
                f"  {kind}: {opts.scale // opts.feeds}× the feeds took {growth:.2f}× the wall time ({bare:.2f}× without start-up)"
            )


if __name__ == "__main__":
    main()
