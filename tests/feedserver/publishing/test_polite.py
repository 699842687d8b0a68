"""Polite polling enforced (INTERFACE §9): the fourth unconditional re-fetch in a row gets a 429.

Through the real app (audience layer, fast path, Flask) on both databases,
plus unit tests of the row bookkeeping with explicit clocks.
"""

from __future__ import annotations

import time

import pytest

from feedserver.publishing.audience import tally_of
from feedserver.publishing.polite import ANSWERED_IN_A_ROW, PolitePolicy
from tests.factories import make_article, make_section

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"


@pytest.fixture
def polite(app_config):
    app_config["POLITE_POLLING"] = True


@pytest.fixture
def short_max_age(app_config):
    app_config["POLITE_POLLING"] = True
    app_config["FEED_MAX_AGE"] = 1


def get(client, path, address="203.0.113.9", agent=AGENT, **headers):
    headers["User-Agent"] = agent
    return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_first_fetch_and_two_repeats_are_answered_then_429(polite, app, client, news):
    answers = [get(client, "/feed.atom") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].data == answers[2].data and answers[0].data.startswith(b"<?xml")

    refused = get(client, "/feed.atom")
    assert refused.status_code == 429
    assert refused.mimetype == "text/plain"
    assert 1 <= int(refused.headers["Retry-After"]) <= 300  # the rest of FEED_MAX_AGE
    text = refused.get_data(as_text=True)
    assert "If-None-Match" in text and "If-Modified-Since" in text and len(text) < 400
    assert text.endswith("\n") and text.count("\n") == 1  # one line (README)
    assert f"wait {refused.headers['Retry-After']} seconds" in text
    assert "no-store" in refused.headers["Cache-Control"]
    assert "ETag" not in refused.headers

    # The fifth and later fetches of the row are refused too.
    assert get(client, "/feed.atom").status_code == 429

    # A conditional request right after is answered as always: 304.
    etag = answers[0].headers["ETag"]
    revalidated = get(client, "/feed.atom", **{"If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.data == b""
    modified = get(
        client, "/feed.atom", **{"If-Modified-Since": answers[0].headers["Last-Modified"]}
    )
    assert modified.status_code == 304

    # …and it ended the row: three answers again before the next 429.
    assert [get(client, "/feed.atom").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_another_content_coding_of_the_same_feed_does_not_start_a_new_row(
    polite, app, client, news
):
    """gzip, br and identity are one feed: switching Accept-Encoding is no way round §9."""
    codings = ["gzip", "br", "identity", "gzip", "br", "identity"]
    answers = [get(client, "/feed.atom", **{"Accept-Encoding": c}) for c in codings]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
    assert answers[0].headers["ETag"] != answers[1].headers["ETag"]  # each coding its own tag
    assert answers[3].headers["Retry-After"].isdigit()


def test_conditional_requests_are_never_refused(polite, app, client, news):
    etag = get(client, "/feed.rss").headers["ETag"]
    for _ in range(10):
        assert get(client, "/feed.rss", **{"If-None-Match": etag}).status_code == 304
    # A conditional request with an outdated validator gets the full feed, never a 429.
    for _ in range(5):
        assert get(client, "/feed.rss", **{"If-None-Match": '"old"'}).status_code == 200


def test_each_url_client_and_page_has_its_own_row(polite, app, client, news, app_config):
    for _ in range(3):
        assert get(client, "/feed.atom").status_code == 200
    # Another URL, another format, a page of the same feed, another client: fresh rows.
    assert get(client, "/feed.rss").status_code == 200
    assert get(client, "/feed.atom?page=1").status_code == 200
    assert get(client, "/feed.atom", address="203.0.113.10").status_code == 200
    assert get(client, "/feed.atom", agent="newsboat/2.36.0").status_code == 200
    # The original row is still counting.
    assert get(client, "/feed.atom").status_code == 429


def test_readers_behind_one_address_are_each_their_own_client(polite, app, client, news):
    # An office's or a carrier's NAT: many readers share an address. Past the
    # statistics' cap of agents per address (publishing.tally), each reader
    # still has its own rows here; none is refused on its first fetches.
    from feedserver.publishing.tally import MAX_AGENTS_PER_ADDRESS

    nat = "198.51.100.200"
    for n in range(MAX_AGENTS_PER_ADDRESS + 4):
        assert get(client, "/feed.atom", address=nat, agent=f"Reader{n}/1.0").status_code == 200
    readers = ["NetNewsWire/6", "Thunderbird/115", "newsboat/2.36", "Miniflux/2.1", "Feeder/2.6"]
    for agent in readers:
        assert [
            get(client, "/feed.rss", address=nat, agent=agent).status_code for _ in range(3)
        ] == [
            200,
            200,
            200,
        ], agent
    # and each one's own row still ends in a 429
    assert get(client, "/feed.rss", address=nat, agent=readers[0]).status_code == 429


def test_a_changed_feed_ends_the_row(polite, app, client, news, db):
    for _ in range(3):
        assert get(client, "/feed.atom").status_code == 200
    with db.session() as s:
        make_article(s, slug="breaking", section=make_section(s, slug="breaking-news"))
    changed = get(client, "/feed.atom")
    assert changed.status_code == 200
    assert b"breaking" in changed.data


def test_the_end_of_max_age_ends_the_row(short_max_age, app, client, news):
    for _ in range(3):
        assert get(client, "/feed.json").status_code == 200
    refused = get(client, "/feed.json")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert get(client, "/feed.json").status_code == 200


def test_head_is_never_refused(polite, app, client, news):
    for _ in range(6):
        response = client.head("/feed.atom", headers={"User-Agent": AGENT})
        assert response.status_code == 200


def test_refusals_are_counted_as_requests(polite, app, client, api, news):
    try:
        for _ in range(4):
            get(client, "/feed.atom")
        feed = next(
            f for f in api.get("/api/stats/feeds").get_json()["feeds"] if f["path"] == "/feed.atom"
        )
        assert feed["requests"] == 4
        assert feed["subscribers"]["total"] == 1
    finally:
        tally_of(app).close()


def test_polite_polling_can_be_turned_off(app, client, news):
    # The shared test settings have POLITE_POLLING=false.
    assert [get(client, "/feed.atom").status_code for _ in range(8)] == [200] * 8


def test_the_env_setting_turns_it_off(app_config, tmp_path, monkeypatch, news):
    from feedserver import create_app
    from feedserver.db import get_db

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance2"))
    monkeypatch.setenv("FEEDSERVER_POLITE_POLLING", "false")
    config = {k: v for k, v in app_config.items() if k != "POLITE_POLLING"}
    app = create_app(config)
    try:
        assert app.config["POLITE_POLLING"] is False
        client = app.test_client()
        assert [get(client, "/feed.atom").status_code for _ in range(5)] == [200] * 5
    finally:
        get_db(app).engine.dispose()
    monkeypatch.setenv("FEEDSERVER_POLITE_POLLING", "true")
    app = create_app(config)
    try:
        client = app.test_client()
        assert [get(client, "/feed.atom").status_code for _ in range(4)] == [200, 200, 200, 429]
    finally:
        get_db(app).engine.dispose()


# ---------------------------------------------------------------- the policy alone

KEY = ("client", "/feed.atom", "")


def test_policy_rows_with_a_clock():
    policy = PolitePolicy()
    assert [policy.unconditional(KEY, '"a"', 300, t) for t in (0, 10, 20)] == [0, 0, 0]
    # Retry-After: the rest of the max-age of the last answered copy (at t=20).
    assert policy.unconditional(KEY, '"a"', 300, 30) == 290
    assert policy.unconditional(KEY, '"a"', 300, 319.5) == 1
    assert policy.unconditional(KEY, '"a"', 300, 320) == 0  # stale: a new row
    assert policy.unconditional(KEY, '"b"', 300, 321) == 0  # a changed feed: a new row
    policy.conditional(KEY)
    assert [policy.unconditional(KEY, '"b"', 300, 322 + i) for i in range(4)] == [0, 0, 0, 299]
    assert ANSWERED_IN_A_ROW == 3


def test_policy_zero_max_age_never_refuses():
    policy = PolitePolicy()
    assert all(policy.unconditional(KEY, '"a"', 0, float(t)) == 0 for t in range(10))


def test_policy_memory_is_bounded():
    policy = PolitePolicy(max_rows=100)
    for i in range(1000):
        policy.unconditional((f"c{i}", "/feed.atom", ""), '"a"', 300, 0.0)
    assert len(policy) <= 100
    # Stale rows are swept first.
    policy = PolitePolicy(max_rows=10)
    for i in range(10):
        policy.unconditional((f"old{i}", "/f", ""), '"a"', 5, 0.0)
    policy.unconditional(("new", "/f", ""), '"a"', 5, 100.0)
    assert len(policy) == 1


def test_the_fast_path_counts_and_refuses_its_own_hits(polite, app, client, news):
    fast = app.extensions["feedserver.publishing.fastpath"]
    first = get(client, "/feed.atom")  # rendered by Flask, kept
    hits = fast.hits
    answers = [get(client, "/feed.atom") for _ in range(3)]
    assert fast.hits == hits + 3  # answered in front of Flask…
    assert [a.status_code for a in answers] == [200, 200, 429]  # …under the same rule
    refused = answers[-1]
    assert (
        refused.headers["Retry-After"].isdigit() and "no-store" in refused.headers["Cache-Control"]
    )
    ids = [a.headers["X-Request-Id"] for a in (first, *answers)]
    assert len(set(ids)) == 4 and all(ids)  # every answer named, the 429 too
