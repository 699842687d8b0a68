"""Poll benchmark: our poller against a naive sequential script, same upstreams, one run.

    python bench/poll.py [--feeds 1000] [--entries 20] [--parse-processes 1] [--rounds 3]
                         [--html-kb 1] [--text uniform|varied] [--no-stories]
                         [--pg] [--workers 1,2]

Writes N RSS feeds (about 35 kB each) to a temporary directory, serves them from
nginx on 127.0.0.1 (which answers If-None-Match/If-Modified-Since itself), and
measures, for `feedserver`'s poller (SQLite) and for bench/naive_poll.py
(requests + feedparser + sqlite3): the first poll, a steady-state poll where
every upstream answers 304, entries stored per second, CPU time (the process
and its children) and peak memory (largest resident set among them). Each
measured run is its own process, so the figures are that run's alone; "start"
is the part of its wall time spent importing and setting up before the first
request (what a long-running worker pays once). The steady-state runs are
repeated ``--rounds`` times, ours and naive alternately, and the medians shown,
since on a shared machine one run can be off by half.

Farms: by default every item carries the same five paragraphs (``--text
uniform``, the farm of the earlier figures): to story grouping, 20,000 reports
of one story. ``--text varied`` draws each item's words from a vocabulary
(seeded, so runs are repeatable), as real feeds differ; ``--html-kb 1`` gives
items ~1 kB of HTML. ``--no-stories`` runs ours with story grouping off
(FEEDSERVER_STORIES=0), to tell its cost from the rest of the refresh.

``--pg`` stores ours in a throw-away PostgreSQL database
(``FEEDSERVER_BENCH_PG``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/``)
and ``--workers 1,2`` measures a first poll by 1 and then by 2 poller processes
sharing it (each a ``poll_once`` on its own, claims with SKIP LOCKED), each on
a fresh database; the naive script stays on SQLite, as the yardstick.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = """
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    types {{ application/rss+xml xml; }}
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        etag on;
    }}
}}
"""
PARAGRAPH = (
    '<p>The council met on Tuesday to discuss the <a href="/city/budget">budget</a> for the '
    "coming year, with <em>several</em> members asking for more detail on transport, housing "
    "and the library service before any vote is taken.</p>"
)


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "te",
    "vo",
    "bri",
    "dan",
    "fel",
    "gor",
    "hul",
    "jin",
]
STOPWORDS = ["the", "of", "and", "to", "in", "a", "for", "on", "with", "was", "at", "by"]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    """Made-up words of two to four syllables (no two articles share many by chance)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def varied_html(rng: random.Random, vocab: list[str], size: int) -> str:
    """Paragraphs of ``words`` (a third stopwords), a link each, about ``size`` characters."""
    out: list[str] = []
    length = 0
    while length < size:
        words = [
            rng.choice(STOPWORDS if rng.random() < 0.33 else vocab)
            for _ in range(rng.randint(18, 30))
        ]
        where = rng.randint(2, len(words) - 2)
        path = "/".join(rng.sample(vocab, 2))
        words[where] = f'<a href="/{path}">{words[where]}</a>'
        words[where + 1] = f"<em>{words[where + 1]}</em>"
        para = "<p>" + " ".join(words).capitalize() + ".</p>"
        out.append(para)
        length += len(para)
    return "".join(out)


