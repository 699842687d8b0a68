"""Counting feed requests and subscribers (INTERFACE §9), read back through GET /api/stats/feeds.

Every request goes through the real app: the audience layer, the fast path
(cached hits) and the Flask feed view (misses); the counts are flushed to the
database under test (SQLite and PostgreSQL) and read by the API.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from feedserver.models import FeedClient, ReaderReport, utcnow
from feedserver.publishing import statsdb
from feedserver.publishing.audience import tally_of
from tests.factories import make_article, make_section

FEEDLY = (
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; like FeedFetcher-Google)"
)
FEEDLY_ID = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; feed-id={id})"
INOREADER = (
    "Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; "
    "{n} subscribers; )"
)
NEWSBLUR = "NewsBlur Feed Fetcher - {n} subscribers - http://www.newsblur.com/site/{id}/ledger"
FEEDBIN = "Feedbin feed-id:{id} - {n} subscribers"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"
NEWSBOAT = "newsboat/2.36.0 (Linux x86_64)"
CURL = "curl/8.5.0"


def fetch(client, path, agent, address="198.51.100.7", **headers):
    headers["User-Agent"] = agent
    return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": address})


def stats(api, path=None):
    response = api.get("/api/stats/feeds")
    assert response.status_code == 200, response.data
    feeds = response.get_json()["feeds"]
    if path is None:
        return feeds
    found = [f for f in feeds if f["path"] == path]
    assert len(found) == 1, feeds
    return found[0]


@pytest.fixture
def counted(app, news):
    yield app
    tally_of(app).close()


def test_readers_and_plain_clients_are_counted(counted, client, api):
    first = fetch(client, "/feed.atom", FEEDLY.format(n=42), "192.0.2.10")
    assert first.status_code == 200
    fetch(client, "/feed.atom", INOREADER.format(n=12), "192.0.2.11")
    fetch(client, "/feed.atom", NEWSBLUR.format(n=3, id=991), "192.0.2.12")
    fetch(client, "/feed.atom", FEEDBIN.format(n=142, id=1373711), "192.0.2.13")
    # Three plain clients; one of them twice (from the same address, same agent).
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.1")
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.1")
    fetch(client, "/feed.atom", NEWSBOAT, "203.0.113.2")
    # Same address, another agent: another client (a second reader behind one NAT).
    fetch(client, "/feed.atom", CURL, "203.0.113.2")
    # A conditional request: counted as a request and as a 304.
    etag = first.headers["ETag"]
    assert (
        fetch(client, "/feed.atom", NEWSBOAT, "203.0.113.2", **{"If-None-Match": etag}).status_code
        == 304
    )

    feed = stats(api, "/feed.atom")
    assert feed["url"] == "http://localhost/feed.atom"
    assert feed["subscribers"] == {
        "total": 42 + 12 + 3 + 142 + 3,
        "by_reader": {"Feedbin": 142, "Feedly": 42, "Inoreader": 12, "NewsBlur": 3, "other": 3},
    }
    assert list(feed["subscribers"]["by_reader"])[-1] == "other"
    assert feed["requests"] == 9
    assert feed["not_modified"] == pytest.approx(1 / 9, abs=1e-4)
    assert feed["bytes"] == 8 * len(first.data)


def test_a_later_report_replaces_the_earlier(counted, client, api):
    fetch(client, "/feed.rss", FEEDLY.format(n=42), "192.0.2.10")
    stats(api)  # flushed: the second report comes in a later batch
    fetch(client, "/feed.rss", FEEDLY.format(n=40), "192.0.2.99")  # another fetcher machine
    assert stats(api, "/feed.rss")["subscribers"]["by_reader"] == {"Feedly": 40, "other": 0}

    # Reports within one batch: the latest wins too.
    fetch(client, "/feed.rss", FEEDLY.format(n=50), "192.0.2.10")
    fetch(client, "/feed.rss", FEEDLY.format(n=45), "192.0.2.10")
    assert stats(api, "/feed.rss")["subscribers"]["total"] == 45


def test_reports_with_feed_ids_add_up_per_id(counted, client, api):
    fetch(client, "/feed.json", FEEDLY_ID.format(n=10, id="a"), "192.0.2.10")
    fetch(client, "/feed.json", FEEDLY_ID.format(n=5, id="b"), "192.0.2.10")
    assert stats(api, "/feed.json")["subscribers"]["by_reader"]["Feedly"] == 15
    fetch(client, "/feed.json", FEEDLY_ID.format(n=7, id="a"), "192.0.2.10")
    assert stats(api, "/feed.json")["subscribers"]["by_reader"]["Feedly"] == 12


def test_fast_path_hits_are_counted_once_each(counted, client, api):
    fast = counted.extensions["feedserver.publishing.fastpath"]
    hits = fast.hits
    for _ in range(5):
        assert fetch(client, "/sections/world/feed.json", CURL).status_code == 200
    assert fast.hits == hits + 4  # one miss (Flask), four hits (fast path)
    etag = fetch(client, "/sections/world/feed.json", CURL).headers["ETag"]
    for _ in range(3):
        response = fetch(client, "/sections/world/feed.json", CURL, **{"If-None-Match": etag})
        assert response.status_code == 304
    assert fast.hits == hits + 8
    feed = stats(api, "/sections/world/feed.json")
    assert feed["requests"] == 9
    assert feed["not_modified"] == pytest.approx(3 / 9, abs=1e-4)
    assert feed["subscribers"] == {"total": 1, "by_reader": {"other": 1}}


def test_every_scope_and_format_and_page_is_counted(counted, client, api, db, app):
    paths = [
        "/feed.rss",
        "/sections/world/feed.atom",
        "/authors/ada/feed.json",
        "/sources/wire/feed.rss",
        "/articles/one/comments.rss",
        "/articles/one/comments.atom",
    ]
    for path in paths:
        assert fetch(client, path, CURL).status_code == 200, path
    assert client.head("/feed.rss", headers={"User-Agent": CURL}).status_code == 200
    counted_paths = {f["path"]: f for f in stats(api)}
    assert set(paths) <= set(counted_paths)
    assert counted_paths["/feed.rss"]["requests"] == 2  # the HEAD too, with no body bytes
    assert counted_paths["/feed.rss"]["bytes"] == len(fetch(client, "/feed.rss", CURL).data)


def test_the_feed_list_says_how_many_and_pages_on_request(counted, client, api):
    paths = ["/feed.rss", "/sections/world/feed.atom", "/authors/ada/feed.json"]
    for path in paths:
        assert fetch(client, path, CURL).status_code == 200, path
    whole = api.get("/api/stats/feeds").get_json()
    assert whole["total"] == len(whole["feeds"]) >= 3  # no paging asked: every feed
    first = api.get("/api/stats/feeds?per_page=2").get_json()
    second = api.get("/api/stats/feeds?per_page=2&page=2").get_json()
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, whole["total"])
    assert first["pages"] == -(-whole["total"] // 2)
    assert first["feeds"] + second["feeds"] == whole["feeds"][:4]
    for junk in ("page=0", "per_page=-1", "page=x", "per_page=100000"):
        bad = api.get(f"/api/stats/feeds?{junk}")
        assert bad.status_code == 400 and bad.get_json()["error"]["message"], junk


@pytest.fixture
def small_pages(app_config):
    app_config["FEED_ITEMS"] = 2


@pytest.fixture
def flushing(app_config):
    app_config["STATS_FLUSH_SECONDS"] = 1


def test_page_requests_share_the_feed(small_pages, app, client, api, news):
    try:
        assert fetch(client, "/feed.atom", CURL).status_code == 200
        assert fetch(client, "/feed.atom?page=2", CURL).status_code == 200
        feed = stats(api, "/feed.atom")
        assert feed["requests"] == 2
        assert not [f for f in stats(api) if "page" in f["path"]]
    finally:
        tally_of(app).close()


def test_not_feeds_and_errors_are_not_counted(counted, client, api):
    assert fetch(client, "/sections/nowhere/feed.atom", CURL).status_code == 404
    assert fetch(client, "/feed.atom?page=999", CURL).status_code in (400, 404)
    assert fetch(client, "/feed/", CURL).status_code == 301  # WordPress path: a redirect
    assert fetch(client, "/", CURL).status_code == 200
    assert stats(api) == []


def test_addresses_are_never_stored(counted, client, api, db):
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.77")
    fetch(client, "/feed.atom", FEEDLY.format(n=9), "192.0.2.55")
    stats(api)
    with db.session() as s:
        clients = s.scalars(select(FeedClient)).all()
        reports = s.scalars(select(ReaderReport)).all()
    assert len(clients) == 1 and len(reports) == 1
    stored = repr([(c.path, c.client) for c in clients]) + repr(
        [(r.service, r.feed_id) for r in reports]
    )
    assert "203.0.113.77" not in stored and "192.0.2.55" not in stored
    assert len(clients[0].client) == 32 and int(clients[0].client, 16) >= 0


def test_old_clients_and_reports_leave_the_window(counted, client, api, db):
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.1")
    fetch(client, "/feed.atom", FEEDLY.format(n=9), "192.0.2.55")
    stats(api)
    with db.session() as s:
        long_ago = utcnow() - statsdb.WINDOW - statsdb.timedelta(minutes=1)
        for row in s.scalars(select(FeedClient)):
            row.last_seen = long_ago
        for report in s.scalars(select(ReaderReport)):
            report.reported_at = long_ago
    assert stats(api, "/feed.atom")["subscribers"] == {"total": 0, "by_reader": {"other": 0}}


def test_counting_can_be_turned_off(app_config, news, tmp_path, monkeypatch):
    from feedserver import create_app
    from feedserver.db import get_db
    from tests.feedserver.api_support import authorized

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance2"))
    app = create_app({**app_config, "FEED_STATS": False})
    try:
        client = app.test_client()
        assert fetch(client, "/feed.atom", CURL).status_code == 200
        api = authorized(client, get_db(app))
        assert stats(api) == []
    finally:
        get_db(app).engine.dispose()


def test_the_api_needs_a_token(client):
    response = client.get("/api/stats/feeds")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_the_openapi_document_describes_stats(client):
    document = client.get("/api/openapi.json").get_json()
    assert "/api/stats/feeds" in document["paths"]
    schema = document["components"]["schemas"]["FeedStats"]
    assert set(schema["required"]) == {
        "url",
        "path",
        "subscribers",
        "requests",
        "not_modified",
        "bytes",
    }
    from openapi_spec_validator import validate

    validate(document)


def test_the_background_flusher_writes_within_seconds(flushing, app, client, db, news):
    """No API read, no explicit flush: the process's flusher writes on its own."""
    try:
        fetch(client, "/feed.atom", FEEDLY.format(n=5), "192.0.2.10")
        deadline = time.monotonic() + 8
        figures: list[statsdb.FeedFigures] = []
        while time.monotonic() < deadline:
            with db.session() as s:
                figures = statsdb.feed_figures(s, utcnow())
            if figures:
                break
            time.sleep(0.2)
        assert [(f.path, f.subscribers, f.requests) for f in figures] == [("/feed.atom", 5, 1)]
    finally:
        tally_of(app).close()


