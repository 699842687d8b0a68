"""POST /websub: what the hub accepts and how it refuses (WebSub §5.1), hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from feeds.websub import WebSubError
from feedserver.models import HubDelivery, HubSubscription
from feedserver.publishing.websub.endpoint import Refused, parse_form
from feedserver.publishing.websub.topics import split_topic

CB = "http://127.0.0.1:9/cb"  # allowlisted below; nothing is sent in these tests


@pytest.fixture
def app_config(app_config):
    app_config["UPSTREAM_ALLOWLIST"] = "127.0.0.1:9"
    return app_config


def _post(client, **form):
    return client.post("/websub", data=form)


def _counts(db):
    with db.session() as s:
        return (
            s.scalar(select(func.count(HubSubscription.id))),
            s.scalar(select(func.count(HubDelivery.id))),
        )


@pytest.mark.parametrize(
    "topic",
    [
        "http://localhost/feed.rss",
        "http://localhost/feed.atom?page=1",
        "https://localhost/feed.json",
        "http://localhost/sections/world/feed.json",
        "http://localhost/authors/ada/feed.rss?page=1",
        "http://localhost/sources/wire/feed.atom",
    ],
)
def test_every_scope_and_format_is_accepted(client, db, newsroom, topic):
    r = _post(client, **{"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": CB})
    assert r.status_code == 202, r.data
    assert r.mimetype == "text/plain"
    assert _counts(db) == (1, 1)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("http://localhost/feed.atom?page=2", "only page 1"),
        ("http://localhost/feed.atom?page=1&x=1", "query parameters"),
        ("http://localhost/feed.atom?page=1&", "exactly ?page=1"),
        ("http://localhost/feed.atom?&page=1", "exactly ?page=1"),
        ("http://localhost//feed.atom", "it redirects"),
        ("http://localhost/sections//world/feed.atom", "it redirects"),
        ("http://localhost/feed.atom#top", "fragment"),
        ("http://localhost/sections/nowhere/feed.atom", "no section called 'nowhere'"),
        ("http://localhost/articles/nothing/comments.rss", "no article called"),
        # A form decodes %00: PostgreSQL refuses a NUL in a query, these were 500s there.
        ("http://localhost/sections/\x00/feed.atom", "no section called '\\x00'"),
        ("http://localhost/authors/a\x00b/feed.json", "no author called"),
        ("http://localhost/sources/x\x00/feed.rss", "no source called"),
        ("http://localhost/articles/a\x00b/comments.rss", "no article called"),
        ("http://localhost/sections/a\x01b/feed.atom", "no section called"),
        ("http://elsewhere.example/feed.atom", "only the feeds of http://localhost"),
        ("http://localhost:8080/feed.atom", "only the feeds of"),
        ("http://localhost/", "not a feed URL"),
        ("http://localhost/feed/", "not a feed URL"),
        ("http://localhost/websub", "not a feed URL"),
        ("ftp://localhost/feed.atom", "absolute http(s) URL"),
        ("/feed.atom", "absolute http(s) URL"),
        ("http://localhost:99999/feed.atom", "not a valid URL"),
        ("http://localhost/" + "a" * 3000, "longer than 2048"),
    ],
)
def test_other_topics_are_refused_with_a_reason(client, db, newsroom, topic, reason):
    r = _post(client, **{"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": CB})
    assert r.status_code == 400
    assert r.mimetype == "text/plain"
    assert reason in r.get_data(as_text=True)
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize(
    ("form", "status", "reason"),
    [
        ({"hub.mode": "publish"}, 400, "hub.mode must be subscribe or unsubscribe"),
        ({"hub.mode": ""}, 400, "hub.mode must be"),
        ({"hub.topic": ""}, 400, "hub.topic is missing"),
        ({"hub.callback": ""}, 400, "hub.callback is missing"),
        ({"hub.callback": "javascript:alert(1)"}, 403, "scheme"),
        ({"hub.callback": "http://10.0.0.1/cb"}, 403, "private address"),
        ({"hub.callback": "http://169.254.169.254/latest"}, 403, "link-local"),
        ({"hub.callback": "http://127.0.0.1:8000/cb"}, 403, "loopback"),
        ({"hub.callback": "http://2130706433/cb"}, 403, "loopback"),
        ({"hub.callback": "http://[::1]/cb"}, 403, "loopback"),
        ({"hub.callback": "http://user:pw@127.0.0.1:9/cb"}, 403, "credentials"),
        ({"hub.callback": CB + "#frag"}, 400, "fragment"),
        ({"hub.callback": "http://xn--/cb"}, 400, "invalid URL"),
        ({"hub.callback": "http://xn--ls8h.example./cb"}, 400, "invalid URL"),
        ({"hub.callback": "http://127.0.0.1:9/" + "a" * 3000}, 400, "longer than 2048"),
        ({"hub.lease_seconds": "-5"}, 400, "hub.lease_seconds"),
        ({"hub.lease_seconds": "ten days"}, 400, "hub.lease_seconds"),
        ({"hub.lease_seconds": "1e9"}, 400, "hub.lease_seconds"),
        ({"hub.secret": "x" * 200}, 400, "hub.secret: longer than 199 bytes"),
        ({"hub.secret": "é" * 100}, 400, "hub.secret"),
        ({"hub.secret": "ab\x00cd"}, 400, "hub.secret: contains a NUL"),  # PostgreSQL: a 500
        ({"hub.callback": "http://93.184.216.34:99999/cb"}, 400, "hub.callback: not a valid URL"),
        ({"hub.callback": "http://93.184.216.34/c b"}, 400, "hub.callback: spaces"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(client, db, newsroom, form, status, reason):
    full = {"hub.mode": "subscribe", "hub.topic": "http://localhost/feed.atom", "hub.callback": CB}
    full.update(form)
    r = _post(client, **full)
    assert r.status_code == status, r.data
    assert reason in r.get_data(as_text=True)
    assert _counts(db) == (0, 0)


def test_limits_unknown_parameters_and_secret_boundary(client, db, newsroom):
    full = {
        "hub.mode": "subscribe",
        "hub.topic": "http://localhost/feed.atom",
        "hub.callback": CB,
        "hub.secret": "x" * 199,
        "hub.lease_seconds": "99999999999999999999999",
        "hub.unknown": "ignored",
        "utm_source": "x",
        **{f"p{i}": "1" for i in range(150)},  # more than parse_qsl's default bound
    }
    assert _post(client, **full).status_code == 202
    with db.session() as s:
        job = s.scalars(select(HubDelivery)).one()
        assert job.lease_seconds == 30 * 24 * 3600 and job.secret == "x" * 199


def test_body_type_and_size(client, db, newsroom):
    r = client.post("/websub", data=b'{"hub.mode": "subscribe"}', content_type="application/json")
    assert r.status_code == 415 and b"x-www-form-urlencoded" in r.data
    huge = "hub.mode=subscribe&hub.secret=" + "x" * 20_000
    r = client.post("/websub", data=huge, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and r.mimetype == "text/plain"
    # over the site's own limit too: still the hub's plain-text answer (README)
    bigger = "hub.mode=subscribe&hub.secret=" + "x" * (2 * 1024 * 1024)
    r = client.post("/websub", data=bigger, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and r.mimetype == "text/plain" and b"body" in r.data
    r = client.post(
        "/websub",
        data="hub.mode=subscribe",
        content_type="application/x-www-form-urlencoded",
        headers={"Content-Encoding": "gzip"},
    )
    assert r.status_code == 415 and r.mimetype == "text/plain" and b"content coding" in r.data


@pytest.mark.parametrize("escape", ["%ff", "%C3%28", "%ED%A0%80"])
def test_a_percent_escape_that_is_no_utf8_is_refused_not_replaced(client, db, newsroom, escape):
    # Decoded with replacement, http://127.0.0.1:9/cb%ff became .../cb\ufffd: the
    # hub would verify, and deliver to, an address nobody asked for.
    body = (
        "hub.mode=subscribe&hub.topic=http%3A%2F%2Flocalhost%2Ffeed.rss"
        f"&hub.callback=http%3A%2F%2F127.0.0.1%3A9%2Fcb{escape}"
    )
    r = client.post("/websub", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.mimetype == "text/plain"
    assert b"does not decode as UTF-8" in r.data
    assert _counts(db) == (0, 0)


def _chunked(client, form: str):
    import io

    return client.post(
        "/websub",
        input_stream=io.BytesIO(form.encode()),
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_sites_limit_is_refused_whole(app, client, db, newsroom):
    # Werkzeug cuts a chunked body at the site's limit without a word: a
    # subscribe request padded past it was read cut, and accepted.
    app.config["MAX_CONTENT_LENGTH"] = 4096
    form = "hub.mode=subscribe&hub.topic=http%3A%2F%2Flocalhost%2Ffeed.atom"
    form += "&hub.callback=https%3A%2F%2Fsub.example%2Fcb&x=" + "p" * 40_000
    r = _chunked(client, form)
    assert r.status_code == 413 and r.mimetype == "text/plain", r.data[:200]
    mid = client.post(
        "/websub",
        data="hub.mode=subscribe&x=" + "p" * 8000,
        content_type="application/x-www-form-urlencoded",
    )
    assert mid.status_code == 413 and mid.mimetype == "text/plain"
    assert _counts(db) == (0, 0)
    r = client.post(
        "/websub",
        data=b"hub.mode=%ff%fe&\xff\xfe",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 400
    many = "&".join(f"a{i}=1" for i in range(500))
    r = client.post("/websub", data=many, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert client.get("/websub").status_code == 405
    assert _counts(db) == (0, 0)


def test_a_chunked_request_is_read_like_any_other(client, db, newsroom):
    # The site's body check reads a chunked body first; the hub read the spent
    # stream after it and answered every chunked request "hub.mode … (missing)".
    form = "hub.mode=subscribe&hub.topic=http%3A%2F%2Flocalhost%2Ffeed.atom"
    form += "&hub.callback=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
    r = _chunked(client, form)
    assert r.status_code == 202, r.data
    assert _counts(db) == (1, 1)
    # Past the hub's own limit (under the site's): the hub's plain-text 413.
    r = _chunked(client, form + "&x=" + "p" * 20_000)
    assert r.status_code == 413 and r.mimetype == "text/plain", r.data[:200]
    assert b"request body over" in r.data
    assert _counts(db) == (1, 1)


def test_unsubscribe_of_nothing_is_accepted_and_does_nothing(client, db, newsroom):
    r = _post(
        client,
        **{
            "hub.mode": "unsubscribe",
            "hub.topic": "http://localhost/feed.atom",
            "hub.callback": CB,
        },
    )
    assert r.status_code == 202
    assert _counts(db) == (0, 0)


def test_csrf_does_not_apply(app_config, tmp_path, monkeypatch):
    from feedserver import create_app

    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "i2"))
    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    r = app.test_client().post(
        "/websub",
        data={
            "hub.mode": "subscribe",
            "hub.topic": "http://localhost/feed.atom",
            "hub.callback": CB,
        },
    )
    assert r.status_code == 202


# -- properties of the pure parts ------------------------------------------------

TEXT = st.text(max_size=60)


@given(
    st.dictionaries(
        st.sampled_from(
            ["hub.mode", "hub.topic", "hub.callback", "hub.lease_seconds", "hub.secret", "other"]
        ),
        TEXT,
    )
)
def test_parse_form_refuses_cleanly_or_gives_bounded_values(form):
    try:
        parsed = parse_form(form)
    except Refused as exc:
        assert exc.status == 400 and exc.reason
        return
    assert parsed.mode in ("subscribe", "unsubscribe")
    assert 300 <= parsed.lease_seconds <= 2592000
    assert parsed.secret is None or len(parsed.secret.encode()) <= 199


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=80))
def test_split_topic_accepts_only_our_origin_page_one(tail):
    topic = "http://localhost/" + tail
    try:
        path = split_topic(topic, "http://localhost")
    except WebSubError as exc:
        assert exc.subject == "hub.topic" and exc.problem
        return
    assert path.startswith("/")
    assert "#" not in tail or tail.index("#") == len(tail) - 1
    query = tail.partition("?")[2].partition("#")[0]
    assert query in ("", "page=1")


@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(
        [
            "localhost",
            "LOCALHOST",
            "localhost:80",
            "localhost:443",
            "evil.example",
            "localhost.evil.example",
            "localhost:81",
        ]
    ),
)
def test_split_topic_origin(scheme, netloc):
    ours = netloc.lower().split(":")[0] == "localhost" and netloc.partition(":")[2] in (
        "",
        "80",
        "443",
    )
    try:
        split_topic(f"{scheme}://{netloc}/feed.atom", "http://localhost")
    except WebSubError:
        assert not ours
    else:
        assert ours


def test_one_address_may_ask_only_so_much_of_the_hub(client, db, newsroom, monkeypatch):
    # Each accepted request sends a verification GET to a URL the client
    # chose: without a bound the hub is anyone's relay (security audit).
    from feedserver.publishing.websub import endpoint

    monkeypatch.setattr(endpoint, "RATE_LIMITS", ((5, 60.0), (8, 3600.0)))

    def ask(n: int, address: str = "198.51.100.4"):
        form = {"hub.mode": "subscribe", "hub.topic": "http://localhost/feed.atom"}
        form["hub.callback"] = f"{CB}?n={n}"
        return client.post("/websub", data=form, environ_base={"REMOTE_ADDR": address})

    assert [ask(n).status_code for n in range(5)] == [202] * 5
    refused = ask(9)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "too many hub requests" in refused.get_data(as_text=True)
    assert _counts(db)[0] == 5  # nothing stored for the refused one
    assert ask(10, "198.51.100.5").status_code == 202  # another address is not affected


def test_the_hubs_rate_counts_each_window():
    from feedserver.publishing.websub.endpoint import RATE_LIMITS, _limited, _Rate

    def ask(rate: _Rate, address: str, now: float) -> int | None:
        wait = rate.wait(address, now)
        if wait is None:
            rate.note(address, now)  # accepted
        return wait

    rate = _Rate()
    per_minute, _ = RATE_LIMITS[0]
    for n in range(per_minute):
        assert ask(rate, "192.0.2.1", 1000.0 + n * 0.1) is None
    wait = ask(rate, "192.0.2.1", 1000.0 + per_minute * 0.1)
    assert wait is not None and 1 <= wait <= 60
    assert ask(rate, "192.0.2.1", 1000.0 + 61) is None  # the minute has passed
    per_hour, hour = RATE_LIMITS[1]
    busy = _Rate()
    # Spread so no minute is over its limit, the hour's limit still holds.
    step = hour / (per_hour + 10)
    answers = [ask(busy, "192.0.2.2", n * step) for n in range(per_hour + 1)]
    assert answers[:per_hour] == [None] * per_hour and answers[per_hour] is not None
    # The machine itself is not limited; any other address is.
    assert not _limited("127.0.0.1") and not _limited("::1")
    assert _limited("192.0.2.1") and _limited("unknown")


def test_refused_hub_requests_do_not_count(client, db, newsroom, monkeypatch):
    # A hostile client's malformed requests send nothing; only accepted ones
    # (each a verification sent) use up its allowance.
    from feedserver.publishing.websub import endpoint

    monkeypatch.setattr(endpoint, "RATE_LIMITS", ((3, 60.0), (5, 3600.0)))
    bad = {
        "hub.mode": "subscribe",
        "hub.topic": "http://elsewhere.example/feed",
        "hub.callback": CB,
    }
    for _ in range(10):
        answer = client.post("/websub", data=bad, environ_base={"REMOTE_ADDR": "198.51.100.8"})
        assert answer.status_code == 400
    good = {"hub.mode": "subscribe", "hub.topic": "http://localhost/feed.atom", "hub.callback": CB}
    answer = client.post("/websub", data=good, environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert answer.status_code == 202