def write_feeds(
    www: Path, feeds: int, entries: int, html_kb: float | None = None, text: str = "uniform"
) -> list[str]:
    """Write the upstream feeds; return their paths.

    Each item's description holds five paragraphs of HTML (~1.3 kB), or about
    ``html_kb`` kB of them when given (the "~1 kB of HTML per item" farm):
    the same paragraph everywhere (``text="uniform"``) or words drawn for each
    item (``"varied"``).
    """
    paragraphs = 5 if html_kb is None else max(1, round(html_kb * 1024 / len(PARAGRAPH)))
    www.mkdir(parents=True)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rng = random.Random(12)
    vocab = vocabulary(rng)
    paths = []
    for f in range(feeds):
        items = []
        for e in range(entries):
            when = format_datetime(base - timedelta(hours=f + e * 7), usegmt=True)
            if text == "varied":
                body = escape(varied_html(rng, vocab, len(PARAGRAPH) * paragraphs))
                title = " ".join(rng.choice(vocab) for _ in range(6)).capitalize()
            else:
                body = escape(PARAGRAPH * paragraphs + f"<p>Feed {f}, entry {e}.</p>")
                title = f"Feed {f} story {e}: council budget &amp; more"
            items.append(
                f"<item><title>{title}</title>"
                f"<link>https://upstream{f}.example/stories/{e}</link>"
                f'<guid isPermaLink="false">upstream{f}-story-{e}</guid>'
                f"<pubDate>{when}</pubDate><dc:creator>Reporter {e % 7}</dc:creator>"
                f"<description>{body}</description></item>"
            )
        doc = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Upstream {f}</title><link>https://upstream{f}.example/</link>"
            f"<description>Bench feed {f}</description>{''.join(items)}</channel></rss>"
        )
        (www / f"feed{f}.xml").write_text(doc)
        paths.append(f"/feed{f}.xml")
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measured(args: list[str]) -> dict[str, float]:
    """Run one measured child (this script with --child …) and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measured_together(args: list[str], n: int) -> dict[str, float]:
    """Run ``n`` measured children at once: wall until the last ends, CPU summed, peak max."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        for _ in range(n)
    ]
    runs = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, proc.args)
        runs.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "start": max(r["start"] for r in runs),
        "cpu": sum(r["cpu"] for r in runs),
        "stored": max(r["stored"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def child(
    kind: str, db_path: str, urls_file: str, port: int, parse_processes: int, stories: bool = True
) -> None:
    """One measured poll, in its own process; print its figures as JSON."""
    started = time.perf_counter()
    if kind == "naive":
        sys.path.insert(0, str(ROOT / "bench"))
        import naive_poll

        ready = time.perf_counter()
        naive_poll.main(db_path, urls_file)
        import sqlite3

        stored = sqlite3.connect(db_path).execute("SELECT count(*) FROM entries").fetchone()[0]
    else:
        from sqlalchemy import func, select

        from feedserver.aggregation.poller import poll_once
        from feedserver.aggregation.refresh import PollSettings
        from feedserver.db import Database
        from feedserver.models import Article

        db = Database.from_url(db_url(db_path))
        db.sessions.configure(info={"feedserver_stories": stories})
        settings = PollSettings(
            allowlist=f"127.0.0.1:{port}",
            concurrency=16,
            per_host=8,
            parse_processes=parse_processes,
        )
        ready = time.perf_counter()
        profile_to = os.environ.get("BENCH_PROFILE")  # a file: cProfile the poll into it
        if profile_to:
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(poll_once, db, settings)
            profiler.dump_stats(profile_to)
        else:
            poll_once(db, settings)
        with db.session() as session:
            stored = session.scalar(select(func.count(Article.id)))
    wall = time.perf_counter() - started
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    figures = {"wall": wall, "start": ready - started, "cpu": cpu, "stored": stored}
    figures["rss_mb"] = max(me.ru_maxrss, kids.ru_maxrss) / 1024
    print(json.dumps(figures))


def db_url(db: str) -> str:
    """A database URL as is, a file path as SQLite."""
    return db if "://" in db else f"sqlite:///{db}"


def prepare_ours(db_path: str, urls: list[str]) -> None:
    """Create the database and one source per upstream (not measured)."""
    from feedserver.db import Database
    from feedserver.migrate import upgrade
    from feedserver.models import Source

    if db_path.startswith("postgresql"):
        from bench.dataset import ensure_postgres_database

        ensure_postgres_database(db_path, fresh=True)
    db = Database.from_url(db_url(db_path))
    upgrade(db.engine)
    with db.session() as session:
        for i, url in enumerate(urls):
            session.add(Source(slug=f"upstream-{i}", name=f"Upstream {i}", feed_url=url))
    db.engine.dispose()


def make_due(db_path: str) -> None:
    from sqlalchemy import update

    from feedserver.db import Database
    from feedserver.models import Source

    db = Database.from_url(db_url(db_path))
    with db.session() as session:
        session.execute(update(Source).values(next_fetch_at=None))
    db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--parse-processes", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="steady-state runs of each (median)")
    parser.add_argument(
        "--html-kb", type=float, default=None, help="~kB of HTML per item (default ~1.3)"
    )
    parser.add_argument("--text", choices=["uniform", "varied"], default="uniform")
    parser.add_argument("--no-stories", action="store_true", help="ours without story grouping")
    parser.add_argument("--pg", action="store_true", help="ours on PostgreSQL")
    parser.add_argument(
        "--workers", default="1", help="poller processes for ours' first poll, e.g. 1,2"
    )
    parser.add_argument("--child", choices=["ours", "naive"])
    parser.add_argument("--db")
    parser.add_argument("--urls")
    parser.add_argument("--port", type=int, default=0)
    opts = parser.parse_args()
    if opts.child:
        child(opts.child, opts.db, opts.urls, opts.port, opts.parse_processes, not opts.no_stories)
        return
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = Path(tempfile.mkdtemp(prefix="feedserver-pollbench-"))
    tmp.chmod(0o755)  # nginx's workers may run as another user
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    workers = [int(w) for w in opts.workers.split(",")]
    pg_base = os.environ.get("FEEDSERVER_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    pg_dbs: list[str] = []
    try:
        paths = write_feeds(tmp / "www", opts.feeds, opts.entries, opts.html_kb, opts.text)
        size = sum(p.stat().st_size for p in (tmp / "www").iterdir()) / len(paths)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port))
        server = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf")], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        urls = [f"http://127.0.0.1:{port}{p}" for p in paths]
        urls_file = tmp / "urls.txt"
        urls_file.write_text("\n".join(urls))
        print(
            f"{len(urls)} feeds × {opts.entries} entries, {size / 1024:.0f} kB each,"
            f" text {opts.text}, stories {'off' if opts.no_stories else 'on'},"
            f" {'PostgreSQL' if opts.pg else 'SQLite'}; nginx on 127.0.0.1:{port}"
        )
        naive_db = str(tmp / "naive.db")
        common = ["--urls", str(urls_file), "--port", str(port)]
        common += ["--parse-processes", str(opts.parse_processes)]
        common += ["--no-stories"] if opts.no_stories else []
        results = {}
        ours_db = ""
        for n in workers:
            ours_db = str(tmp / f"ours{n}.db")
            if opts.pg:
                ours_db = f"{pg_base.rstrip('/')}/feedserver_bench_poll_{os.getpid()}_{n}"
                pg_dbs.append(ours_db)
            prepare_ours(ours_db, urls)
            name = "feedserver first" + (f" ×{n}" if len(workers) > 1 or n > 1 else "")
            args = ["--child", "ours", "--db", ours_db, *common]
            results[name] = measured(args) if n == 1 else measured_together(args, n)
        results["naive first"] = measured(["--child", "naive", "--db", naive_db, *common])
        steady: dict[str, list[dict[str, float]]] = {"feedserver": [], "naive": []}
        for _ in range(opts.rounds):
            make_due(ours_db)
            steady["feedserver"].append(measured(["--child", "ours", "--db", ours_db, *common]))
            steady["naive"].append(measured(["--child", "naive", "--db", naive_db, *common]))
        for who, runs in steady.items():
            if runs:
                results[f"{who} steady (304)"] = {
                    key: statistics.median(r[key] for r in runs) for key in runs[0]
                }
        report(results)
    finally:
        if server is not None:  # also when a run fails or is interrupted
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        if pg_dbs:
            from bench.dataset import drop_postgres_database

            for url in pg_dbs:
                drop_postgres_database(url)


def report(results: dict[str, dict[str, float]]) -> None:
    print(
        f"{'run':26} {'wall s':>8} {'start s':>8} {'cpu s':>8} {'entries/s':>10} {'peak MB':>8} {'stored':>7}"
    )
    for name, r in results.items():
        rate = r["stored"] / r["wall"] if "first" in name else 0
        print(
            f"{name:26} {r['wall']:8.2f} {r['start']:8.2f} {r['cpu']:8.2f} {rate:10.0f}"
            f" {r['rss_mb']:8.0f} {r['stored']:7.0f}"
        )
    naive = results["naive first"]
    for name, ours in results.items():
        if name.startswith("feedserver first"):
            print(
                f"{name[11:]}: ours/naive wall {ours['wall'] / naive['wall']:.2f}×,"
                f" cpu {ours['cpu'] / naive['cpu']:.2f}×;"
                f" without start-up wall {(ours['wall'] - ours['start']) / (naive['wall'] - naive['start']):.2f}×"
            )
    firsts = [r for name, r in results.items() if name.startswith("feedserver first ×")]
    if len(firsts) > 1:
        print(
            f"first poll, last workers / first workers: wall {firsts[-1]['wall'] / firsts[0]['wall']:.2f}×"
        )
    if "feedserver steady (304)" in results:
        ours, naive = results["feedserver steady (304)"], results["naive steady (304)"]
        print(
            f"steady (304): ours/naive wall {ours['wall'] / naive['wall']:.2f}×,"
            f" cpu {ours['cpu'] / naive['cpu']:.2f}×;"
            f" without start-up wall {(ours['wall'] - ours['start']) / (naive['wall'] - naive['start']):.2f}×"
        )


if __name__ == "__main__":
    main()