def test_daily_snapshot_feeds_the_charts(counted, client, api, db):
    fetch(client, "/feed.atom", FEEDLY.format(n=42), "192.0.2.10")
    fetch(client, "/feed.atom", CURL, "203.0.113.1", **{"If-None-Match": '"nope"'})
    stats(api)
    with db.session() as s:
        series = statsdb.daily_series(s, utcnow().date(), 90)
        one = statsdb.daily_series(s, utcnow().date(), 90, path="/feed.atom")
        none = statsdb.daily_series(s, utcnow().date(), 90, path="/feed.rss")
    assert len(series) == 90
    assert series[-1].subscribers == 43 and series[-1].requests == 2
    assert one[-1] == series[-1]
    assert none[-1].requests == 0 and all(p.subscribers == 0 for p in series[:-1])


def test_new_articles_change_nothing_but_the_feed(counted, client, api, db):
    """A feed change is not a new subscriber: the same client still counts once."""
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.1")
    with db.session() as s:
        make_article(s, slug="fresh", section=make_section(s, slug="fresh-news"))
    fetch(client, "/feed.atom", THUNDERBIRD, "203.0.113.1")
    feed = stats(api, "/feed.atom")
    assert feed["subscribers"]["total"] == 1 and feed["requests"] == 2


def test_two_processes_flush_into_one_database(app_config, news, tmp_path, monkeypatch, db):
    """Two web processes (two apps, two tallies) on one database: counts add up, reports
    keep the latest, whichever process flushes last."""
    from feedserver import create_app
    from feedserver.db import get_db
    from tests.feedserver.api_support import authorized

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance-b"))
    first, second = create_app(dict(app_config)), create_app(dict(app_config))
    try:
        a, b = first.test_client(), second.test_client()
        fetch(a, "/feed.atom", FEEDLY.format(n=30), "192.0.2.1")
        fetch(a, "/feed.atom", THUNDERBIRD, "203.0.113.1")
        time.sleep(0.01)
        fetch(b, "/feed.atom", FEEDLY.format(n=31), "192.0.2.2")  # the later report
        fetch(b, "/feed.atom", THUNDERBIRD, "203.0.113.1")  # the same client, other process
        fetch(b, "/feed.atom", NEWSBOAT, "203.0.113.2")
        tally_of(second).flush()  # the later report is written first …
        api = authorized(a, get_db(first))
        feed = stats(api, "/feed.atom")  # … and the earlier one with this read: it loses
        assert feed["subscribers"] == {"total": 33, "by_reader": {"Feedly": 31, "other": 2}}
        assert feed["requests"] == 5
    finally:
        for one in (first, second):
            tally_of(one).close()
            get_db(one).engine.dispose()


