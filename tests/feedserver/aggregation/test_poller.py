"""Polling etiquette and robustness: statuses, redirects, hostile bodies, isolation, crashes."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from feedserver.aggregation import entries as upstream_entries
from feedserver.aggregation import refresh as aggregation
from feedserver.aggregation import store
from feedserver.aggregation.poller import claim, poll_once
from feedserver.aggregation.store import articles as upstream_store
from feedserver.aggregation.worker import Worker, start_in_process, stop_in_process
from feedserver.models import Source
from tests.factories import make_source
from tests.feedserver.aggregation_support import (
    articles_of,
    numbered,
    rss,
    settings_for,
    source_row,
)

RSS = "application/rss+xml"


def add(db, url, **kw):
    with db.session() as s:
        return make_source(s, feed_url=url, **kw).id


def due_again(db, *ids):
    with db.session() as s:
        for ident in ids:
            s.get(Source, ident).next_fetch_at = None


def poll(db, server, **kw):
    return poll_once(db, settings_for(server.port, **kw))


def test_error_statuses_are_recorded_with_back_off(db, httpserver):
    httpserver.expect_request("/404").respond_with_data("no", status=404)
    httpserver.expect_request("/500").respond_with_data("boom", status=500)
    httpserver.expect_request("/ok").respond_with_data(rss(numbered(2)), content_type=RSS)
    missing, broken, fine = (add(db, httpserver.url_for(p)) for p in ("/404", "/500", "/ok"))
    stats = poll(db, httpserver)
    assert (stats.sources, stats.errors, stats.added) == (3, 2, 2)
    s404 = source_row(db, missing)
    assert s404.last_status == 404 and s404.error_count == 1 and s404.enabled
    assert s404.last_error.startswith(f"fetch {httpserver.url_for('/404')}: HTTP 404")
    assert len(articles_of(db, fine)) == 2 and source_row(db, fine).error_count == 0

    first = source_row(db, broken)
    due_again(db, broken)
    poll(db, httpserver)
    second = source_row(db, broken)
    assert (first.error_count, second.error_count) == (1, 2) and second.last_status == 500
    delay1 = first.next_fetch_at - first.last_fetch_at
    delay2 = second.next_fetch_at - second.last_fetch_at
    assert delay1 >= timedelta(seconds=900 * 2 * 0.89)
    assert delay2 > delay1 * 1.5  # exponential back-off (jitter is ±10 %)


def test_410_disables_the_source(db, httpserver):
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    sid = add(db, httpserver.url_for("/gone"))
    poll(db, httpserver)
    source = source_row(db, sid)
    assert source.enabled is False and source.last_status == 410 and source.next_fetch_at is None
    assert "410" in source.last_error
    assert poll(db, httpserver).sources == 0  # disabled sources are not polled


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(db, httpserver, status):
    httpserver.expect_request("/busy").respond_with_data(
        "slow down", status=status, headers={"Retry-After": "7200"}
    )
    sid = add(db, httpserver.url_for("/busy"))
    poll(db, httpserver)
    source = source_row(db, sid)
    assert source.last_status == status and source.error_count == 1
    assert source.next_fetch_at >= datetime.now(UTC) + timedelta(seconds=7100)


def test_cache_control_max_age_is_a_floor(db, httpserver):
    httpserver.expect_request("/cached").respond_with_data(
        rss(numbered(1)), content_type=RSS, headers={"Cache-Control": "max-age=7200"}
    )
    sid = add(db, httpserver.url_for("/cached"))
    poll(db, httpserver)
    # feeds.upstream.schedule applies its ±10 % jitter after the max-age floor.
    assert source_row(db, sid).next_fetch_at >= datetime.now(UTC) + timedelta(seconds=7200 * 0.89)


@pytest.mark.parametrize("kept", ["max-age", "ttl"])
def test_a_304_that_does_not_repeat_the_freshness_keeps_the_last_200s(db, httpserver, kept):
    # RFC 9111 §4.3.4: a 304 updates the stored answer's headers, and those it
    # does not repeat still apply. After a bare 304 the schedule fell back to
    # the default interval (found by a black-box audit); the RSS <ttl> too.
    from werkzeug import Request

    answers = {"n": 0}
    body = rss(numbered(1))
    if kept == "ttl":
        body = body.replace(b"<channel>", b"<channel><ttl>120</ttl>", 1)

    def handler(request: Request) -> Response:
        answers["n"] += 1
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        headers = {"ETag": '"v1"'}
        if kept == "max-age":
            headers["Cache-Control"] = "max-age=7200"
        return Response(body, content_type=RSS, headers=headers)

    httpserver.expect_request("/fresh").respond_with_handler(handler)
    sid = add(db, httpserver.url_for("/fresh"))
    floor = 7200  # max-age=7200, or <ttl>120</ttl> (minutes); the default interval is 900 s
    for _ in range(3):  # the 200, then two bare 304s
        poll(db, httpserver)
        row = source_row(db, sid)
        assert row.next_fetch_at >= datetime.now(UTC) + timedelta(seconds=floor * 0.89), _
        due_again(db, sid)
    assert answers["n"] == 3 and row.last_status == 304
    # A 304 that says otherwise is believed: its own max-age replaces the kept one.
    httpserver.clear()
    httpserver.expect_request("/fresh").respond_with_data(
        "", status=304, headers={"ETag": '"v1"', "Cache-Control": "max-age=60"}
    )
    poll(db, httpserver)
    row = source_row(db, sid)
    if kept == "max-age":
        assert row.cache_seconds == 60 and row.next_fetch_at < datetime.now(UTC) + timedelta(
            hours=1
        )
    else:  # the <ttl> of the unchanged document still holds
        assert row.next_fetch_at >= datetime.now(UTC) + timedelta(seconds=7200 * 0.89)


@pytest.mark.parametrize(
    ("status", "moves"), [(301, True), (308, True), (302, False), (307, False)]
)
def test_permanent_redirects_update_the_feed_url(db, httpserver, status, moves):
    httpserver.expect_request("/old").respond_with_data(
        "", status=status, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(rss(numbered(1)), content_type=RSS)
    sid = add(db, httpserver.url_for("/old"))
    poll(db, httpserver)
    source = source_row(db, sid)
    assert source.feed_url == httpserver.url_for("/new" if moves else "/old")
    assert len(articles_of(db, sid)) == 1


def test_a_permanent_redirect_onto_another_sources_feed_stores_nothing_twice(db, httpserver):
    """Its entries are the other source's: an error to act on, not a silent copy of them."""
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "/shared"}
    )
    httpserver.expect_request("/shared").respond_with_data(rss(numbered(3)), content_type=RSS)
    mover, owner = add(db, httpserver.url_for("/old")), add(db, httpserver.url_for("/shared"))
    stats = poll(db, httpserver)
    assert (stats.sources, stats.errors, stats.added) == (2, 1, 3)
    assert len(articles_of(db, owner)) == 3 and articles_of(db, mover) == []
    source = source_row(db, mover)
    assert source.feed_url == httpserver.url_for("/old")  # not moved onto the other's URL
    assert f"source {owner} already polls" in (source.last_error or "")
    assert source.error_count == 1 and source.last_status == 200 and source.enabled


