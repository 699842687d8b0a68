"""Cost of grouping one new article as the archive grows: 10k, 300k and 1M articles.

    .venv/bin/python -m bench.story_scale [--sizes 10000,300000,1000000] [--busy 1]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each size, a fresh SQLite database (or, with ``--postgres``, a database
``story_bench_<n>_x<busy>`` on that server, loaded with COPY) gets N articles with their
``story_terms`` and ``story_entries`` rows by bulk insert (sqlite3
executemany; the ORM and the hook are not involved), published at a steady
rate of one every three minutes (480 a day), like a site that grows by
getting older, not by publishing more per day: 10k articles span three
weeks, 1M span almost six years. ``--busy K`` makes the last four days K
times as dense (a news peak), to show that a busy window costs no more per
article. Titles and summaries are drawn from a vocabulary of 4,000 invented
words; the index rows and features are what grouping itself files.

Then new articles (every other one a new story, the next another source's
rewrite of it, which joins it) are stored one at a time at the end of the
timeline, :func:`feedserver.stories.grouping.group_new` is timed for each,
and each is committed, as the poller does (the archive grows by a few
hundred articles: nothing next to N). First ``--warmup`` articles are stored
untimed: the figure is the steady cost of a long-running poller. Why commit
rather than roll back: an index built in bulk by CREATE INDEX has full
leaves (SQLite packs them; PostgreSQL leaves 10%), so with rollbacks every
measured insert would pay a leaf split — and at 1M a cascade of them — that
a growing index pays once per leaf, not per article. The sizes are measured in turns (one article on each, round after
round), so the machine's load drifts over all of them alike. The figures are
medians; the ratio of each size to the smallest is the result: the candidate
index reads only the ±72 hours around the article, at most a fixed number of
rows per word, so it should stay near 1 (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, insert, make_url
from sqlalchemy.orm import Session

from feedserver.db import Database
from feedserver.models import Article, Base, StoryTerm
from feedserver.stories.grouping import group_new
from feedserver.stories.similarity import document, encode, index_terms

START = datetime(2020, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=3)
BUSY_DAYS = 4
SOURCES = 20
VOCABULARY = 4000
RUNS = 100
WARMUP = 1000
RUN_TAG = f"{int(time.time()) % 10**9:09d}"  # names this process's new articles


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "tas", "vo", "dri", "pel", "sun", "gor", "bel", "nix"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def text(rng: random.Random, words: list[str]) -> tuple[str, str]:
    title = " ".join(rng.choice(words) for _ in range(7)).capitalize()
    summary = " ".join(rng.choice(words) for _ in range(25)).capitalize() + "."
    return title, summary


def timeline(n: int, busy: int) -> list[datetime]:
    """Publication times of n articles: 480 a day, ``busy`` times that in the last days."""
    dense = min(n, BUSY_DAYS * 480 * busy) if busy > 1 else 0
    times = [START + STEP * i for i in range(n - dense)]
    end = START + STEP * (n - dense)
    times += [end + STEP / busy * i for i in range(dense)]
    return times


def _rows(
    n: int, busy: int, seed: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Batches of (articles, story_terms, story_entries) rows, dates as datetimes."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    # Terms are drawn for a few thousand distinct texts and reused: what the
    # benchmark measures is the index's size, not document()'s speed.
    pool = [text(rng, words) for _ in range(5000)]
    docs = [document(t, s) for t, s in pool]
    pool_terms = [index_terms(d) for d in docs]
    pool_features = [encode(d) for d in docs]
    arts: list[tuple[Any, ...]] = []
    terms: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    for i, when in enumerate(timeline(n, busy), start=1):
        k = rng.randrange(len(pool))
        title, summary = pool[k]
        source = rng.randint(1, SOURCES)
        arts.append((i, f"{i:032x}", f"a{i}", title, summary, "", 1, source, when, when, when))
        terms.extend((i, t, when) for t in pool_terms[k])
        entries.append((i, pool_features[k]))
        if len(arts) >= 20000:
            yield arts, terms, entries
            arts, terms, entries = [], [], []
    yield arts, terms, entries


_ARTICLE_COLUMNS = (
    "id, uid, slug, title, summary, body_html, section_id, source_id,"
    " published_at, updated_at, created_at"
)
_FIXED = "comments_open, comment_count, story_hidden, story_section_hidden"


def _bare(db: Database) -> list[Any]:
    """Create the schema without the secondary indexes (built after the load); return them."""
    Base.metadata.create_all(db.engine)
    tables: list[Table] = [Article.__table__, StoryTerm.__table__]  # type: ignore[list-item]
    indexes = [index for table in tables for index in table.indexes]
    for index in indexes:
        index.drop(db.engine)
    return indexes


def _finish(db: Database, indexes: list[Any]) -> None:
    for index in indexes:
        index.create(db.engine)
    with db.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    db.engine.dispose()


def build_sqlite(path: str, n: int, busy: int = 1, seed: int = 7) -> float:
    """Create the schema and bulk-load n articles with their index rows; return seconds."""
    db = Database.from_url(f"sqlite:///{path}")
    indexes = _bare(db)
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    now = _ts(START)
    conn.execute(
        "INSERT INTO sections (id, slug, name, description, created_at, updated_at)"
        " VALUES (1, 'news', 'News', '', ?, ?)",
        (now, now),
    )
    conn.executemany(
        "INSERT INTO sources (id, slug, name, enabled, error_count, created_at, updated_at)"
        " VALUES (?, ?, ?, 0, 0, ?, ?)",
        [(i, f"s{i}", f"Source {i}", now, now) for i in range(1, SOURCES + 1)],
    )
    for arts, terms, entries in _rows(n, busy, seed):
        conn.executemany(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, {_FIXED})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0)",
            [(*a[:8], _ts(a[8]), _ts(a[9]), _ts(a[10])) for a in arts],
        )
        conn.executemany(
            "INSERT INTO story_terms (article_id, term, published_at) VALUES (?, ?, ?)",
            [(i, t, _ts(w)) for i, t, w in terms],
        )
        conn.executemany(
            "INSERT INTO story_entries (article_id, features, pinned) VALUES (?, ?, 0)", entries
        )
    conn.execute("COMMIT")
    conn.close()
    _finish(db, indexes)
    return time.perf_counter() - started


def build_postgres(url: str, n: int, busy: int = 1, seed: int = 7) -> float:
    """The same rows into a PostgreSQL database (COPY); return seconds."""
    db = Database.from_url(url)
    indexes = _bare(db)
    started = time.perf_counter()
    with db.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO sections (id, slug, name, description, created_at, updated_at)"
            " VALUES (1, 'news', 'News', '', now(), now())"
        )
        for i in range(1, SOURCES + 1):
            c.exec_driver_sql(
                "INSERT INTO sources (id, slug, name, enabled, error_count, created_at,"
                f" updated_at) VALUES ({i}, 's{i}', 'Source {i}', false, 0, now(), now())"
            )
        raw = c.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            for arts, terms, entries in _rows(n, busy, seed):
                with cur.copy(f"COPY articles ({_ARTICLE_COLUMNS}, {_FIXED}) FROM STDIN") as cp:
                    for a in arts:
                        cp.write_row((*a, True, 0, False, False))
                with cur.copy("COPY story_terms (article_id, term, published_at) FROM STDIN") as cp:
                    for row in terms:
                        cp.write_row(row)
                with cur.copy("COPY story_entries (article_id, features, pinned) FROM STDIN") as cp:
                    for i, features in entries:
                        cp.write_row((i, features, False))
            cur.execute("SELECT setval('articles_id_seq', %s)", (n,))
    _finish(db, indexes)
    return time.perf_counter() - started


def _postgres_database(url: str, n: int, busy: int) -> tuple[str, bool]:
    """The URL of this size's benchmark database on the server of ``url``; whether it is new."""
    name = f"story_bench_{n}_x{busy}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        new = exists.first() is None
        if new:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return str(make_url(url).set(database=name)), new