HOSTILE_AGENTS = [
    "A" * 20_000,
    "Feedly/1.0 (" + "9" * 5000 + " subscribers)",
    "x (1 subscribers; feed-id=" + "z" * 5000 + ")",
    "\x00\x01\x7f (3 subscribers)",
    "ÿ" * 300 + " 12 subscribers",
    "NewsBlur Feed Fetcher - 4 subscribers - http://www.newsblur.com/site/" + "1" * 500 + "/x",
]


@pytest.mark.parametrize("agent", HOSTILE_AGENTS, ids=range(len(HOSTILE_AGENTS)))
def test_hostile_agents_are_counted_without_harm(counted, client, api, agent):
    response = fetch(client, "/feed.atom", agent, "203.0.113.66")
    assert response.status_code == 200
    feed = stats(api, "/feed.atom")
    assert feed["requests"] == 1
    assert 1 <= feed["subscribers"]["total"] <= 100_000_000
    for reader in feed["subscribers"]["by_reader"]:
        assert len(reader) <= 40


def test_reporting_services_per_feed_are_bounded(counted, client, api):
    from feedserver.publishing.tally import MAX_SERVICES_PER_FEED

    for i in range(MAX_SERVICES_PER_FEED + 10):
        fetch(client, "/feed.atom", f"Spray{i}/1.0 (1000 subscribers)", "192.0.2.3")
    readers = stats(api, "/feed.atom")["subscribers"]["by_reader"]
    assert len(readers) == MAX_SERVICES_PER_FEED + 1  # the believed services, plus "other"
    assert readers["other"] == 10  # the rest count as plain clients