def test_a_permanent_redirect_to_a_url_too_long_to_store_is_not_followed(db, httpserver):
    """Cut to the column's width it would name another resource: the source keeps its URL."""
    long_path = "/new/" + "x" * 2100
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": long_path}
    )
    httpserver.expect_request(long_path).respond_with_data(rss(numbered(2)), content_type=RSS)
    sid = add(db, httpserver.url_for("/old"))
    stats = poll(db, httpserver)
    assert stats.errors == 0 and stats.added == 2  # the entries are stored all the same
    assert source_row(db, sid).feed_url == httpserver.url_for("/old")


def _slow(request):
    def drip():
        for _ in range(20):
            time.sleep(0.2)
            yield b" "

    return Response(drip(), content_type=RSS)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b'<rss version="2.0"><channel><title>&d;</title><item><title>&d;</title></item></channel></rss>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><title>t</title><item><title>&x;</title></item></channel></rss>'
)


def test_hostile_upstreams_store_nothing_and_name_the_problem(db, httpserver):
    bomb = gzip.compress(b"<" * (20 * 1024 * 1024))
    httpserver.expect_request("/big").respond_with_data(b"x" * (2 * 1024 * 1024), content_type=RSS)
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, content_type=RSS, headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_request("/laughs").respond_with_data(BILLION_LAUGHS, content_type=RSS)
    httpserver.expect_request("/xxe").respond_with_data(XXE, content_type=RSS)
    httpserver.expect_request("/html").respond_with_data("<html><body>hi</body></html>")
    paths = ("/big", "/bomb", "/laughs", "/xxe", "/html")
    ids = {p: add(db, httpserver.url_for(p)) for p in paths}
    stats = poll(db, httpserver, max_bytes=1024 * 1024)
    assert stats.errors == len(paths) and stats.added == 0
    errors = {p: source_row(db, i).last_error for p, i in ids.items()}
    assert "body over 1 MiB" in errors["/big"] and "body over 1 MiB" in errors["/bomb"]
    for path in ("/laughs", "/xxe", "/html"):
        assert errors[path].startswith(f"parse {httpserver.url_for(path)}"), errors[path]
    assert all(not articles_of(db, i) for i in ids.values())


