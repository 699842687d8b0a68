"""A PostgreSQL outage under load: cached feeds 200, pages and API 503, never 500.

The test starts its own PostgreSQL cluster (initdb in a temporary folder,
its own port) so that it can stop and start it: the shared test server is
not ours to stop. Being root, it runs the server as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from werkzeug.serving import make_server

from feedserver import create_app
from feedserver.db import Database, get_db
from feedserver.migrate import upgrade
from tests.factories import make_article

pytestmark = pytest.mark.slow
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class Cluster:
    def __init__(self, bindir: str, root: Path, port: int) -> None:
        self.bindir, self.data, self.port = bindir, root / "data", port
        self.log = root / "server.log"
        self.root = root

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            _as_postgres(f"{self.bindir}/{tool}", *args),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not BINARIES or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries here")
    # Directly under /tmp: pytest's own tmp folders are root-only, and the
    # server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="feedserver-pg-outage-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
    cluster = Cluster(BINARIES[-1], root, _free_port())
    cluster.run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync")
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_outage_under_load(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres"
    db = Database.from_url(url)
    upgrade(db.engine)
    with db.session() as s:
        slugs = [make_article(s).slug for _ in range(3)]
    db.engine.dispose()
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": False,
            "DATABASE_URL": url,
            "SECRET_KEY": "outage",
            "RUN_POLLER": False,
            "WTF_CSRF_ENABLED": False,
            # One client re-fetching unconditionally is the load here, not a rude reader.
            "POLITE_POLLING": False,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    feeds = ["/feed.atom", "/feed.rss", "/feed.json"]
    pages = ["/", f"/articles/{slugs[0]}"]
    api = "/api/articles"  # a token is looked up in the database: 401, or 503 in an outage
    bogus = {"Authorization": "Bearer not-a-real-token-but-long-enough-to-check"}
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            warm = {path: client.get(path) for path in feeds + pages}
            assert all(r.status_code == 200 for r in warm.values()), warm
            assert client.get(api, headers=bogus).status_code == 401
            tags = {path: warm[path].headers["ETag"] for path in feeds}

            seen: Counter[tuple[str, int]] = Counter()
            problems: list[str] = []
            stop = threading.Event()

            def load() -> None:
                with httpx.Client(base_url=base, timeout=10) as mine:
                    while not stop.is_set():
                        for path in feeds + pages:
                            r = mine.get(path)
                            seen[(path, r.status_code)] += 1
                            if r.status_code >= 500 and r.status_code != 503:
                                problems.append(f"{path} {r.status_code}")
                            ok = path in feeds and r.status_code == 200
                            if ok and r.headers.get("ETag") != tags[path]:
                                problems.append(f"{path} ETag changed")

            workers = [threading.Thread(target=load) for _ in range(3)]
            for worker in workers:
                worker.start()
            time.sleep(1)
            cluster.stop()
            down_at = time.monotonic()
            outage: Counter[tuple[str, int]] = Counter()
            while time.monotonic() - down_at < 6:
                for path in feeds + pages:
                    r = client.get(path, headers={"If-None-Match": tags.get(path, "")})
                    outage[(path, r.status_code)] += 1
                    if path in pages and r.status_code == 503:
                        assert r.headers.get("Retry-After", "").isdigit()
                        assert "database" in r.text.lower()
                r = client.get(api, headers=bogus)
                outage[(api, r.status_code)] += 1
                if r.status_code == 503:
                    assert r.json()["error"]["code"] == "database_unavailable"
                    assert r.headers.get("Retry-After", "").isdigit()
                time.sleep(0.05)
            cluster.start()
            up_at = time.monotonic()
            recovered = None
            while time.monotonic() - up_at < 15:
                if all(client.get(p).status_code == 200 for p in feeds + pages):
                    recovered = time.monotonic() - up_at
                    break
                time.sleep(0.2)
            stop.set()
            for worker in workers:
                worker.join(10)
    finally:
        server.shutdown()
        get_db(app).engine.dispose()

    assert not problems, problems[:10]
    for path in feeds:  # served from the kept answer throughout: 200 or 304
        assert {code for (p, code) in outage if p == path} <= {304}, outage
        assert not [code for (p, code) in seen if p == path and code >= 500], seen
    assert outage[(api, 503)] > 0 and {c for (p, c) in outage if p == api} <= {401, 503}
    for path in pages:
        assert outage[(path, 503)] > 0, outage
        assert {code for (p, code) in outage if p == path} <= {200, 503}, outage
    assert recovered is not None and recovered < 10, f"not back within 15 s: {seen}"


def test_a_session_an_outage_left_half_failed_counts_as_the_outage():
    """A later statement of the same request meets PendingRollbackError: 503, not 500."""
    from sqlalchemy import exc

    from feedserver.errors import is_database_outage

    assert is_database_outage(exc.PendingRollbackError("Can't reconnect until rolled back"))
    assert not is_database_outage(exc.NoResultFound("not an outage"))


def test_a_sqlite_connection_left_read_only_is_replaced(tmp_path: Path):
    """A connection opened while the file could not be written is dropped, not kept for good."""
    import sqlite3

    from sqlalchemy import exc, text

    from feedserver.db import Database

    path = tmp_path / "ro.db"
    sqlite3.connect(path).executescript("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
    db = Database.from_url(f"sqlite:///{path}")
    writable = True

    def open_connection() -> sqlite3.Connection:
        # As if the file were read-only when the pool connected (chattr +i, a
        # read-only mount): SQLite keeps such a connection read-only for good.
        mode = "rw" if writable else "ro"
        return sqlite3.connect(f"file:{path}?mode={mode}", uri=True, check_same_thread=False)

    db.engine.pool._creator = open_connection  # type: ignore[attr-defined]
    db.engine.pool.dispose()
    writable = False
    with pytest.raises(exc.OperationalError) as failed, db.engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert failed.value.connection_invalidated  # the pool lets it go…
    writable = True  # …so once the file can be written again, the next write works
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.execute(text("SELECT sum(x) FROM t")).scalar() == 4


def test_postgresql_connections_give_up_on_a_silent_server(postgres_url: str):
    from feedserver.db import PG_CONNECT_ARGS, Database

    db = Database.from_url(postgres_url)
    with db.engine.connect() as conn:
        params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert params["connect_timeout"] == "5"
        assert params["tcp_user_timeout"] == str(PG_CONNECT_ARGS["tcp_user_timeout"])
        assert params["keepalives_idle"] == "10"
    db.engine.dispose()


def test_background_loops_log_an_outage_in_one_line_and_a_bug_with_its_traceback(tmp_path, caplog):
    """README: during an outage the poller logs one line a pass. Its story-queue read
    (and grouping, the stats flush, the navigation) logged an ~80-line traceback each."""
    import logging

    from feedserver.aggregation.poller import Poller
    from feedserver.aggregation.refresh import PollSettings
    from feedserver.db import log_failure

    gone = Database.from_url(f"sqlite:///{tmp_path}/no/such/dir/feedserver.db")
    poller = Poller(gone, PollSettings(), parse_processes=0)
    try:
        with caplog.at_level(logging.WARNING):
            assert poller._stories_queued() is False
            assert poller.group_stories() == 0
    finally:
        poller.close()
    lines = [r for r in caplog.records if r.name == "feedserver.aggregation.poller"]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert all("database unavailable: OperationalError" in r.getMessage() for r in lines)
    caplog.clear()  # a refresh whose store meets the outage, and its failure's record
    from feeds.errors import FetchError
    from feedserver.aggregation import store
    from feedserver.aggregation.refresh import SourceJob

    with caplog.at_level(logging.WARNING):
        outcome = store.store_failure(gone, SourceJob(1, "http://x.example/"),
                                      FetchError("http://x.example/", "HTTP 500"), PollSettings())  # fmt: skip
    assert "not recorded: database error" in outcome.error
    assert caplog.records and all(r.exc_info is None for r in caplog.records)
    caplog.clear()
    log = logging.getLogger("tests.outage")
    try:
        raise KeyError("a bug, not an outage")
    except KeyError as bug:
        log_failure(log, "a step failed", bug)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
