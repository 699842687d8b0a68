"""The naive baseline poller: requests + feedparser + sqlite3, one feed after another.

Usage: python bench/naive_poll.py DB_PATH URLS_FILE — what bench/poll.py compares ours with.
It does conditional GETs (ETag/Last-Modified kept in its table) and stores each
entry once per (feed, id); no guard, no sanitizing of its own (feedparser's).
"""

from __future__ import annotations

import sqlite3
import sys

import feedparser
import requests


def main(db_path: str, urls_file: str) -> None:
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, etag TEXT, modified TEXT)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS entries (feed TEXT, guid TEXT, title TEXT, link TEXT,"
        " summary TEXT, published TEXT, PRIMARY KEY (feed, guid))"
    )
    with open(urls_file) as fh:
        urls = [line.strip() for line in fh if line.strip()]
    for url in urls:
        row = db.execute("SELECT etag, modified FROM feeds WHERE url = ?", (url,)).fetchone()
        headers = {}
        if row and row[0]:
            headers["If-None-Match"] = row[0]
        if row and row[1]:
            headers["If-Modified-Since"] = row[1]
        try:
            response = requests.get(url, headers=headers, timeout=10)
        except requests.RequestException:
            continue
        if response.status_code == 304 or response.status_code >= 400:
            continue
        parsed = feedparser.parse(response.content)
        for entry in parsed.entries:
            db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                (
                    url,
                    entry.get("id") or entry.get("link"),
                    entry.get("title"),
                    entry.get("link"),
                    entry.get("summary"),
                    entry.get("published"),
                ),
            )
        db.execute(
            "INSERT OR REPLACE INTO feeds VALUES (?, ?, ?)",
            (url, response.headers.get("ETag"), response.headers.get("Last-Modified")),
        )
        db.commit()
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
