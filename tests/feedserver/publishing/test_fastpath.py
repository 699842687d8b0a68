"""The fast feed path: same answers as Flask, and invalidated exactly and everywhere.

In-process tests compare the fast path's answers with Flask's own, header for
header, and check that edits, deletes, renames and upstream updates change
exactly the affected feeds. The multi-process tests run two real server
processes on one database (SQLite file, or PostgreSQL as several web machines
would share it), warm their caches, change rows from a third process and
expect both servers to answer with the new validators and bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from feedserver.models import Article, Author, Section, Source

ROOT = Path(__file__).resolve().parents[3]
FORMATS = ("rss", "atom", "json")
ENCODINGS = {"identity": None, "gzip": "gzip", "br": "gzip, br"}


def fast(app):
    return app.extensions["feedserver.publishing.fastpath"]


def headers_of(response):
    """Every header but the request id, which is each request's own (one per answer)."""
    assert len(response.headers.getlist("X-Request-Id")) == 1
    return sorted(item for item in response.headers.items() if item[0] != "X-Request-Id")


def ask(client, path, accept=None, **headers):
    if accept:
        headers["Accept-Encoding"] = accept
    return client.get(path, headers=headers)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fast_answers_equal_flask_answers(app, client, world, fmt, encoding):
    path = f"/sections/world/feed.{fmt}"
    accept = ENCODINGS[encoding]
    hits = fast(app).hits
    by_flask = ask(client, path, accept)
    assert fast(app).hits == hits  # a miss: Flask rendered it
    by_fast = ask(client, path, accept)
    assert fast(app).hits == hits + 1
    assert by_fast.status == by_flask.status == "200 OK"
    assert headers_of(by_fast) == headers_of(by_flask)
    assert by_fast.data == by_flask.data
    if encoding != "identity":
        assert by_fast.headers["Content-Encoding"] == encoding

    # A 304 from the fast path equals the 304 Flask gives (asked with a cold cache).
    etag = by_flask.headers["ETag"]
    fast(app).clear()
    flask_304 = ask(client, path, accept, **{"If-None-Match": etag})
    fast_304 = ask(client, path, accept, **{"If-None-Match": etag})
    assert fast(app).hits == hits + 2
    assert flask_304.status_code == fast_304.status_code == 304
    assert headers_of(fast_304) == headers_of(flask_304)
    assert fast_304.data == b""

    # HEAD: the GET's headers, no body.
    head = client.head(path, headers={"Accept-Encoding": accept} if accept else {})
    assert head.status_code == 200 and head.data == b""
    assert headers_of(head) == headers_of(by_flask)


