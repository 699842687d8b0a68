"""/metrics: Prometheus text, who may read it, what it counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedserver import create_app
from feedserver.ops import metrics
from feedserver.ops.logs import clean_request_id


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_requests_and_fast_path_are_counted(client, news):
    before_feed = sample("feedserver_http_requests_total", group="feed", status="200")
    before_fast = sample("feedserver_fastpath_answers_total", status="200")
    before_304 = sample("feedserver_fastpath_answers_total", status="304")
    first = client.get("/feed.atom")  # cold: Flask renders and fills the fast path
    assert first.status_code == 200
    second = client.get("/feed.atom")  # answered by the fast path
    assert second.data == first.data
    third = client.get("/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert third.status_code == 304
    client.get("/no-such-page")
    text = scrape(client)  # a scrape flushes this process's counts first
    assert sample("feedserver_http_requests_total", group="feed", status="200") == before_feed + 2
    assert sample("feedserver_fastpath_answers_total", status="200") == before_fast + 1
    assert sample("feedserver_fastpath_answers_total", status="304") == before_304 + 1
    assert 'feedserver_http_requests_total{group="page",status="404"}' in text
    assert "feedserver_oldest_due_source_age_seconds 0.0" in text
    assert "_created" not in text


def test_cold_renders_are_timed(client, news):
    before = sample("feedserver_feed_render_seconds_count", format="rss")
    client.get("/sections/world/feed.rss")
    assert sample("feedserver_feed_render_seconds_count", format="rss") == before + 1


def test_metrics_refused_outside_the_allow_list(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert "FEEDSERVER_METRICS_ALLOW" in response.get_data(as_text=True)
    assert b"feedserver_http_requests_total" not in response.data


def test_metrics_allow_list_is_configurable(app_config, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path))
    app = create_app({**app_config, "METRICS_ALLOW": "203.0.113.0/24"})
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed


def test_a_bad_allow_list_stops_start_up(app_config, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="FEEDSERVER_METRICS_ALLOW.*'10.0.0.0/33'"):
        create_app({**app_config, "METRICS_ALLOW": "127.0.0.1,10.0.0.0/33"})


def test_poll_outcomes_are_counted():
    before = {
        k: sample("feedserver_poll_fetches_total", outcome=k)
        for k in ("changed", "not_modified", "error")
    }
    added = sample("feedserver_entries_stored_total", kind="added")
    parse_errors = sample("feedserver_refresh_errors_total", stage="parse")
    metrics.record_refresh(200, 3, 1, None)
    metrics.record_refresh(304, 0, 0, None)
    metrics.record_refresh(200, 0, 0, "parse: not a feed (text/html)")
    assert sample("feedserver_poll_fetches_total", outcome="changed") == before["changed"] + 1
    assert sample("feedserver_poll_fetches_total", outcome="not_modified") == (
        before["not_modified"] + 1
    )
    assert sample("feedserver_poll_fetches_total", outcome="error") == before["error"] + 1
    assert sample("feedserver_entries_stored_total", kind="added") == added + 3
    assert sample("feedserver_refresh_errors_total", stage="parse") == parse_errors + 1


def test_request_ids_echoed_or_made(client):
    given_id = client.get("/healthz", headers={"X-Request-Id": "edge-1234.abc"})
    assert given_id.headers["X-Request-Id"] == "edge-1234.abc"
    for hostile in ("a" * 65, "x y", "<script>", "é"):
        made = client.get("/healthz", headers={"X-Request-Id": hostile})
        assert made.headers["X-Request-Id"] != hostile
        assert len(made.headers["X-Request-Id"]) == 16


def test_cached_headers_are_not_mutated(client, news):
    """The fast path keeps a header list; each answer must carry one X-Request-Id."""
    client.get("/feed.rss")
    for _ in range(3):
        response = client.get("/feed.rss")
        assert len(response.headers.getlist("X-Request-Id")) == 1


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/feed.atom", "feed"),
        ("/sections/world/feed.json", "feed"),
        ("/articles/a/comments.rss", "feed"),
        ("/feed/", "feed"),
        ("/api/articles", "api"),
        ("/admin/", "admin"),
        ("/static/site.css", "static"),
        ("/websub", "websub"),
        ("/readyz", "ops"),
        ("/", "page"),
        ("/articles/a", "page"),
    ],
)
def test_route_groups(path, group):
    assert metrics.route_group(path) == group


@pytest.mark.parametrize(
    ("address", "allow", "expected"),
    [
        ("127.0.0.1", "127.0.0.0/8,::1", True),
        ("::1", "127.0.0.0/8,::1", True),
        ("::ffff:127.0.0.1", "127.0.0.0/8", True),
        ("10.1.2.3", "127.0.0.0/8,::1", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("fe80::1%eth0", "fe80::/10", True),
        (None, "127.0.0.0/8", False),
        ("not an address", "127.0.0.0/8", False),
        ("127.0.0.1", "", False),
    ],
)
def test_allow_list(address, allow, expected):
    assert metrics.allowed(address, allow) is expected


@given(st.text(max_size=80), st.text(max_size=80))
def test_allow_list_never_raises(address, allow):
    assert metrics.allowed(address, allow) in (True, False)


@given(st.one_of(st.none(), st.text(max_size=200)))
def test_request_id_cleaning_never_raises(value):
    cleaned = clean_request_id(value)
    assert cleaned is None or (cleaned == value and len(cleaned) <= 64)


@given(st.text(max_size=300))
def test_route_group_is_always_a_known_label(path):
    assert metrics.route_group(path) in {
        "feed", "api", "admin", "static", "websub", "ops", "page",
    }  # fmt: skip


def test_a_separate_pollers_counters_reach_metrics_through_the_shared_folder(
    tmp_path, monkeypatch, httpserver, app
):
    """Production runs the poller in `feedserver worker`, not in a web process:
    with the same PROMETHEUS_MULTIPROC_DIR (the deploy units share one), the web's
    /metrics shows the worker's poll counters."""
    import os
    import subprocess
    import sys

    from tests.feedserver.aggregation_support import numbered, rss

    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(numbered(2)), content_type="application/rss+xml"
    )
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSERVER_")}
    env.update(
        FEEDSERVER_INSTANCE_PATH=str(tmp_path / "instance"),
        FEEDSERVER_UPSTREAM_ALLOWLIST=f"127.0.0.1:{httpserver.port}",
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    cli = [sys.executable, "-m", "feedserver.cli"]
    for args in (["db", "upgrade"], ["sources", "add", httpserver.url_for("/feed.xml")],
                 ["poll", "--once", "--all"]):  # fmt: skip
        done = subprocess.run(  # noqa: S603 - our own command
            [*cli, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    assert list(shared.glob("counter_*.db"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    text = metrics.exposition(app).decode()
    assert 'feedserver_poll_fetches_total{outcome="changed"} 1.0' in text  # the poll's refresh
