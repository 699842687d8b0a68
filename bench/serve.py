"""Drive the production server with wrk, next to nginx serving the same bytes.

    python -m bench.serve --url sqlite:///bench/data/10k.db --duration 8

For each WSGI server setup (gunicorn sync and gthread, bjoern, granian; with
and without the fast feed path) it starts the app on loopback and measures,
with wrk (2 threads x 32 connections): a section's RSS, an author's Atom, the
site JSON Feed, the 304 path (If-None-Match), and an article page; then the
cold render of a 20-item feed right after a publish (single requests, timed
from here). In the same run nginx serves the identical feed bytes as static
files (its own ETag), the physical reference: every figure comes with its
ratio to nginx. Each load of a server is paired with the same load on nginx
run just before it (``--rounds`` pairs, median ratio), so a machine that
other work slows down mid-run slows both sides of a ratio alike; and each
load reports the CPU time the server's processes spent per request (user +
system, from /proc), which other work on the machine disturbs far less than
requests per second. Results: a JSON file and a Markdown table (bench/report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(PY).parent

FEEDS = {
    "section RSS": "/sections/world/feed.rss",
    "author Atom": "/authors/author-1/feed.atom",
    "site JSON Feed": "/feed.json",
}
SERVERS: dict[str, tuple[list[str], dict[str, str]]] = {
    # name: (command, extra environment); {port} and {workers} are filled in.
    "gunicorn sync (Flask only)": (
        [str(BIN / "gunicorn"), "-k", "sync", "-w", "{workers}", "-b", "127.0.0.1:{port}",
         "wsgi:app"],
        {"FEEDSERVER_FAST_FEEDS": "false"},
    ),
    "gunicorn sync": (
        [str(BIN / "gunicorn"), "-k", "sync", "-w", "{workers}", "-b", "127.0.0.1:{port}",
         "wsgi:app"],
        {},
    ),
    "gunicorn gthread 4 threads": (
        [str(BIN / "gunicorn"), "-k", "gthread", "--threads", "4", "-w", "{workers}",
         "-b", "127.0.0.1:{port}", "wsgi:app"],
        {},
    ),
    "granian": (
        [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}",
         "--workers", "{workers}", "--blocking-threads", "1", "--log-level", "warning",
         "wsgi:app"],
        {},
    ),
    "bjoern": (
        [PY, "-m", "bench.bjoern_server", "--bind", "127.0.0.1:{port}", "--workers", "{workers}"],
        {},
    ),
    # The ceiling of a WSGI app on granian: the same bytes from memory (bench/bare_wsgi.py).
    "granian bare": (
        [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}",
         "--workers", "{workers}", "--blocking-threads", "1", "--log-level", "warning",
         "bench.bare_wsgi:app"],
        {},
    ),
    # The same through granian's RSGI interface (bench/bare_rsgi.py).
    "granian bare (RSGI)": (
        [str(BIN / "granian"), "--interface", "rsgi", "--host", "127.0.0.1", "--port", "{port}",
         "--workers", "{workers}", "--log-level", "warning", "bench.bare_rsgi:app"],
        {},
    ),
    # The production command (granian under feedserver's own supervisor).
    "feedserver serve": (
        [str(BIN / "feedserver"), "serve", "--port", "{port}", "--workers", "{workers}",
         "--no-poller"],
        {},
    ),
    "feedserver serve (metrics off)": (
        [str(BIN / "feedserver"), "serve", "--port", "{port}", "--workers", "{workers}",
         "--no-poller"],
        {"FEEDSERVER_METRICS": "false"},
    ),
    "feedserver serve --threads 1": (
        [str(BIN / "feedserver"), "serve", "--port", "{port}", "--workers", "{workers}",
         "--no-poller", "--threads", "1"],
        {},
    ),
    "feedserver serve --threads 4": (
        [str(BIN / "feedserver"), "serve", "--port", "{port}", "--workers", "{workers}",
         "--no-poller", "--threads", "4"],
        {},
    ),
}  # fmt: skip


@dataclass
class Load:
    """One wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    bytes_per_response: float
    errors: int
    requests: int


