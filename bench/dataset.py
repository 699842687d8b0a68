"""Load a deterministic benchmark dataset straight into the database, in bulk.

    python -m bench.dataset --url sqlite:///bench/data/10k.db --articles 10000
    python -m bench.dataset --url postgresql+psycopg://postgres@127.0.0.1/feedserver_bench_1m \
        --articles 1000000

12 sections, 50 authors (about one article in five co-authored), 20 sources
(about 40 % of the articles attributed to one, with an original URL), ~800-word
bodies, publication dates spread over two years. The same N gives the same rows
on every run and every backend (a seeded generator; uids derived from ids).

The rows bypass the ORM (executemany on SQLite, COPY on PostgreSQL), so the
session hook that keeps ``scope_versions`` is not involved; ``recount_scopes``
rebuilds that table at the end, as its docstring asks of bulk loads.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from feedserver.db import Database
from feedserver.migrate import upgrade
from feedserver.models import recount_scopes

SECTIONS = ["World", "Politics", "Business", "Technology", "Science", "Health", "Sport",
            "Culture", "Opinion", "Climate", "Education", "Travel"]  # fmt: skip
SOURCES = 20
AUTHORS = 50
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
NAMESPACE = uuid.UUID("6f1c9a52-1d1e-4b8e-9a3f-5e0b8f3c2a11")
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "report",
    "market",
    "council",
    "minister",
    "energy",
    "research",
    "climate",
    "season",
    "growth",
    "policy",
    "museum",
    "students",
    "election",
    "hospital",
    "engineers",
    "river",
    "harbour",
    "festival",
    "budget",
    "court",
    "village",
    "satellite",
    "coalition",
    "vaccine",
    "drought",
    "bridge",
    "archive",
    "orchestra",
    "tariff",
    "startup",
    "grid",
]


def paragraphs(rng: random.Random, count: int = 64) -> list[str]:
    """A pool of ~100-word paragraphs; each body is eight of them (~800 words)."""
    pool = []
    for _ in range(count):
        sentences = []
        for _ in range(6):
            words = [rng.choice(WORDS) for _ in range(rng.randint(14, 20))]
            sentences.append(" ".join(words).capitalize() + ".")
        pool.append("<p>" + " ".join(sentences) + "</p>")
    return pool


def articles(n: int, seed: int = 2026) -> Iterator[tuple[Any, ...]]:
    """Yield (article row, [(author_id, position)]) in publication order."""
    rng = random.Random(seed)
    pool = paragraphs(rng)
    step = SPAN / max(n, 1)
    for i in range(1, n + 1):
        published = START + step * (i - 1) + timedelta(microseconds=rng.randint(0, 999))
        section = rng.randint(1, len(SECTIONS))
        source = rng.randint(1, SOURCES) if rng.random() < 0.4 else None
        first = rng.randint(1, AUTHORS)
        byline = [first]
        r = rng.random()
        extra = 2 if r < 0.03 else 1 if r < 0.2 else 0
        while len(byline) < 1 + extra:
            other = rng.randint(1, AUTHORS)
            if other not in byline:
                byline.append(other)
        start = rng.randrange(len(pool))
        body = "\n".join(pool[(start + k * 7) % len(pool)] for k in range(8))
        title = f"{SECTIONS[section - 1]} report {i}: " + " ".join(rng.sample(WORDS[40:], 4))
        row = (
            i,
            str(uuid.uuid5(NAMESPACE, str(i))),
            f"story-{i}",
            title.capitalize(),
            f"Summary of story {i}, about {WORDS[i % len(WORDS)]} and {WORDS[(i * 7) % len(WORDS)]}.",
            body,
            section,
            source,
            f"https://source{source}.example.org/news/{i}" if source else None,
            f"upstream-{i}" if source else None,
            published,
            published + timedelta(minutes=rng.randint(0, 90)),
        )
        yield row, byline


ARTICLE_COLUMNS = (
    "id, uid, slug, title, summary, body_html, section_id, source_id, original_url, "
    "upstream_key, published_at, updated_at, created_at, comments_open, comment_count"
)


def _sqlite_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def taxonomy(now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "sections (id, slug, name, description, created_at, updated_at)": [
            (i, name.lower(), name, f"News about {name.lower()}.", now, now)
            for i, name in enumerate(SECTIONS, 1)
        ],
        "sources (id, slug, name, home_url, feed_url, section_id, enabled, error_count,"
        " created_at, updated_at)": [
            (
                i,
                f"source-{i}",
                f"Source {i} News",
                f"https://source{i}.example.org/",
                f"https://source{i}.example.org/feed.xml",
                (i % len(SECTIONS)) + 1,
                False,
                0,
                now,
                now,
            )
            for i in range(1, SOURCES + 1)
        ],  # fmt: skip
        "authors (id, slug, name, bio, created_at, updated_at)": [
            (
                i,
                f"author-{i}",
                f"Author {i} Writer",
                f"Author {i} writes about everything.",
                now,
                now,
            )
            for i in range(1, AUTHORS + 1)
        ],  # fmt: skip
    }


def load_sqlite(path: str, n: int, batch: int = 5000) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    now = _sqlite_ts(datetime.now(UTC))
    conn.execute("BEGIN")
    for table, rows in taxonomy(now).items():  # type: ignore[arg-type]
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    art: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(
            f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ({', '.join('?' * 15)})", art
        )
        conn.executemany(
            "INSERT INTO article_authors (article_id, author_id, position, published_at)"
            " VALUES (?, ?, ?, ?)",
            links,
        )
        art.clear()
        links.clear()

    for row, byline in articles(n):
        published, updated = _sqlite_ts(row[10]), _sqlite_ts(row[11])
        art.append((*row[:10], published, updated, published, 1, 0))
        links.extend((row[0], a, pos, published) for pos, a in enumerate(byline))
        if len(art) >= batch:
            flush()
    if art:
        flush()
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, n: int) -> None:
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table, rows in taxonomy(now).items():  # type: ignore[arg-type]
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        # Secondary indexes are built once after COPY: much faster than row by row.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('articles', 'article_authors') AND indexname NOT LIKE 'pk_%'"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'ALTER TABLE IF EXISTS articles DROP CONSTRAINT IF EXISTS "{name}"')
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')
        with (
            cur.copy(f"COPY articles ({ARTICLE_COLUMNS}) FROM STDIN") as copy_articles,
        ):
            links: list[tuple[Any, ...]] = []
            for row, byline in articles(n):
                published = _pg_ts(row[10])
                copy_articles.write_row((*row[:10], published, _pg_ts(row[11]), published,
                                         True, 0))  # fmt: skip
                links.extend((row[0], a, pos, published) for pos, a in enumerate(byline))
        with cur.copy(
            "COPY article_authors (article_id, author_id, position, published_at) FROM STDIN"
        ) as copy_links:
            for link in links:
                copy_links.write_row(link)
        for name, definition in indexes:
            if definition.startswith("CREATE UNIQUE INDEX") and name.startswith("uq_"):
                columns = definition[definition.index("(") :]
                cur.execute(f'ALTER TABLE articles ADD CONSTRAINT "{name}" UNIQUE {columns}')
            else:
                cur.execute(definition)
        for table in ("sections", "sources", "authors", "articles"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def ensure_postgres_database(url: str, fresh: bool) -> None:
    """Create (or re-create) the database named in the URL; only feedserver_bench_*."""
    parsed = make_url(url)
    name = parsed.database or ""
    if not name.startswith("feedserver_bench_"):
        sys.exit(f"refusing to touch database {name!r}: bench databases are feedserver_bench_*")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and fresh:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE "{name}"'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop_postgres_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    assert name.startswith("feedserver_bench_")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def article_count(url: str) -> int:
    try:
        db = Database.from_url(url)
        with db.engine.connect() as conn:
            value = conn.scalar(text("SELECT count(*) FROM articles"))
        db.engine.dispose()
        return int(value or 0)
    except Exception:
        return -1


def load(url: str, n: int, *, fresh: bool = False) -> float:
    """Create the schema and load n articles unless the database already has them."""
    started = time.monotonic()
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        ensure_postgres_database(url, fresh)
    else:
        from pathlib import Path

        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    if article_count(url) == n:
        return 0.0
    db = Database.from_url(url)
    upgrade(db.engine)
    db.engine.dispose()
    if article_count(url) not in (0, n):
        sys.exit(f"{url} holds another dataset; pass --fresh")
    if backend == "postgresql":
        load_postgres(url, n)
    else:
        load_sqlite(make_url(url).database or "", n)
    db = Database.from_url(url)
    with db.session() as session:
        recount_scopes(session)
    db.engine.dispose()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--fresh", action="store_true", help="drop and re-create first")
    args = parser.parse_args()
    seconds = load(args.url, args.articles, fresh=args.fresh)
    print(f"{args.articles} articles in {args.url}: {seconds:.1f} s")


if __name__ == "__main__":
    main()