class Probe:
    """One database under test: new articles at the end of its timeline, timed one by one."""

    def __init__(self, stack: ExitStack, path: str, n: int, end: datetime) -> None:
        self.n, self.end = n, end
        self.db = Database.from_url(path if "://" in path else f"sqlite:///{path}")
        stack.callback(self.db.engine.dispose)
        self.session: Session = stack.enter_context(self.db.sessions())
        self.times: list[float] = []
        self.joined = 0
        # Every size gets the same sequence of new articles, new to any database
        # a previous run left them in.
        self.tag = RUN_TAG
        self.rng = random.Random(RUN_TAG)
        self.stored = 0
        self.last: tuple[str, str, int] = ("", "", 1)

    def run(self, run: int, words: list[str], *, timed: bool = True) -> None:
        session, rng = self.session, self.rng
        self.stored += 1
        if self.stored % 2 == 0:
            # Another source's rewrite of the story the previous article broke.
            title, summary, source = self.last
            source = source % SOURCES + 1
        else:
            title, summary = text(rng, words)
            source = rng.randint(1, SOURCES)
            self.last = (title, summary, source)
        new_id = session.execute(
            insert(Article).returning(Article.id),
            [
                {
                    "slug": f"new-{self.tag}-{self.stored}",
                    "uid": f"{self.tag}-{self.stored:024d}",
                    "title": title,
                    "summary": summary,
                    "body_html": "",
                    "section_id": 1,
                    "source_id": source,
                    "published_at": self.end + timedelta(seconds=self.stored),
                    "updated_at": self.end,
                    "created_at": self.end,
                }
            ],
        ).scalar_one()
        started = time.perf_counter()
        stories = group_new(session, [new_id])
        if timed:
            self.times.append((time.perf_counter() - started) * 1000)
            self.joined += bool(stories)
        session.commit()  # as the poller does: the next article sees this one

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.times)
        return {
            "articles": self.n,
            "median_ms": round(statistics.median(ordered), 3),
            "p90_ms": round(ordered[int(len(ordered) * 0.9)], 3),
            "min_ms": round(ordered[0], 3),
            "joined": self.joined,
            "runs": len(ordered),
        }


