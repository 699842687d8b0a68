"""feedserver/deploy/nginx.conf: valid for nginx, and a cache that keeps the app's validators."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.factories import make_article, make_section
from tests.feedserver.publishing.test_fastpath import ROOT, SERVER

pytestmark = pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, listen: int, app_port: int) -> Path:
    site = (ROOT / "feedserver" / "deploy" / "nginx.conf").read_text()
    site = (
        site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
        .replace("listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;")
        .replace("server_name news.example;", "server_name 127.0.0.1;")
        .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
        .replace("/var/lib/nginx/feedserver", str(tmp / "cache"))
    )
    conf = tmp / "nginx.conf"
    # As root, nginx's workers would drop to "nobody" and not reach pytest's 0700 tmp dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        user + f"daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; client_body_temp_path {tmp}/body; "
        f"proxy_temp_path {tmp}/proxy;\n{site}\n}}\n"
    )
    return conf


def _get(port, path, **headers):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_nginx_accepts_the_config(tmp_path):
    conf = _config(tmp_path, _free_port(), _free_port())
    done = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_nginx_caches_feeds_and_keeps_validators(database_url, db, tmp_path):
    with db.session() as s:
        make_article(s, slug="one", section=make_section(s, slug="world"))
    env = {
        **os.environ,
        "FEEDSERVER_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": str(ROOT),
    }
    app = subprocess.Popen(
        [sys.executable, "-c", SERVER, database_url, "listen"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    nginx = None
    try:
        app_port = int(app.stdout.readline())
        port = _free_port()
        conf = _config(tmp_path, port, app_port)
        nginx = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "e.log")]
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                status, headers, body = _get(port, "/sections/world/feed.rss")
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        direct = _get(app_port, "/sections/world/feed.rss", Host=f"127.0.0.1:{port}")
        assert status == 200 and headers["X-Cache-Status"] == "MISS"
        assert headers["ETag"] == direct[1]["ETag"] and body == direct[2]
        assert headers["Cache-Control"] == direct[1]["Cache-Control"]
        status, again, body2 = _get(port, "/sections/world/feed.rss")
        assert again["X-Cache-Status"] == "HIT" and body2 == body
        assert (
            _get(port, "/sections/world/feed.rss", **{"If-None-Match": headers["ETag"]})[0] == 304
        )
        status, zipped, data = _get(port, "/sections/world/feed.rss", **{"Accept-Encoding": "gzip"})
        assert zipped["Content-Encoding"] == "gzip" and gzip.decompress(data) == body
        assert _get(port, "/sections/nope/feed.rss")[0] == 404
        # Junk query parameters share the entry of the page they name.
        junk = _get(port, "/sections/world/feed.rss?utm_source=x&page=1x")
        assert junk[0] in (200, 400)
        status, tagged, _ = _get(port, "/sections/world/feed.rss?utm_source=spam")
        assert status == 200 and tagged["X-Cache-Status"] == "HIT"
        # A Host that is not ours never reaches the app (nginx closes: 444).
        with pytest.raises((OSError, urllib.error.URLError)):
            _get(port, "/sections/world/feed.rss", Host="evil.example")
        # Metrics only for direct scrapes: through nginx every client is loopback.
        assert _get(port, "/metrics")[0] == 403
        assert _get(app_port, "/metrics")[0] == 200
        # nginx's request id reaches the app, which echoes it.
        _, page, _ = _get(port, "/healthz")
        assert len(page["X-Request-Id"]) == 32
        # Half-sent bodies stay in nginx (the app server has one thread here):
        # the app goes on answering everyone else.
        slow = []
        for _ in range(3):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(
                b"POST /websub HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\nhub.mode="
            )
            slow.append(conn)
        try:
            started = time.monotonic()
            assert _get(port, "/healthz")[0] == 200
            assert time.monotonic() - started < 5
        finally:
            for conn in slow:
                conn.close()
        time.sleep(1.5)  # the app counts its requests once a second
        metrics = _get(app_port, "/metrics")[2].decode()
        assert 'group="feed"' in metrics and 'group="websub"' not in metrics  # none reached it
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        app.terminate()
        app.wait(timeout=10)
