"""``feedserver serve``: real granian workers and the poller; Ctrl-C and SIGTERM stop both.

Each test runs the command as a child process in its own session on a free
loopback port, against a migrated SQLite database and an upstream feed served
on 127.0.0.1 (allowlisted), so the poller has real work to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from feedserver.db import Database
from feedserver.migrate import upgrade
from feedserver.models import Source
from tests.feedserver.aggregation_support import numbered, rss

pytestmark = pytest.mark.slow

FEEDSERVER = [sys.executable, "-m", "feedserver.cli"]
# Seconds a stop may take: about 1-2 s on an idle machine; generous for a loaded one.
STOP_WITHIN = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path, httpserver):
    """A migrated database with one due upstream source, and the env to serve it."""
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(numbered(3, prefix="fresh")), content_type="application/rss+xml"
    )
    url = f"sqlite:///{tmp_path}/serve.db"
    database = Database.from_url(url)
    upgrade(database.engine)
    with database.session() as session:  # due now: only a running poller stores its entries
        session.add(Source(slug="up", name="Upstream", feed_url=httpserver.url_for("/feed.xml")))
    database.engine.dispose()
    env = dict(
        os.environ,
        FEEDSERVER_INSTANCE_PATH=str(tmp_path / "instance"),
        FEEDSERVER_DATABASE_URL=url,
        FEEDSERVER_SECRET_KEY="serve-test",
        FEEDSERVER_UPSTREAM_ALLOWLIST=f"127.0.0.1:{httpserver.port}",
        # These tests fetch one feed many times unconditionally from one client on
        # purpose; polite polling (its own tests: test_polite.py) would answer 429.
        FEEDSERVER_POLITE_POLLING="false",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def start(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    child = subprocess.Popen(
        [*FEEDSERVER, "serve", "--port", str(port), "--workers", "2", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal job is
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return child, base
        except httpx.HTTPError:
            time.sleep(0.2)
    child.kill()
    pytest.fail(f"serve did not answer: {child.stdout.read() if child.stdout else ''}")


def stop(child: subprocess.Popen[str], send: callable) -> tuple[float, str]:
    started = time.monotonic()
    send()
    try:
        child.wait(STOP_WITHIN + 5)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    output = child.stdout.read() if child.stdout else ""
    return time.monotonic() - started, output


def wait_for_article(base: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/feed.atom", timeout=5).text
        if "Fresh 1" in body:
            return body
        time.sleep(0.5)
    pytest.fail("the poller under serve stored nothing")


def test_ctrl_c_stops_workers_and_poller(site):
    child, base = start(site, "--poller")
    feed = wait_for_article(base)  # the poller ran inside serve
    assert "<feed" in feed
    assert_metrics_sum_every_worker(base)
    # Ctrl-C in a terminal signals the whole foreground process group.
    elapsed, output = stop(child, lambda: os.killpg(child.pid, signal.SIGINT))
    assert child.returncode == 0, output
    assert elapsed < STOP_WITHIN, output
    assert "poller stopped" in output
    assert not _alive_children(child.pid)


def test_the_poller_asked_for_by_the_environment_runs_once_and_is_counted(site):
    """FEEDSERVER_RUN_POLLER=true (as make run sets it): the start-up check's app
    started a second poller and WebSub sender, and this process's poll counts
    never reached /metrics (found by a README audit)."""
    child, base = start({**site, "FEEDSERVER_RUN_POLLER": "true"})
    wait_for_article(base)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics", timeout=5).text
        if re.search(r'feedserver_entries_stored_total\{kind="added"\} [1-9]', text):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the poller's counts are not in /metrics")
    _, output = stop(child, lambda: os.killpg(child.pid, signal.SIGTERM))
    assert output.count("poller started") == 1, output
    assert output.count("websub deliverer started") <= 1, output


def test_ctrl_c_does_not_wait_out_a_hanging_upstream(site, tmp_path):
    """A refresh under way gets a few seconds (POLLER_STOP_WAIT), not the fetch time-out."""
    from feedserver.ops.serve import POLLER_STOP_WAIT

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def hang() -> None:  # an upstream that takes the request and never answers
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=hang, daemon=True).start()
    port = listener.getsockname()[1]
    database = Database.from_url(site["FEEDSERVER_DATABASE_URL"])
    with database.session() as session:
        session.add(Source(slug="slow", name="Slow", feed_url=f"http://127.0.0.1:{port}/f.xml"))
    database.engine.dispose()
    env = dict(site, FEEDSERVER_FETCH_TIMEOUT="120")
    env["FEEDSERVER_UPSTREAM_ALLOWLIST"] += f",127.0.0.1:{port}"
    child, _ = start(env, "--poller")
    try:
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:
            time.sleep(0.2)
        assert held, "the poller never fetched the hanging upstream"
        elapsed, output = stop(child, lambda: os.killpg(child.pid, signal.SIGINT))
        assert child.returncode == 0, output
        assert elapsed < POLLER_STOP_WAIT + 8, output  # not the 120-second fetch time-out
        assert not _alive_children(child.pid)
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_sighup_replaces_workers_then_sigterm_stops_everything(site):
    child, base = start(site, "--poller")
    wait_for_article(base)
    workers = set(_alive_children(child.pid))
    child.send_signal(signal.SIGHUP)  # graceful reload: new workers, one at a time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fresh = set(_alive_children(child.pid))
        if len(fresh - workers) >= 2:
            break
        assert httpx.get(f"{base}/healthz", timeout=20).status_code == 200  # still serving
        time.sleep(0.3)
    else:
        pytest.fail(f"workers were not replaced: {workers} -> {fresh}")
    assert httpx.get(f"{base}/feed.atom", timeout=5).status_code == 200
    elapsed, output = stop(child, lambda: child.send_signal(signal.SIGTERM))
    assert child.returncode == 0, output
    assert elapsed < STOP_WITHIN, output
    assert "poller stopped" in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=1)


def test_workers_stop_when_the_supervisor_is_killed_outright(site):
    child, base = start(site, "--no-poller")
    workers = _alive_children(child.pid)
    alive = workers
    try:
        assert len(workers) >= 2  # the two workers (and whatever else the supervisor started)
        assert httpx.get(f"{base}/feed.rss", timeout=5).status_code == 200
        child.kill()  # SIGKILL: no chance to stop its workers (they have a group of their own)
        child.wait(5)
        deadline = time.monotonic() + STOP_WITHIN
        while time.monotonic() < deadline:
            alive = [pid for pid in workers if _running(int(pid))]
            if not alive:
                break
            time.sleep(0.3)
        assert not alive, "workers outlived their supervisor"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base}/healthz", timeout=1)
    finally:  # never leave a server behind, whatever an assertion said
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_metrics_sum_every_worker(base: str) -> None:
    with httpx.Client(base_url=base) as client:
        time.sleep(2.5)  # each worker hands its counts over once a second
        before = _feed_hits(client.get("/metrics").text)
        for _ in range(40):  # new connections spread over both workers
            assert client.get("/feed.rss", headers={"Connection": "close"}).status_code == 200
        time.sleep(2.5)  # each worker hands its counts over once a second
        assert _feed_hits(client.get("/metrics").text) - before == 40


def _feed_hits(text: str) -> float:
    match = re.search(r'feedserver_http_requests_total\{group="feed",status="200"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


def _alive_children(pid: int) -> list[str]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    out = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True
    )
    return [line.split()[0] for line in out.stdout.splitlines() if "resource_tracker" not in line]


def _raw(base: str, head: bytes) -> bytes:
    """One HTTP request as raw bytes; the status line of the answer."""
    import socket

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        return conn.recv(4096).split(b"\r\n", 1)[0]


def test_a_missing_doubled_or_malformed_host_is_a_400(site):
    """RFC 9112 §3.2, through the real server: the app sees what granian passes on."""
    child, base = start({**site, "FEEDSERVER_BASE_URL": "https://news.example"})
    try:
        good = b"GET /feed.rss HTTP/1.1\r\nHost: news.example\r\nConnection: close\r\n\r\n"
        assert _raw(base, good) == b"HTTP/1.1 200 OK"
        for hosts in (
            b"",
            b"Host: \r\n",
            b"Host: a.example\r\nHost: b.example\r\n",
            b"Host: a b\r\n",
            b"Host: <script>\r\n",
            b"Host: news.example:99999\r\n",
        ):
            head = b"GET /feed.rss HTTP/1.1\r\n" + hosts + b"Connection: close\r\n\r\n"
            assert _raw(base, head) == b"HTTP/1.1 400 Bad Request", hosts
        old = b"GET /feed.rss HTTP/1.0\r\n\r\n"  # HTTP/1.0 may leave Host out
        assert _raw(base, old).endswith(b"200 OK")
    finally:
        stop(child, lambda: os.killpg(child.pid, signal.SIGTERM))