def _pg_size(url: str) -> float:
    engine = create_engine(url)
    with engine.connect() as c:
        size = c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
    engine.dispose()
    return round(float(size) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="10000,300000,1000000")
    parser.add_argument("--busy", type=int, default=1, help="density of the last days (x)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed articles first")
    parser.add_argument("--out", default="bench/results/story-scale.json")
    parser.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's URL: bench there")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    words = vocabulary(random.Random(7))
    loads: dict[int, dict[str, float]] = {}
    with ExitStack() as stack:
        where = args.dir or stack.enter_context(tempfile.TemporaryDirectory())
        probes = []
        for n in sizes:
            if args.postgres:
                path, new = _postgres_database(args.postgres, n, args.busy)
                load_s = build_postgres(path, n, args.busy) if new else 0.0
                loads[n] = {"load_s": round(load_s, 1), "db_mb": _pg_size(path)}
            else:
                path = str(Path(where) / f"stories-{n}-x{args.busy}.db")
                load_s = 0.0 if Path(path).exists() else build_sqlite(path, n, args.busy)
                loads[n] = {
                    "load_s": round(load_s, 1),
                    "db_mb": round(Path(path).stat().st_size / 2**20, 1),
                }
            end = timeline(n, args.busy)[-1]
            probes.append(Probe(stack, path, n, end))
            print(f"built {n:,} articles: {loads[n]}", flush=True)
        for run in range(args.warmup):
            for probe in probes:
                probe.run(-1 - run, words, timed=False)
        for run in range(args.runs):
            for probe in probes:
                probe.run(run, words)
        results = [probe.figures() | loads[probe.n] for probe in probes]
    base = results[0]["median_ms"]
    for figures in results:
        figures["ratio_to_smallest"] = round(figures["median_ms"] / base, 2)
        print(json.dumps(figures))
    summary = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "busy": args.busy,
        "warmup": args.warmup,
        "results": results,
        "ratio_largest_to_smallest": results[-1]["ratio_to_smallest"],
        "target": 1.5,
    }
    print(
        "group_new median: "
        + ", ".join(f"{r['median_ms']} ms at {r['articles']:,}" for r in results)
        + f"; ratio {summary['ratio_largest_to_smallest']} (target ≤ 1.5)"
    )
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
