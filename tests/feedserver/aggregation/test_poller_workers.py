"""Workers in earnest: a worker killed mid-poll, and two workers sharing PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest
from werkzeug import Request, Response

from feedserver.aggregation.poller import poll_once
from feedserver.db import Database
from feedserver.models import Source, utcnow
from tests.factories import make_source
from tests.feedserver.aggregation_support import (
    articles_of,
    numbered,
    rss,
    settings_for,
    source_row,
)

RSS = "application/rss+xml"
CHILD = """
import sys
from feedserver.db import Database
from feedserver.aggregation.refresh import PollSettings
from feedserver.aggregation.poller import poll_once
poll_once(Database.from_url(sys.argv[1]), PollSettings(allowlist=sys.argv[2], fetch_timeout=30))
"""


def test_worker_killed_mid_poll_leaves_nothing_half_stored(db, database_url, httpserver):
    release, arrived = threading.Event(), threading.Event()
    body = rss(numbered(4))

    def slow(request: Request) -> Response:
        arrived.set()
        release.wait(15)
        return Response(body, content_type=RSS)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with db.session() as s:
        sid = make_source(s, feed_url=httpserver.url_for("/slow")).id
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, f"127.0.0.1:{httpserver.port}"],
        cwd=os.getcwd(),
    )
    try:
        assert arrived.wait(20), "the worker never fetched"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    source = source_row(db, sid)
    assert articles_of(db, sid) == [] and source.last_fetch_at is None
    assert source.next_fetch_at > utcnow()  # still leased to the dead worker
    settings = settings_for(httpserver.port)
    assert poll_once(db, settings).sources == 0
    with db.session() as s:  # the lease runs out
        s.get(Source, sid).next_fetch_at = utcnow() - timedelta(seconds=1)
    assert poll_once(db, settings).added == 4
    assert len(articles_of(db, sid)) == 4 and source_row(db, sid).last_status == 200


@pytest.fixture
def db_backend() -> str:
    return "postgresql"  # SKIP LOCKED is the point; SQLite runs one worker


def test_two_workers_on_postgresql_fetch_each_source_exactly_once(db, database_url, httpserver):
    body = rss(numbered(2))
    httpserver.expect_request(re.compile(r"^/feeds/\d+$")).respond_with_data(body, content_type=RSS)
    with db.session() as s:
        for i in range(200):
            make_source(s, feed_url=httpserver.url_for(f"/feeds/{i}"), slug=f"upstream-{i}")
    settings = settings_for(httpserver.port, concurrency=8, per_host=8)
    start = threading.Barrier(2)
    results = []

    def work() -> None:
        mine = Database.from_url(database_url)
        start.wait()
        results.append(poll_once(mine, settings))
        mine.engine.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    fetched = Counter(request.path for request, _ in httpserver.log)
    assert len(fetched) == 200 and set(fetched.values()) == {1}
    assert sum(r.sources for r in results) == 200 and all(r.sources > 0 for r in results)
    assert sum(r.added for r in results) == 400 and sum(r.errors for r in results) == 0