def test_a_slow_upstream_is_cut_off(db, httpserver):
    # pytest-httpserver answers one request at a time, so the slow one goes alone.
    httpserver.expect_request("/slow").respond_with_handler(_slow)
    sid = add(db, httpserver.url_for("/slow"))
    started = time.monotonic()
    poll(db, httpserver, fetch_timeout=1)
    assert time.monotonic() - started < 3
    error = source_row(db, sid).last_error
    assert error.startswith(f"fetch {httpserver.url_for('/slow')}") and "1 s" in error
    assert articles_of(db, sid) == []


def test_a_failure_mid_store_leaves_nothing_and_the_next_poll_completes(
    db, httpserver, monkeypatch
):
    httpserver.expect_request("/feed").respond_with_data(rss(numbered(5)), content_type=RSS)
    sid = add(db, httpserver.url_for("/feed"))
    real = upstream_entries.instant
    calls = {"n": 0}

    def crash_on_the_fourth(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(upstream_entries, "instant", crash_on_the_fourth)
    stats = poll(db, httpserver)
    assert stats.errors == 1 and articles_of(db, sid) == []
    source = source_row(db, sid)
    assert source.last_error.startswith("store ") and "disk on fire" in source.last_error
    assert source.etag is None and source.error_count == 1
    monkeypatch.setattr(upstream_entries, "instant", real)
    due_again(db, sid)
    assert poll(db, httpserver).added == 5
    assert len(articles_of(db, sid)) == 5


def test_claims_are_leases(db, httpserver):
    ids = [add(db, f"https://example.com/{i}") for i in range(5)]
    first = claim(db, 3, lease=300)
    second = claim(db, 10, lease=300)
    assert len(first) == 3 and len(second) == 2
    assert {j.id for j in first} | {j.id for j in second} == set(ids)
    assert claim(db, 10, lease=300) == []


def test_worker_stops_gracefully(db, httpserver):
    httpserver.expect_request("/feed").respond_with_data(rss(numbered(1)), content_type=RSS)
    sid = add(db, httpserver.url_for("/feed"))
    worker = Worker(db, settings_for(httpserver.port))
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not articles_of(db, sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    thread.join(5)
    assert not thread.is_alive() and len(articles_of(db, sid)) == 1


def test_a_refresh_cut_at_the_stop_is_due_again_not_after_its_lease(db):
    """A stop that cannot wait (serve gives the poller 5 s; a second Ctrl-C) left the
    slow source leased: the next start skipped it until FEEDSERVER_POLL_LEASE ended."""
    from feedserver.models import utcnow
    from tests.feeds.upstream_servers import RawServer, head

    asked, release = threading.Event(), threading.Event()
    body = rss(numbered(1))

    def answer(sock, request):  # a threaded server: the quick one is not held up
        if request.startswith(b"GET /slow "):
            asked.set()
            release.wait(10)
        sock.sendall(head("200 OK", {"Content-Length": str(len(body))}) + body)

    with RawServer(answer) as upstream:
        quick, slow = add(db, upstream.url("/quick")), add(db, upstream.url("/slow"))
        worker = Worker(db, settings_for(upstream.port, lease=300))
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            assert asked.wait(10)
            deadline = time.monotonic() + 10
            while not articles_of(db, quick) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert source_row(db, slow).next_fetch_at > utcnow() + timedelta(seconds=200)
            worker.stop()
            assert worker.release() == 1  # the stop gives up on it
            assert source_row(db, slow).next_fetch_at <= utcnow()
            kept = source_row(db, quick)  # done before the stop: its own schedule stays
            assert kept.last_status == 200 and kept.next_fetch_at > utcnow() + timedelta(minutes=5)
        finally:
            release.set()
            thread.join(15)
    assert not thread.is_alive()


def test_in_process_poller_starts_once(app, monkeypatch):
    monkeypatch.setattr(Worker, "run", lambda self: self.stop_event.wait(5))
    first = start_in_process(app)
    assert first is not None and start_in_process(app) is first
    stop_in_process(app)
    app.debug = True  # under the reloader's watcher process: no poller there
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert start_in_process(app) is None


def test_a_crash_after_the_bulk_insert_stores_nothing_half_way(db, httpserver, monkeypatch):
    from sqlalchemy import func, select

    from feedserver.models import Article, ArticleAuthor, Author, ScopeVersion

    items = numbered(5)
    for item in items:
        item.author = "Jo Bloggs"
    httpserver.expect_request("/feed").respond_with_data(rss(items), content_type=RSS)
    sid = add(db, httpserver.url_for("/feed"))

    def snapshot():
        with db.session() as s:
            return (
                s.scalar(select(func.count(Article.id))),
                s.scalar(select(func.count(Author.id))),
                s.scalar(select(func.count()).select_from(ArticleAuthor)),
                {sv.key: sv.version for sv in s.scalars(select(ScopeVersion))},
            )

    before = snapshot()
    real = upstream_store.bump_scopes

    def crash(*args, **kw):  # the articles and bylines are written by now
        raise RuntimeError("power cut")

    monkeypatch.setattr(upstream_store, "bump_scopes", crash)
    stats = poll(db, httpserver)
    assert stats.errors == 1 and stats.added == 0
    assert snapshot() == before
    source = source_row(db, sid)
    assert "power cut" in source.last_error and source.etag is None
    monkeypatch.setattr(upstream_store, "bump_scopes", real)
    due_again(db, sid)
    assert poll(db, httpserver).added == 5
    articles, authors, bylines, _ = snapshot()
    assert (articles, authors, bylines) == (5, before[1] + 1, 5)


def test_304s_are_written_in_one_batch_and_bump_no_scope(db, httpserver):
    from sqlalchemy import select

    from feedserver.models import ScopeVersion

    for i in range(6):
        httpserver.expect_request(f"/f{i}", headers={"If-None-Match": f'"e{i}"'}).respond_with_data(
            "", status=304, headers={"ETag": f'"e{i}"', "Cache-Control": "max-age=7200"}
        )
        httpserver.expect_request(f"/f{i}").respond_with_data(
            rss(numbered(2, prefix=f"s{i}")), content_type=RSS, headers={"ETag": f'"e{i}"'}
        )
    ids = [add(db, httpserver.url_for(f"/f{i}")) for i in range(6)]
    with db.session() as s:
        s.get(Source, ids[0]).poll_interval = 4 * 3600
    assert poll(db, httpserver).added == 12
    with db.session() as s:
        versions = {sv.key: sv.version for sv in s.scalars(select(ScopeVersion))}
        for ident in ids:
            source = s.get(Source, ident)
            source.next_fetch_at, source.error_count, source.last_error = None, 3, "old trouble"
    started = datetime.now(UTC)
    stats = poll(db, httpserver)
    assert (stats.sources, stats.not_modified, stats.added, stats.errors) == (6, 6, 0, 0)
    with db.session() as s:
        assert {sv.key: sv.version for sv in s.scalars(select(ScopeVersion))} == versions
    for i, ident in enumerate(ids):
        source = source_row(db, ident)
        assert source.last_status == 304 and source.etag == f'"e{i}"'
        assert source.error_count == 0 and source.last_error is None
        assert source.last_fetch_at >= started and source.last_success_at == source.last_fetch_at
        floor = 4 * 3600 if i == 0 else 7200  # the source's own interval, else max-age
        assert source.next_fetch_at >= started + timedelta(seconds=floor * 0.89)


def test_unchanged_sources_removed_mid_poll_are_skipped(db, httpserver):
    from feeds.model import Validators
    from feeds.upstream.fetch import FetchResult
    from feeds.upstream.schedule import CacheHints

    sid = add(db, "https://example.com/feed")
    job = aggregation.SourceJob(sid, "https://example.com/feed")
    gone = aggregation.SourceJob(sid + 1000, "https://example.com/gone")
    now = datetime.now(UTC)
    result = FetchResult(
        url=job.feed_url, final_url=job.feed_url, status=304, body=None,
        validators=Validators(etag='"x"'), not_modified=True, content_type=None,
        cache=CacheHints(), fetched_at=now,
    )  # fmt: skip
    settings = settings_for(1)
    outcomes = store.store_unchanged(db, [(job, result), (gone, result)], settings)
    assert [o.source_id for o in outcomes] == [sid, sid + 1000]
    source = source_row(db, sid)
    assert source.etag == '"x"' and source.last_status == 304


def test_a_parse_process_parses_big_feeds(db, httpserver):
    items = numbered(30)
    for item in items:
        item.description = "<p>" + "A long paragraph of upstream text. " * 20 + "</p>"
    # A DOCTYPE sends it to feedparser (the fast path's documents parse in the thread).
    body = rss(items).replace(b"<rss", b"<!DOCTYPE rss><rss", 1)
    assert len(body) > 4096  # small bodies are parsed in the thread
    for i in range(6):
        httpserver.expect_request(f"/big{i}").respond_with_data(body, content_type=RSS)
    ids = [add(db, httpserver.url_for(f"/big{i}")) for i in range(6)]
    stats = poll(db, httpserver, parse_processes=1)
    assert (stats.sources, stats.added, stats.errors) == (6, 180, 0)
    assert all(len(articles_of(db, ident)) == 30 for ident in ids)


def test_a_parse_error_raised_in_a_parse_process_costs_only_its_source(db, httpserver):
    """An upstream's junk fails in the parse process; its error reaches the poller intact.

    (It once could not be unpickled, which broke the process pool for good:
    every later document that needed a process failed with BrokenProcessPool.)
    """
    junk = b"<!DOCTYPE html><html><body>" + b"<p>Not a feed at all.</p>" * 400
    items = numbered(30)
    for item in items:
        item.description = "<p>" + "Words of a long upstream paragraph. " * 20 + "</p>"
    good = rss(items).replace(b"<rss", b"<!DOCTYPE rss><rss", 1)  # needs the process too
    assert len(junk) > 4096 and len(good) > 4096
    httpserver.expect_request("/junk").respond_with_data(junk, content_type=RSS)
    for i in range(3):
        httpserver.expect_request(f"/good{i}").respond_with_data(good, content_type=RSS)
    bad = add(db, httpserver.url_for("/junk"))
    fine = [add(db, httpserver.url_for(f"/good{i}")) for i in range(3)]
    stats = poll(db, httpserver, parse_processes=1, concurrency=1)  # junk first, then the rest
    assert (stats.sources, stats.errors, stats.added) == (4, 1, 90)
    error = source_row(db, bad).last_error or ""
    assert error.startswith("parse ") and "an HTML page, not a feed" in error  # its own message
    assert all(len(articles_of(db, ident)) == 30 for ident in fine)


def _exit_if_child(parent: int) -> int:
    """Kill the process it runs in, unless that is ``parent`` (the test's own)."""
    import os

    if os.getpid() != parent:
        os._exit(3)
    return parent


def test_a_dead_parse_process_is_replaced(db):
    """A parse process that dies is replaced; a document that kills it twice is that feed's
    parse error, never parsed in the poller's own process (it would take the poller down)."""
    import os

    from feeds.errors import ParseError
    from feedserver.aggregation.poller import Poller

    with Poller(db, settings_for(1), parse_processes=1) as poller:
        first = poller.parsers
        assert poller._offload(os.getpid) != os.getpid()  # in the process
        with pytest.raises(ParseError, match="died twice"):
            poller._offload(_exit_if_child, os.getpid())
        assert poller.parsers is not None and poller.parsers is not first
        assert poller._offload(os.getpid) != os.getpid()  # a new pool takes the next ones


def test_a_parse_past_its_time_is_stopped_and_the_pool_replaced(db, monkeypatch):
    """A document a parser cannot finish (a quadratic worst case) costs its feed a
    recorded error after PARSE_TIME_LIMIT, not the pass: the process is stopped."""
    import os
    import time

    from feeds.errors import ParseError
    from feedserver.aggregation import poller as poller_module
    from feedserver.aggregation.poller import Poller

    with Poller(db, settings_for(1), parse_processes=1) as poller:
        first = poller.parsers
        stuck = poller._offload(os.getpid)  # the process is up (its start-up is not timed here)
        monkeypatch.setattr(poller_module, "PARSE_TIME_LIMIT", 1.0)
        started = time.monotonic()
        with pytest.raises(ParseError, match="took more than 1 s"):
            poller._offload(time.sleep, 120)  # runs in the parse process only
        assert time.monotonic() - started < 30
        assert poller.parsers is not None and poller.parsers is not first
        deadline = time.monotonic() + 10
        while _alive(stuck) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(stuck)  # the stuck process was ended, not left to run
        monkeypatch.setattr(poller_module, "PARSE_TIME_LIMIT", 60.0)  # the new one starts up
        assert poller._offload(os.getpid) not in (os.getpid(), stuck)  # a new pool works


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that init has not reaped yet is not running)."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, also between open and read
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_parse_process_outlives_no_poller_killed_outright(tmp_path):
    """SIGKILL (a cron timeout, the OOM killer) shuts no pool down: the process goes by itself."""
    import signal
    import subprocess
    import sys

    script = f"""
import os, sys, time
from feedserver.aggregation.poller import Poller
from feedserver.aggregation.refresh import PollSettings
from feedserver.db import Database
poller = Poller(Database.from_url("sqlite:///{tmp_path}/x.db"), PollSettings(), parse_processes=1)
print(poller._offload(os.getpid), flush=True)
time.sleep(120)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert child != proc.pid and _alive(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the parse process outlived its poller"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_unreachable_database_is_one_line_a_pass_not_a_traceback(db, monkeypatch, caplog):
    # During an outage the worker retries every few seconds: each pass says so
    # in one line (a traceback each time buried the log), and it keeps going.
    from sqlalchemy.exc import OperationalError

    from feedserver.aggregation import poller as poller_module
    from feedserver.aggregation import worker as worker_module

    worker = Worker(db, settings_for(1), parse_processes=0)
    passes = []

    def unreachable(self, **_kwargs):
        passes.append(1)
        if len(passes) == 2:
            worker.stop()
        raise OperationalError("SELECT …", {}, Exception("connection refused\nDETAIL: more"))

    monkeypatch.setattr(poller_module.Poller, "poll_due", unreachable)
    monkeypatch.setattr(worker_module, "IDLE_WAIT", 0.01)
    caplog.set_level("WARNING", logger="feedserver.aggregation.worker")
    worker.run()
    failed = [r for r in caplog.records if "poll pass failed" in r.getMessage()]
    assert len(passes) == 2 and len(failed) == 2
    assert all(r.exc_info is None for r in failed)
    assert "database unavailable" in failed[0].getMessage()
    assert "connection refused" in failed[0].getMessage() and "DETAIL" not in failed[0].getMessage()


@pytest.mark.parametrize("answer", ["moved", "entries", "not_modified", "error"])
def test_a_feed_url_edited_while_its_old_one_is_fetched_wins(db, httpserver, answer):
    """The old URL's answer is dropped: the edit's URL stays, with no validators, and is due.

    It was stored: a 301 put the old feed's target back over the admin's
    edit, and an answer's validators were then sent to the new URL, whose
    304s kept its entries out for good (found by a black-box audit).
    """
    from feedserver.aggregation.sources import update_source
    from feedserver.models import utcnow

    asked, release = threading.Event(), threading.Event()

    def slow(request):
        asked.set()
        release.wait(10)
        if answer == "moved":
            return Response("", status=301, headers={"Location": httpserver.url_for("/moved")})
        if answer == "not_modified":
            return Response("", status=304, headers={"ETag": '"old-2"'})
        if answer == "error":
            return Response("boom", status=500)
        return Response(
            rss(numbered(2, prefix="old")), content_type=RSS, headers={"ETag": '"old-2"'}
        )

    httpserver.expect_request("/old").respond_with_handler(slow)
    sid = add(db, httpserver.url_for("/old"))
    with db.session() as s:
        s.get(Source, sid).etag = '"old-1"'
    done = []
    polling = threading.Thread(target=lambda: done.append(poll(db, httpserver)))
    polling.start()
    try:
        assert asked.wait(10)
        with db.session() as s:  # the admin's edit, as the API and the admin make it
            fetcher = settings_for(httpserver.port).fetcher()
            update_source(s, s.get(Source, sid), {"feed_url": httpserver.url_for("/new")}, fetcher)
    finally:
        release.set()
        polling.join(20)
    assert done and done[0].sources == 1
    source = source_row(db, sid)
    assert source.feed_url == httpserver.url_for("/new")
    assert source.etag is None and source.last_modified is None
    assert source.error_count == 0 and source.next_fetch_at <= utcnow()
    assert articles_of(db, sid) == []


def test_a_host_that_never_answers_does_not_hold_back_other_hosts(db):
    """Jobs waiting for one host's turn held every thread: other hosts waited its time-outs.

    One host gets at most twice POLL_PER_HOST threads (found by a black-box audit:
    24 hanging sources delayed a healthy host's by 41 s).
    """
    from tests.feeds.upstream_servers import RawServer

    asked: list[float] = []

    def hang(sock, _head):
        sock.recv(1)  # until the poller gives up and hangs up

    def answer(sock, _head):
        asked.append(time.monotonic())
        body = rss(numbered(1))
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    with RawServer(hang) as stuck, RawServer(answer) as fine:
        hanging = [add(db, f"http://127.0.0.1:{stuck.port}/h{k}") for k in range(5)]
        healthy = [add(db, f"http://localhost:{fine.port}/f{k}") for k in range(2)]
        settings = settings_for(
            stuck.port,
            allowlist="127.0.0.0/8,::1/128",
            concurrency=4,
            per_host=1,
            fetch_timeout=1,
        )
        started = time.monotonic()
        stats = poll_once(db, settings)
    assert stats.sources == 7 and stats.errors == 5
    assert len(asked) == 2 and max(asked) - started < 0.8, [t - started for t in asked]
    assert all(len(articles_of(db, i)) == 1 for i in healthy)
    assert all("no complete answer within 1 s" in source_row(db, i).last_error for i in hanging)


def test_the_worker_takes_sources_that_come_due_while_its_pass_runs(db):
    """A pass claimed what was due when it began; a source due a moment later
    waited for the slowest refresh of the pass to end (found by a black-box audit)."""
    from tests.feeds.upstream_servers import RawServer

    asked: dict[str, float] = {}

    def handler(sock, head):
        path = head.split(b" ")[1].decode()
        asked[path] = time.monotonic()
        if path == "/slow":
            sock.recv(1)
            return
        body = rss(numbered(1))
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    with RawServer(handler) as upstream:
        add(db, upstream.url("/slow"))
        later = add(db, upstream.url("/later"), next_fetch_at=utcnow_plus(3600))
        worker = Worker(db, settings_for(upstream.port, fetch_timeout=4))
        worker.startup_delay = 0
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while "/slow" not in asked and time.monotonic() < deadline:
                time.sleep(0.02)
            due_again(db, later)
            made_due = time.monotonic()
            while "/later" not in asked and time.monotonic() < deadline + 5:
                time.sleep(0.02)
        finally:
            worker.stop()
            thread.join(10)
    assert "/later" in asked and asked["/later"] - made_due < 2.5, asked
    assert not thread.is_alive()


def utcnow_plus(seconds: float):
    from feedserver.models import utcnow

    return utcnow() + timedelta(seconds=seconds)


def test_the_status_an_upstream_answered_is_its_health_even_when_the_body_fails(db, httpserver):
    # A 204 was recorded as 200, and a 200 whose body was too big as no status
    # at all (found by a black-box audit; INTERFACE §4 lists the last HTTP status).
    httpserver.expect_request("/empty").respond_with_data("", status=204)
    httpserver.expect_request("/big").respond_with_data(b"x" * 4096, content_type=RSS)
    httpserver.expect_request("/junk").respond_with_data("not a feed", status=203)
    ids = {p: add(db, httpserver.url_for(p)) for p in ("/empty", "/big", "/junk")}
    stats = poll(db, httpserver, max_bytes=1024)
    assert stats.errors == 3
    rows = {p: source_row(db, i) for p, i in ids.items()}
    assert {p: r.last_status for p, r in rows.items()} == {"/empty": 204, "/big": 200, "/junk": 203}
    assert "body over 1024 bytes" in rows["/big"].last_error


def test_a_stop_ends_the_refreshes_under_way_and_starts_no_other(db):
    """At a stop, sources waiting for their host's turn (in a thread or held) were
    fetched after the one under way, so a stop took twice the fetch time-out (found
    by a black-box audit). They are handed back, due at once, and never asked for."""
    from feedserver.models import utcnow
    from tests.feeds.upstream_servers import RawServer

    asked: list[str] = []

    def hang(sock, head):
        asked.append(head.split(b" ")[1].decode())
        sock.recv(1)

    with RawServer(hang) as upstream:
        ids = [add(db, upstream.url(f"/slow{k}")) for k in range(6)]
        worker = Worker(db, settings_for(upstream.port, per_host=1, fetch_timeout=3))
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while not asked and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
            stopped_at = time.monotonic()
            worker.stop()
            thread.join(10)
            took = time.monotonic() - stopped_at
        finally:
            worker.stop()
    assert not thread.is_alive() and took < 3.5, took  # the one under way, then no other
    assert len(asked) == 1, asked
    now = utcnow()
    rows = [source_row(db, i) for i in ids]
    waiting = [r for r in rows if r.last_fetch_at is None]
    assert len(waiting) == 5 and all(r.next_fetch_at <= now for r in waiting)
    assert all(r.error_count == 0 for r in waiting)  # a source never asked is no failure


@pytest.mark.fuzz
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.sampled_from(["a.example", "b.example", "c.example", ""]), max_size=40),
    st.randoms(use_true_random=False),
)
def test_host_shares_never_exceed_a_share_and_run_every_job_once(share, hosts, rng):
    from feedserver.aggregation.poller import HostShares, job_host

    shares = HostShares(share)
    jobs = [
        aggregation.SourceJob(n, f"https://{h}/feed{n}" if h else "") for n, h in enumerate(hosts)
    ]
    running: list[aggregation.SourceJob] = [job for job in jobs if shares.admit(job)]
    started = [job.id for job in running]
    while running:
        for host in {job_host(job) for job in running}:
            assert sum(1 for job in running if job_host(job) == host) <= share
        done = running.pop(rng.randrange(len(running)))
        after = shares.finished(done)
        if after is not None:
            assert job_host(after) == job_host(done)
            running.append(after)
            started.append(after.id)
    assert sorted(started) == list(range(len(jobs))) and shares.held == 0
