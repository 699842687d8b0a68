"""The sources, poll and worker commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from feedserver.models import Article, Section, Source
from tests.factories import make_section
from tests.feedserver.aggregation_support import numbered, rss

RSS = "application/rss+xml"


@pytest.fixture(autouse=True)
def upstream(httpserver, app_config):
    app_config["UPSTREAM_ALLOWLIST"] = f"127.0.0.1:{httpserver.port}"
    return httpserver


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_add_list_export_import_remove(runner, db, upstream, tmp_path):
    with db.session() as s:
        make_section(s, slug="world", name="World")
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(numbered(3), title="Wire"), content_type=RSS
    )
    url = upstream.url_for("/feed.xml")
    result = runner.invoke(args=["sources", "add", url, "--section", "world"])
    assert result.exit_code == 0, result.output
    assert "Added source 1 'wire'" in result.output and "3 entries" in result.output

    result = runner.invoke(args=["sources", "list"])
    assert result.exit_code == 0 and url in result.output and "articles=3" in result.output

    again = runner.invoke(args=["sources", "add", url])
    assert again.exit_code == 1 and "already the feed of source 1" in again.output
    refused = runner.invoke(args=["sources", "add", "http://169.254.169.254/"])
    assert refused.exit_code == 1 and "link-local" in refused.output.lower()

    exported = runner.invoke(args=["sources", "export"])
    assert exported.exit_code == 0 and url in exported.output
    opml = tmp_path / "subs.opml"
    opml.write_text(exported.output)

    result = runner.invoke(args=["sources", "remove", "1", "--yes"])
    assert result.exit_code == 0 and "3 articles" in result.output
    assert count(db, Source) == 0 and count(db, Article) == 0
    assert runner.invoke(args=["sources", "remove", "1", "--yes"]).exit_code == 1

    result = runner.invoke(args=["sources", "import", str(opml)])
    assert result.exit_code == 0 and "1 added, 0 skipped, 0 refused" in result.output
    with db.session() as s:
        assert s.scalar(select(Source.section_id)) is not None

    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body>")
    result = runner.invoke(args=["sources", "import", str(bad)])
    assert result.exit_code == 1 and "malformed" in result.output


def test_poll_once_with_progress(runner, db, upstream):
    for i in range(3):
        upstream.expect_request(f"/f{i}.xml").respond_with_data(
            rss(numbered(2, prefix=f"feed{i}")), content_type=RSS
        )
    upstream.expect_request("/broken.xml").respond_with_data("no", status=500)
    with db.session() as s:
        for i in range(3):
            s.add(Source(slug=f"s{i}", name=f"S{i}", feed_url=upstream.url_for(f"/f{i}.xml")))
        s.add(Source(slug="broken", name="Broken", feed_url=upstream.url_for("/broken.xml")))
    result = runner.invoke(args=["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert "4 sources polled: 6 new entries" in result.output and "1 errors" in result.output
    assert "HTTP 500" in result.output
    assert count(db, Article) == 6
    result = runner.invoke(args=["poll", "--once"])
    assert "0 sources polled" in result.output


def start_worker(database_url: str, tmp_path, **env: str) -> subprocess.Popen[str]:
    """`feedserver worker` as a process of its own, its output on one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "feedserver.cli", "worker"],
        env={
            **os.environ,
            "FEEDSERVER_DATABASE_URL": database_url,
            "FEEDSERVER_INSTANCE_PATH": str(tmp_path),
            "FEEDSERVER_SECRET_KEY": "x",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_worker_stops_on_sigterm(database_url, tmp_path, upstream):
    import signal
    import time

    child = start_worker(database_url, tmp_path)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert "Polling until stopped" in line, line
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        assert child.wait(15) == 0
        assert "poller stopped" in child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()


def test_sections_create_and_list(runner, db):
    assert "No sections yet" in runner.invoke(args=["sections", "list"]).output
    made = runner.invoke(args=["sections", "create", "Science & Tech"])
    assert made.exit_code == 0, made.output
    assert "Created section" in made.output and "'science-and-tech'" in made.output
    named = runner.invoke(args=["sections", "create", "World", "--slug", "world-news"])
    assert named.exit_code == 0 and "'world-news' (World)" in named.output
    taken = runner.invoke(args=["sections", "create", "Other", "--slug", "world-news"])
    assert taken.exit_code == 1 and "world-news" in taken.output
    bad = runner.invoke(args=["sections", "create", "Bad", "--slug", "Not A Slug!"])
    assert bad.exit_code == 1 and "slug" in bad.output.lower()
    empty = runner.invoke(args=["sections", "create", ""])
    assert empty.exit_code == 1 and "name" in empty.output.lower()
    listed = runner.invoke(args=["sections", "list"]).output.splitlines()
    assert [line.split("\t")[1:] for line in listed] == [
        ["science-and-tech", "Science & Tech", "articles=0"],
        ["world-news", "World", "articles=0"],
    ]


def test_a_url_that_differs_only_by_its_fragment_is_the_same_source(runner, db, upstream):
    upstream.expect_request("/feed.xml").respond_with_data(
        rss(numbered(1)), content_type="application/rss+xml"
    )
    url = upstream.url_for("/feed.xml")
    added = runner.invoke(args=["sources", "add", url + "#latest"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(args=["sources", "add", url + "#other"])
    assert again.exit_code == 1 and "already" in again.output
    # Nor does an empty query make another feed (it stored every entry twice).
    empty_query = runner.invoke(args=["sources", "add", url + "??"])
    assert empty_query.exit_code == 1 and "already" in empty_query.output
    with db.session() as session:
        assert list(session.scalars(select(Source.feed_url))) == [url]


def test_creating_a_section_twice_says_it_exists(runner, db):
    assert runner.invoke(args=["sections", "create", "World"]).exit_code == 0
    again = runner.invoke(args=["sections", "create", "world"])
    assert again.exit_code == 1 and "exists already" in again.output
    assert "Traceback" not in again.output
    assert len(runner.invoke(args=["sections", "list"]).output.splitlines()) == 1


def test_files_that_cannot_be_read_or_written_are_one_line_errors(runner, db, tmp_path):
    for target in (tmp_path / "missing" / "x.opml", tmp_path):
        result = runner.invoke(args=["sources", "export", "-o", str(target)])
        assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
        assert "Error" in result.output
    huge = runner.invoke(args=["sources", "import", "/dev/zero"])
    assert huge.exit_code == 1 and "larger than 32 MiB" in huge.output
    assert runner.invoke(args=["sources", "import", str(tmp_path / "nope.opml")]).exit_code == 2


def _import(runner, tmp_path, outlines: str):
    """Write an OPML document of these outlines and import it: (its path, the result)."""
    opml = tmp_path / "subscriptions.opml"
    opml.write_text(
        f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'
    )
    result = runner.invoke(args=["sources", "import", str(opml)])
    assert result.exit_code == 0, result.output
    return opml, result


def test_import_creates_the_sections_its_categories_name(runner, db, tmp_path):
    with db.session() as s:
        make_section(s, slug="world", name="World")
    opml, result = _import(
        runner,
        tmp_path,
        '<outline text="Tech"><outline type="rss" text="A" xmlUrl="https://a.example/feed"/>'
        '<outline type="rss" text="B" xmlUrl="https://b.example/feed"/></outline>'
        '<outline text="world"><outline type="rss" text="C" xmlUrl="https://c.example/feed"/></outline>'
        '<outline type="rss" text="D" xmlUrl="https://d.example/feed" category="/Deep/Science"/>',
    )
    created = [
        line.split("\t")[2:]
        for line in result.output.splitlines()
        if line.startswith("created section")
    ]
    assert created == [["tech", "Tech"], ["science", "Science"]]
    assert "4 added, 0 skipped, 0 refused; 2 sections created." in result.output
    with db.session() as s:
        pairs = s.execute(
            select(Source.feed_url, Section.slug)
            .join(Section, Source.section_id == Section.id)
            .order_by(Source.feed_url)
        ).all()
    assert [slug for _url, slug in pairs] == ["tech", "tech", "world", "science"]
    again = runner.invoke(args=["sources", "import", str(opml)])
    assert "0 added, 4 skipped, 0 refused; 0 sections created." in again.output


def test_import_says_which_outlines_it_left_out(runner, db, tmp_path):
    # A feed outline without its address and a feed listed twice were left
    # out without a word: the count did not add up to the file.
    opml = tmp_path / "mixed.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline type="rss" text="A" xmlUrl="https://a.example/feed"/>'
        '<outline type="rss" text="Lost address"/>'
        '<outline text="Folder"><outline type="rss" text="A again" xmlUrl="https://a.example/feed"/></outline>'
        '<outline text="Empty folder"><outline text="Nothing here"/></outline>'
        "</body></opml>"
    )
    result = runner.invoke(args=["sources", "import", str(opml)])
    assert result.exit_code == 0, result.output
    skipped = [
        line.split("\t")[1:] for line in result.output.splitlines() if line.startswith("skipped")
    ]
    assert skipped == [
        ["Lost address", "no feed address (xmlUrl)"],
        ["https://a.example/feed", "listed more than once in the file"],
        ["Nothing here", "no feed address (xmlUrl)"],
    ]
    assert "1 added, 3 skipped, 0 refused" in result.output


def test_poll_once_all_refreshes_sources_that_are_not_due(runner, db, upstream):
    from datetime import timedelta

    from feedserver.models import utcnow

    upstream.expect_request("/f.xml").respond_with_data(rss(numbered(2)), content_type=RSS)
    with db.session() as s:
        s.add(Source(slug="later", name="Later", feed_url=upstream.url_for("/f.xml"),
                     next_fetch_at=utcnow() + timedelta(hours=5)))  # fmt: skip
        s.add(Source(slug="off", name="Off", feed_url=upstream.url_for("/f.xml") + "?off",
                     enabled=False))  # fmt: skip
    assert "0 sources polled" in runner.invoke(args=["poll", "--once"]).output
    result = runner.invoke(args=["poll", "--once", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 sources polled: 2 new entries" in result.output  # the disabled one stays off
    assert count(db, Article) == 2
    misuse = runner.invoke(args=["poll", "--all"])
    assert misuse.exit_code == 2 and "--once" in misuse.output


def test_a_second_signal_stops_the_worker_at_once(database_url, tmp_path, db):
    """The first waits for the fetches under way (up to the fetch time-out); the second does not."""
    import signal
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def accept_and_hang() -> None:  # an upstream that never answers
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept_and_hang, daemon=True).start()
    with db.session() as s:
        s.add(Source(slug="slow", name="Slow", feed_url=f"http://127.0.0.1:{port}/feed.xml"))
    child = start_worker(
        database_url,
        tmp_path,
        FEEDSERVER_UPSTREAM_ALLOWLIST=f"127.0.0.1:{port}",
        FEEDSERVER_FETCH_TIMEOUT="60",
    )
    try:
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # the fetch is under way
            time.sleep(0.1)
        assert held, "the worker never fetched"
        child.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert child.poll() is None  # still finishing the fetch under way
        started = time.monotonic()
        child.send_signal(signal.SIGTERM)
        assert child.wait(10) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 5  # not the 60-second fetch time-out
        assert "stopping now" in (child.stdout.read() if child.stdout else "")
    finally:
        if child.poll() is None:
            child.kill()
        listener.close()
        for conn in held:
            conn.close()


def test_a_source_whose_slug_was_taken_meanwhile_is_a_conflict_not_a_known_url(db, monkeypatch):
    # Two sources of one name added at once: the loser's slug is taken between
    # its check and its insert. The answer says to send it again, not that its
    # URL is already a source (it is not, and a client would believe it).
    from feedserver.aggregation import sources
    from feedserver.errors import Conflict
    from tests.factories import make_source

    with db.session() as s:
        make_source(s, slug="city-desk", name="City Desk", feed_url="https://a.example/feed")
    monkeypatch.setattr(sources, "unique_slug", lambda *a, **k: "city-desk")  # free a moment ago
    with pytest.raises(Conflict) as lost, db.session() as s:
        sources._new_source(s, "City Desk", {"feed_url": "https://b.example/feed"})
    assert lost.value.code == "conflict"
    assert "same moment" in str(lost.value) and "b.example" not in str(lost.value)
    with db.session() as s:
        assert list(s.scalars(select(Source.feed_url))) == ["https://a.example/feed"]


def test_unusable_categories_are_refused_saying_why(runner, db, tmp_path):
    # Categories name sections by their names: one no section could have is
    # refused with its reason, and "<b>News</b>" is markup, not a path.
    long = "C" * 201
    _, result = _import(
        runner,
        tmp_path,
        f'<outline type="rss" text="L" xmlUrl="https://l.example/feed" category="{long}"/>'
        '<outline type="rss" text="T" xmlUrl="https://t.example/feed" category="Cat&#x9;Tab"/>'
        '<outline type="rss" text="M" xmlUrl="https://m.example/feed"'
        ' category="&lt;b&gt;News&lt;/b&gt;"/>'
        '<outline type="rss" text="P" xmlUrl="https://p.example/feed" category="/Deep/Science"/>',
    )
    assert "1 added, 0 skipped, 3 refused; 1 section created." in result.output
    assert "longer than the 200 characters a section's name may have" in result.output
    assert "category contains a control character (U+0009)" in result.output
    assert "must be plain text, not HTML" in result.output
    with db.session() as s:
        assert sorted(s.scalars(select(Section.name))) == ["Science"]


def test_poll_once_stops_on_ctrl_c_after_the_refreshes_under_way(database_url, db, tmp_path):
    """`poll --once` ran every source to its end whatever the signals (found by an audit)."""
    import signal
    import time

    from tests.factories import make_source
    from tests.feeds.upstream_servers import RawServer

    asked: list[str] = []

    def hang(sock, head):
        asked.append(head.split(b" ")[1].decode())
        sock.recv(1)

    with RawServer(hang) as stuck:
        with db.session() as s:
            ids = [make_source(s, feed_url=stuck.url(f"/slow{k}")).id for k in range(6)]
            s.commit()
        child = subprocess.Popen(
            [sys.executable, "-m", "feedserver.cli", "poll", "--once"],
            env={
                **os.environ,
                "FEEDSERVER_DATABASE_URL": database_url,
                "FEEDSERVER_INSTANCE_PATH": str(tmp_path),
                "FEEDSERVER_UPSTREAM_ALLOWLIST": f"127.0.0.1:{stuck.port}",
                "FEEDSERVER_POLL_PER_HOST": "1",
                "FEEDSERVER_FETCH_TIMEOUT": "3",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not asked and time.monotonic() < deadline:
                time.sleep(0.05)
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=15)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 130, err
    assert "Stopping" in err and "handed back, due at once" in err
    assert len(asked) == 1, asked
    with db.session() as s:
        fresh = [s.get(Source, i) for i in ids]
        assert sum(1 for r in fresh if r.last_fetch_at is None) == 5
