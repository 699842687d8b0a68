"""Cost of grouping one new article as the archive grows: N_small vs N_large articles.

    .venv/bin/python -m bench.story_scale [--small 10000] [--large 1000000]

For each size, a fresh SQLite database gets N articles and their
``story_terms`` rows by bulk insert (sqlite3 executemany; the ORM and the
hook are not involved), published at a steady rate of one every three
minutes, like a site that grows by getting older, not by publishing more per
day: 10k articles span three weeks, 1M span almost six years. Titles and
summaries are drawn from a vocabulary of 4,000 invented words; the index
rows are what :func:`feedserver.stories.similarity.index_terms` files.

Then 60 new articles (half of them rewrites of a recent article, so they
join a story; half unrelated) are inserted one at a time at the end of the
timeline and :func:`feedserver.stories.grouping.group_new` is timed for each,
inside a savepoint that is rolled back, so every measurement sees the same
archive. The figure is the median, and the ratio large/small is the result:
the candidate index reads only the ±72 hours around the article, so it should
stay near 1 (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from feedserver.db import Database
from feedserver.models import Article, Base, StoryTerm
from feedserver.stories.grouping import group_new
from feedserver.stories.similarity import document, index_terms

START = datetime(2020, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=3)
SOURCES = 20
VOCABULARY = 4000
RUNS = 60


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


def build(path: str, n: int, seed: int = 7) -> tuple[float, list[str]]:
    """Create the schema and bulk-load n articles with their index rows; return seconds."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    db = Database.from_url(f"sqlite:///{path}")
    Base.metadata.create_all(db.engine)
    # Bulk loads go faster into bare tables: the secondary indexes are built after.
    indexes = [*Article.__table__.indexes, *StoryTerm.__table__.indexes]
    for index in indexes:
        index.drop(db.engine)
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    now = _ts(START)
    conn.execute(
        "INSERT INTO sections (id, slug, name, description, created_at, updated_at) VALUES (1, 'news', 'News', '', ?, ?)",
        (now, now),
    )
    conn.executemany(
        "INSERT INTO sources (id, slug, name, enabled, error_count, created_at, updated_at) VALUES (?, ?, ?, 0, 0, ?, ?)",
        [(i, f"s{i}", f"Source {i}", now, now) for i in range(1, SOURCES + 1)],
    )
    # Terms are drawn for a few thousand distinct texts and reused: what the
    # benchmark measures is the index's size, not document()'s speed.
    pool = [text(rng, words) for _ in range(5000)]
    pool_terms = [index_terms(document(t, s)) for t, s in pool]
    arts: list[tuple[Any, ...]] = []
    terms: list[tuple[Any, ...]] = []
    for i in range(1, n + 1):
        k = rng.randrange(len(pool))
        when = _ts(START + STEP * i)
        title, summary = pool[k]
        arts.append(
            (
                i,
                f"{i:032x}",
                f"a{i}",
                title,
                summary,
                "",
                1,
                rng.randint(1, SOURCES),
                when,
                when,
                when,
            )
        )
        terms.extend((i, t, when) for t in pool_terms[k])
        if len(arts) >= 20000:
            _flush(conn, arts, terms)
    _flush(conn, arts, terms)
    conn.execute("COMMIT")
    conn.close()
    for index in indexes:
        index.create(db.engine)
    with db.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    db.engine.dispose()
    return time.perf_counter() - started, words


def _flush(
    conn: sqlite3.Connection, arts: list[tuple[Any, ...]], terms: list[tuple[Any, ...]]
) -> None:
    conn.executemany(
        "INSERT INTO articles (id, uid, slug, title, summary, body_html, section_id, source_id,"
        " published_at, updated_at, created_at, comments_open, comment_count, story_hidden,"
        " story_section_hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0)",
        arts,
    )
    conn.executemany(
        "INSERT INTO story_terms (article_id, term, published_at) VALUES (?, ?, ?)", terms
    )
    arts.clear()
    terms.clear()


def measure(path: str, n: int, words: list[str]) -> dict[str, Any]:
    """Median milliseconds of group_new for one new article at the end of the timeline."""
    rng = random.Random(99)
    db = Database.from_url(f"sqlite:///{path}")
    end = START + STEP * n
    times: list[float] = []
    joined = 0
    with db.sessions() as session:
        recent = session.execute(
            Article.__table__.select().where(Article.id > n - 200).order_by(Article.id)
        ).fetchall()
        for run in range(RUNS):
            nested = session.begin_nested() if session.in_transaction() else session.begin()
            if run % 2 == 0:
                base = recent[rng.randrange(len(recent))]
                title, summary = base.title, base.summary  # a rewrite: same words, another source
                source = base.source_id % SOURCES + 1
            else:
                title, summary = text(rng, words)
                source = rng.randint(1, SOURCES)
            new_id = session.execute(
                insert(Article).returning(Article.id),
                [
                    {
                        "slug": f"new-{run}",
                        "uid": f"{run:036d}",
                        "title": title,
                        "summary": summary,
                        "body_html": "",
                        "section_id": 1,
                        "source_id": source,
                        "published_at": end + timedelta(minutes=1),
                        "updated_at": end,
                        "created_at": end,
                    }
                ],
            ).scalar_one()
            started = time.perf_counter()
            stories = group_new(session, [new_id])
            times.append((time.perf_counter() - started) * 1000)
            joined += bool(stories)
            nested.rollback()
    db.engine.dispose()
    return {
        "articles": n,
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(sorted(times)[int(len(times) * 0.9)], 3),
        "joined": joined,
        "runs": RUNS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--out", default="bench/results/story-scale.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.small, args.large):
            path = str(Path(tmp) / f"stories-{n}.db")
            load_s, words = build(path, n)
            figures = measure(path, n, words)
            figures["load_s"] = round(load_s, 1)
            figures["db_mb"] = round(Path(path).stat().st_size / 2**20, 1)
            print(json.dumps(figures))
            results.append(figures)
            Path(path).unlink()
    ratio = results[1]["median_ms"] / results[0]["median_ms"]
    summary = {"results": results, "ratio_large_to_small": round(ratio, 2), "target": 1.5}
    print(
        f"group_new median: {results[0]['median_ms']} ms at {args.small:,} articles, "
        f"{results[1]['median_ms']} ms at {args.large:,}: ratio {ratio:.2f} (target ≤ 1.5)"
    )
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