@dataclass
class ServerResult:
    name: str
    loads: dict[str, Load] = field(default_factory=dict)
    cold_ms: dict[str, float] = field(default_factory=dict)
    worker_rss_mb: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    # Per load: nginx's same load run just before (median pair), the median
    # ratio of the pairs, and CPU µs per request of the server and of nginx.
    nginx_pairs: dict[str, Load] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    cpu_us: dict[str, float] = field(default_factory=dict)
    nginx_cpu_us: dict[str, float] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    assert match, value
    return float(match[1]) * _UNITS[match[2]]


def wrk(url: str, duration: int, headers: dict[str, str] | None = None) -> Load:
    """Run wrk -t2 -c32 with --latency and parse what it prints."""
    cmd = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", url]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rps = float(found[1]) if found else 0.0
    found50 = re.search(r"^\s+50%\s+(\S+)$", out, re.M)
    found99 = re.search(r"^\s+99%\s+(\S+)$", out, re.M)
    p50 = _ms(found50[1]) if found50 else float("nan")
    p99 = _ms(found99[1]) if found99 else float("nan")
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    assert total, out
    requests = int(total[1])
    read = float(total[2]) * _SIZES[total[3]]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad[1]) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return Load(rps, p50, p99, read / max(requests, 1), errors, requests)


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen[Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            fetch(port, "/feed.rss")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(
    pids: list[int], url: str, duration: int, headers: dict[str, str] | None = None
) -> tuple[Load, float]:
    """A wrk load, and the CPU µs per request the processes ``pids`` spent on it."""
    before = cpu_seconds(pids)
    load = wrk(url, duration, headers)
    spent = cpu_seconds(pids) - before
    return load, spent / max(load.requests, 1) * 1e6


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Nginx:
    """nginx serving a directory of static files on one port (the reference)."""

    def __init__(self, root: Path, port: int, workers: int) -> None:
        self.root, self.port = root, port
        root.mkdir(parents=True, exist_ok=True)
        self.prefix = Path(tempfile.mkdtemp(prefix="feedserver-nginx-"))
        conf = self.prefix / "nginx.conf"
        conf.write_text(f"""
worker_processes {workers};
daemon off;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on; tcp_nopush on; keepalive_requests 1000000;
    types {{ application/rss+xml rss; application/atom+xml atom;
             application/feed+json json; text/html html; }}
    charset utf-8;
    charset_types application/rss+xml application/atom+xml application/feed+json;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        etag on;
        gzip_static on;  # the same pre-compressed bytes, as our cache keeps them
    }}
}}
""")
        self.proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.prefix), "-e", str(self.prefix / "e.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=10)
        shutil.rmtree(self.prefix, ignore_errors=True)


def start_server(name: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[Any]:
    command, extra = SERVERS[name]
    cmd = [part.format(port=port, workers=workers) for part in command]
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def stop_server(proc: subprocess.Popen[Any]) -> None:
    pids = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cold_render(url: str, port: int, path: str, times: int = 15) -> list[float]:
    """Publish an article into the feed's scope, then time the first GET; repeat."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from feedserver.db import Database
    from feedserver.models import Article, Author, Section

    db = Database.from_url(url)
    timings, made, lags = [], [], []
    try:
        for i in range(times):
            with db.session() as s:
                article = Article(
                    slug=f"bench-cold-{os.getpid()}-{i}",
                    title=f"Breaking {i}",
                    summary="Published by the benchmark.",
                    body_html="<p>" + "News. " * 800 + "</p>",
                    section=s.scalar(select(Section).where(Section.slug == "world")),
                    published_at=datetime.now(UTC),
                )
                s.add(article)
                article.set_authors([s.scalar(select(Author).where(Author.slug == "author-1"))])
                s.flush()
                made.append(article.id)
            published = time.perf_counter()
            while True:  # PostgreSQL: the NOTIFY reaches the workers asynchronously
                started = time.perf_counter()
                status, _, body = fetch(port, path)
                elapsed = (time.perf_counter() - started) * 1000
                if f"Breaking {i}<".encode() in body:
                    break
                assert time.perf_counter() - published < 5, "publish not visible after 5 s"
                time.sleep(0.005)
            timings.append(elapsed)
            lags.append((time.perf_counter() - published) * 1000)
    finally:
        with db.session() as s:
            for ident in made:
                s.delete(s.get(Article, ident))
        db.engine.dispose()
    return timings, lags


def run(
    url: str, servers: list[str], workers: int, duration: int, port: int = 8600, rounds: int = 1
) -> dict[str, Any]:
    env = {
        **os.environ,
        "FEEDSERVER_DATABASE_URL": url,
        "FEEDSERVER_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDSERVER_INSTANCE_PATH": tempfile.mkdtemp(prefix="feedserver-bench-instance-"),
        "FEEDSERVER_RUN_POLLER": "false",
        "PYTHONPATH": str(ROOT),
    }
    static = Path(tempfile.mkdtemp(prefix="feedserver-static-"))
    env["BENCH_STATIC"] = str(static)  # what "granian bare" serves (written by the first server)
    static.chmod(0o755)  # nginx's workers run as an unprivileged user
    results: list[ServerResult] = []
    nginx_loads: dict[str, Load] = {}
    article_path = "/articles/story-5000"
    nginx: Nginx | None = None
    nginx_base = f"http://127.0.0.1:{port + 1}"
    try:
        for name in servers:
            proc = start_server(name, port, workers, env)
            try:
                wait_ready(port, proc)
                result = ServerResult(name)
                etags = {}
                for label, path in FEEDS.items():
                    status, headers, body = fetch(port, path)
                    assert status == 200, (path, status)
                    etags[label] = headers["etag"]
                    if nginx is None:  # the same bytes, for nginx
                        target = static / path.lstrip("/")
                        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                        target.write_bytes(body)
                        _, _, zipped = fetch(port, path, {"Accept-Encoding": "gzip"})
                        target.with_name(target.name + ".gz").write_bytes(zipped)
                if nginx is None:
                    nginx = Nginx(static, port + 1, workers)
                _, headers, _ = fetch(port + 1, FEEDS["section RSS"])
                nginx_etag = headers["etag"]
                section = FEEDS["section RSS"]
                loads: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
                    label: (path, {}, {}) for label, path in FEEDS.items()
                }
                loads["304 (If-None-Match)"] = (
                    section,
                    {"If-None-Match": etags["section RSS"]},
                    {"If-None-Match": nginx_etag},
                )
                loads["section RSS, gzip"] = (
                    section,
                    {"Accept-Encoding": "gzip"},
                    {"Accept-Encoding": "gzip"},
                )
                ours = [proc.pid, *descendants(proc.pid)]
                theirs = [nginx.proc.pid, *descendants(nginx.proc.pid)]
                for label, (path, headers, nginx_headers) in loads.items():
                    pairs = []
                    for _ in range(max(1, rounds)):
                        reference = measured(theirs, nginx_base + path, duration, nginx_headers)
                        load = measured(ours, f"http://127.0.0.1:{port}{path}", duration, headers)
                        pairs.append((load[0].rps / max(reference[0].rps, 1.0), load, reference))
                    pairs.sort(key=lambda pair: pair[0])
                    ratio, (load, cpu), (reference, nginx_cpu) = pairs[len(pairs) // 2]
                    result.loads[label] = load
                    result.nginx_pairs[label] = reference
                    result.ratios[label] = ratio
                    result.cpu_us[label] = cpu
                    result.nginx_cpu_us[label] = nginx_cpu
                    nginx_loads.setdefault(label, reference)
                result.worker_rss_mb = [rss_mb(pid) for pid in descendants(proc.pid)]
                if name.startswith("granian bare"):  # feeds only: no pages, nothing to publish
                    results.append(result)
                    continue
                status, _, _ = fetch(port, article_path)
                result.statuses["article page"] = status
                result.loads["article page"] = wrk(
                    f"http://127.0.0.1:{port}{article_path}", duration
                )
                cold, lags = cold_render(url, port, FEEDS["section RSS"])
                result.cold_ms = {
                    "median": statistics.median(cold),
                    "max": max(cold),
                    "publish_to_fresh_median": statistics.median(lags),
                    "publish_to_fresh_max": max(lags),
                }
                results.append(result)
            finally:
                stop_server(proc)
    finally:
        if nginx is not None:
            nginx.stop()
        shutil.rmtree(static, ignore_errors=True)
    return {
        "url": url,
        "workers": workers,
        "duration": duration,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "nginx": {k: asdict(v) for k, v in nginx_loads.items()},
        "servers": [asdict(r) for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="nginx/server pairs per load")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        sys.exit("wrk and nginx are needed: apt-get install -y wrk nginx-light")
    names = [n for n in args.servers.split(",") if n]
    data = run(args.url, names, args.workers, args.duration, args.port, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