def test_conditional_forms(app, client, world):
    first = client.get("/feed.atom")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    client.get("/feed.atom")
    hits = fast(app).hits
    assert client.get("/feed.atom", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/feed.atom", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/feed.atom", headers={"If-Modified-Since": last_modified}).status_code == 304
    other = client.get("/feed.atom", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.data == first.data
    old = client.get("/feed.atom", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    both = client.get(
        "/feed.atom", headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    )
    assert both.status_code == 200
    assert fast(app).hits == hits + 8


def test_pages_and_hosts_are_separate_entries(app, client, db, world):
    app.config["FEED_ITEMS"] = 2
    one = client.get("/feed.rss")
    two = client.get("/feed.rss?page=2")
    assert one.data != two.data
    assert client.get("/feed.rss?page=2").data == two.data
    assert client.get("/feed.rss").data == one.data
    other_host = client.get("/feed.rss", base_url="http://mirror.example")
    assert b"mirror.example" in other_host.data and b"mirror.example" not in one.data
    past = client.get("/feed.rss?page=9")
    assert past.status_code == 404 and b"This feed has 2 page(s), not 9." in past.data
    bad = client.get("/feed.rss?page=x")
    assert bad.status_code == 400 and b"page must be a whole number" in bad.data


def etags(client, paths):
    return {p: client.get(p).headers.get("ETag") for p in paths}


PATHS = [
    "/feed.atom",
    "/sections/world/feed.atom",
    "/sections/science/feed.atom",
    "/authors/ada/feed.atom",
    "/authors/bo/feed.atom",
    "/sources/wire/feed.atom",
]


def warm(client, paths=PATHS):
    before = etags(client, paths)
    assert etags(client, paths) == before  # the second round is served by the fast path
    return before


def changed(client, before):
    after = etags(client, before)
    return {p for p in before if before[p] != after[p]}


def test_edit_changes_exactly_its_scopes(app, client, db, world):
    before = warm(client)
    with db.session() as s:
        s.scalar(select(Article).where(Article.slug == "one")).title = "One, revised"
    assert changed(client, before) == {
        "/feed.atom",
        "/sections/world/feed.atom",
        "/authors/ada/feed.atom",
    }
    assert b"One, revised" in client.get("/authors/ada/feed.atom").data
    assert b"One, revised" in client.get("/feed.atom").data


def test_delete_changes_exactly_its_scopes(app, client, db, world):
    before = warm(client)
    with db.session() as s:
        s.delete(s.scalar(select(Article).where(Article.slug == "three")))
    assert changed(client, before) == {
        "/feed.atom",
        "/sections/science/feed.atom",
        "/authors/bo/feed.atom",
    }
    assert b"/articles/three" not in client.get("/authors/bo/feed.atom").data


def test_upstream_update_changes_source_scopes(app, client, db, world):
    before = warm(client)
    with db.session() as s:  # what the aggregator does with a changed upstream entry
        s.scalar(
            select(Article).where(Article.slug == "two")
        ).body_html = "<p>Updated upstream.</p>"
    assert changed(client, before) == {
        "/feed.atom",
        "/sections/world/feed.atom",
        "/authors/ada/feed.atom",
        "/authors/bo/feed.atom",
        "/sources/wire/feed.atom",
    }
    with db.session() as s:  # polling state alone changes no feed
        s.scalar(select(Source).where(Source.slug == "wire")).last_status = 304
    assert changed(client, etags(client, PATHS)) == set()


def test_renames_move_slugs_and_names(app, client, db, world):
    warm(client)
    assert b"/sections/world" in client.get("/sections/world/feed.rss").data
    with db.session() as s:
        s.scalar(select(Section).where(Section.slug == "world")).slug = "planet"
    gone = client.get("/sections/world/feed.rss")
    assert gone.status_code == 404 and b"No section called &#39;world&#39;." in gone.data
    moved = client.get("/sections/planet/feed.rss")
    assert moved.status_code == 200 and b"/sections/planet/feed.rss" in moved.data
    with db.session() as s:
        s.scalar(select(Author).where(Author.slug == "ada")).name = "Augusta Ada King"
    assert b"Augusta Ada King" in client.get("/authors/ada/feed.atom").data
    assert b"Augusta Ada King" in client.get("/feed.atom").data
    with db.session() as s:
        s.add(Section(slug="world", name="World, again"))
    assert client.get("/sections/world/feed.rss").status_code == 200
    assert b"World, again" in client.get("/sections/world/feed.rss").data


def test_a_signed_in_reader_gets_the_public_answer(app, client, db, world):
    """Flask's hooks (session, sign-in, security headers) add nothing to a feed answer,
    so the answer the view hands to the fast path is the one Flask sent."""
    from tests.feedserver.admin_support import make_user, sign_in

    make_user(db)
    assert sign_in(client).status_code == 302  # the client now sends a session cookie
    hits = fast(app).hits
    by_flask = client.get("/feed.atom")
    by_fast = client.get("/feed.atom")
    assert fast(app).hits == hits + 1
    assert "Set-Cookie" not in by_flask.headers and by_flask.headers["Vary"] == "Accept-Encoding"

    def in_order(response):  # the request id is each answer's own (added outside both paths)
        return [h for h in response.headers.to_wsgi_list() if h[0] != "X-Request-Id"]

    assert in_order(by_fast) == in_order(by_flask)
    assert by_fast.data == by_flask.data


def test_a_cold_304_is_kept_without_asking_flask_twice(app, client, world, monkeypatch):
    etag = client.get("/feed.rss").headers["ETag"]
    fast(app).clear()
    calls = []
    inner = fast(app).app
    monkeypatch.setattr(fast(app), "app", lambda env, sr: calls.append(1) or inner(env, sr))
    assert client.get("/feed.rss", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/feed.rss", headers={"If-None-Match": etag}).status_code == 304
    assert len(calls) == 1  # the first 304 came from Flask, once; the second from the kept answer
    again = client.get("/feed.rss")  # only the 304 is known: Flask renders the 200
    assert again.status_code == 200 and len(calls) == 2


def test_non_feed_requests_pass_through(app, client, world):
    hits = fast(app).hits
    for _ in range(2):
        assert client.get("/nope-at-all").status_code == 404
        assert client.post("/feed.rss").status_code in (405, 400)
    assert fast(app).hits == hits


def test_fast_path_can_be_turned_off(app_config, tmp_path, monkeypatch):
    from feedserver import create_app
    from feedserver.db import get_db

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    plain = create_app({**app_config, "FAST_FEEDS": False})
    assert "feedserver.publishing.fastpath" not in plain.extensions
    get_db(plain).engine.dispose()


# ------------------------------------------------------------ several processes

SERVER = """
import sys, time
from werkzeug.serving import make_server
from feedserver import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "k", "RUN_POLLER": False,
                  "FAST_FEEDS_LISTEN": sys.argv[2] == "listen"})
versions = app.extensions["feedserver.publishing.fastpath"].versions
versions.current("site")
deadline = time.monotonic() + 20
while sys.argv[2] == "listen" and not getattr(versions, "listening", True):
    if time.monotonic() > deadline:
        sys.exit("listener did not connect")
    time.sleep(0.02)
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


WRITER = """
import sys
from sqlalchemy import select
from feedserver.db import Database
from feedserver.models import Article
db = Database.from_url(sys.argv[1])
with db.session() as s:
    s.scalar(select(Article).where(Article.slug == "three")).title = "By a plain script"
assert "feedserver.publishing.fastpath" not in sys.modules
"""


def _get(port, path, **headers):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers.get("ETag"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("ETag"), b""


def _until(check, seconds=10.0):
    """Wait for a cross-process change to arrive (NOTIFY is asynchronous)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def servers(database_url, db, tmp_path, request):
    mode = getattr(request, "param", "listen")
    env = {
        **os.environ,
        "FEEDSERVER_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": str(ROOT),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SERVER, database_url, mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        ports = [int(p.stdout.readline()) for p in procs]
        yield ports
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


@pytest.mark.parametrize("servers", ["listen", "poll"], indirect=True)
def test_changes_reach_every_process(servers, db, world):
    paths = ["/sections/world/feed.rss", "/sections/science/feed.rss", "/authors/bo/feed.json"]
    before = {}
    for port in servers:
        for path in paths:
            first = _get(port, path)
            assert _get(port, path) == first  # warm: served from the process's cache
            assert _get(port, path, **{"If-None-Match": first[1]})[0] == 304
            before[port, path] = first

    with db.session() as s:  # a write from another process (an admin, the poller)
        s.scalar(select(Article).where(Article.slug == "one")).title = "Edited elsewhere"

    for port in servers:
        path = "/sections/world/feed.rss"
        assert _until(lambda port=port, path=path: _get(port, path)[1] != before[port, path][1])
        status, etag, body = _get(port, path)
        assert status == 200 and b"Edited elsewhere" in body
        assert _get(port, path, **{"If-None-Match": before[port, path][1]})[0] == 200
        assert _get(port, path, **{"If-None-Match": etag})[0] == 304
        # Untouched scopes keep their validators.
        for other in paths[1:]:
            assert _get(port, other)[1] == before[port, other][1]

    with db.session() as s:  # a rename reaches every process too
        s.scalar(select(Section).where(Section.slug == "science")).slug = "sciences"
    for port in servers:
        assert _until(lambda port=port: _get(port, "/sections/science/feed.rss")[0] == 404)
        assert _get(port, "/sections/sciences/feed.rss")[0] == 200

    # A writer that never imported the fast path (a poller, a CLI command, a
    # script) must reach the servers too: the NOTIFY comes from a trigger.
    subprocess.run([sys.executable, "-c", WRITER, db.engine.url.render_as_string(False)],
                   cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    for port in servers:
        path = "/authors/bo/feed.json"
        assert _until(lambda port=port, path=path: b"By a plain script" in _get(port, path)[2])

    with db.session() as s:  # a rolled-back change changes nothing
        s.scalar(select(Article).where(Article.slug == "three")).title = "Never"
        s.flush()
        s.rollback()
    for port in servers:
        assert b"Never" not in _get(port, "/authors/bo/feed.json")[2]


def test_a_request_with_a_body_gets_the_sites_checks_even_when_the_feed_is_kept(app, client, world):
    # A kept feed was answered 200 to a GET with a gzip-coded or oversized
    # body, where a cold one got the 415 or 413 every route gives (README).
    assert client.get("/feed.atom").status_code == 200
    hits = fast(app).hits
    coded = client.get("/feed.atom", data=b"x", headers={"Content-Encoding": "gzip"})
    assert coded.status_code == 415 and b"content coding" in coded.data
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    over = client.get("/feed.atom", data=big)
    assert over.status_code == 413 and b"larger than" in over.data
    assert fast(app).hits == hits
    assert client.get("/feed.atom").status_code == 200 and fast(app).hits == hits + 1