def test_one_address_cannot_make_itself_many_subscribers(counted, client, api, db):
    # A new user agent on every request from one address: each would be a
    # subscriber (and a stored row) of its own. It counts as a few at most.
    from sqlalchemy import func, select

    from feedserver.models import FeedClient
    from feedserver.publishing.tally import MAX_AGENTS_PER_ADDRESS

    for i in range(200):
        fetch(client, "/feed.atom", f"Reader{i}/1.0", "198.51.100.66")
    fetch(client, "/feed.atom", NEWSBOAT, "203.0.113.2")  # someone else: counted as ever
    feed = stats(api, "/feed.atom")
    assert feed["requests"] == 201
    assert feed["subscribers"]["by_reader"] == {"other": MAX_AGENTS_PER_ADDRESS + 1 + 1}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FeedClient)) == MAX_AGENTS_PER_ADDRESS + 2


def test_a_clients_remembered_name_is_its_name_and_is_forgotten_with_its_allowance():
    # Names are remembered per (address, user agent) so a poller's next
    # request skips the keyed hash; they must be the names a fresh
    # computation gives, and an address whose allowance was used up gets
    # its agents named again once the allowance starts over.
    from feedserver.publishing.tally import MAX_AGENTS_PER_ADDRESS, Tally

    fresh = Tally(db=None, secret="s", flush_seconds=0)  # type: ignore[arg-type]
    tally = Tally(db=None, secret="s", flush_seconds=0)  # type: ignore[arg-type]
    agents = [f"Reader{i}/1.0" for i in range(MAX_AGENTS_PER_ADDRESS + 3)]
    names = [tally.client("198.51.100.66", agent) for agent in agents]
    assert [tally.client("198.51.100.66", agent) for agent in agents] == names
    assert names == [fresh.client("198.51.100.66", agent) for agent in agents]
    assert len(set(names)) == MAX_AGENTS_PER_ADDRESS + 1  # the rest are "many agents"
    late = agents[-1]
    assert tally.client("198.51.100.66", late) == names[-1] == names[-2]

    tally._forget_agents()  # what the hourly prune does
    renamed = tally.client("198.51.100.66", late)
    assert renamed not in names
    assert renamed == Tally(db=None, secret="s", flush_seconds=0).client("198.51.100.66", late)  # type: ignore[arg-type]
