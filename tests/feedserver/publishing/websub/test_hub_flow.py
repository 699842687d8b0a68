"""The hub end to end on 127.0.0.1: subscribe, verify, distribute, retry, unsubscribe.

Each test drives one poller pass at a time (``Deliverer.run_once``) against a
real callback server, except the last, which runs the sender thread as the
poller does and measures the 10-second promise.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from feeds.websub import hub_and_self
from feedserver.models import HubDelivery, HubSubscription, utcnow
from tests.feedserver.publishing.websub.hub_support import (
    make_deliverer,
    start_callback_server,
    subscribe,
)

TOPIC = "http://localhost/sections/world/feed.atom"


@pytest.fixture
def callback_server():
    server = start_callback_server()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def app_config(app_config, callback_server):
    app_config["UPSTREAM_ALLOWLIST"] = callback_server.hostport
    return app_config


def _subs(db):
    with db.session() as s:
        return list(s.scalars(select(HubSubscription).order_by(HubSubscription.id)))


def _publish(api, title="Breaking", section="world"):
    response = api.post(
        "/api/articles",
        json={
            "title": title,
            "summary": "s",
            "body_html": "<p>b</p>",
            "section": section,
            "authors": ["ada"],
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_subscribe_verify_deliver_signed(app, client, db, api, newsroom, callback_server):
    hub = make_deliverer(app)
    cb = callback_server.base + "/cb?sub=1"
    r = subscribe(
        client,
        TOPIC + "?page=1",
        cb,
        **{
            "hub.secret": "s3cret",
            "hub.lease_seconds": "3600",
            "hub.foo": "ignored",  # websub.rocks hub 102: unknown parameters are ignored
            "bar": "ignored",
        },
    )
    assert r.status_code == 202, r.data
    assert [s.state for s in _subs(db)] == ["pending"]
    hub.run_once()
    (get,) = callback_server.gets()
    assert get.path == "/cb"
    assert get.query["sub"] == ["1"]  # the callback's own query is kept
    assert get.query["hub.mode"] == ["subscribe"]
    assert get.query["hub.topic"] == [TOPIC + "?page=1"]
    assert get.query["hub.lease_seconds"] == ["3600"]
    (sub,) = _subs(db)
    assert sub.state == "active" and sub.secret == "s3cret" and sub.lease_seconds == 3600

    from feedserver.ops.metrics import WEBSUB_DELIVERIES

    sent = WEBSUB_DELIVERIES.labels("ok")._value.get()
    _publish(api)
    hub.run_once()
    (post,) = callback_server.posts()
    assert b"Breaking" in post.body
    # README (metrics): counted, by result; it was declared and never counted.
    assert WEBSUB_DELIVERIES.labels("ok")._value.get() == sent + 1
    assert post.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert '<http://localhost/websub>; rel="hub"' in post.links
    assert f'<{TOPIC}?page=1>; rel="self"' in post.links
    expected = hmac.new(b"s3cret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-hub-signature"] == f"sha256={expected}"
    # The body is exactly what a GET of page 1 gives.
    assert post.body == client.get("/sections/world/feed.atom").data
    (sub,) = _subs(db)
    assert sub.last_status == 200 and sub.failures == 0 and sub.last_delivery_at is not None


def test_only_subscribers_of_changed_feeds_get_deliveries(
    app, client, db, api, newsroom, callback_server
):
    hub = make_deliverer(app)
    base = callback_server.base
    for path, topic in [
        ("/world", TOPIC),
        ("/science", "http://localhost/sections/science/feed.rss"),
        ("/site", "http://localhost/feed.json"),
        ("/bo", "http://localhost/authors/bo/feed.atom"),
    ]:
        assert subscribe(client, topic, base + path).status_code == 202
    hub.run_once()
    assert {s.state for s in _subs(db)} == {"active"}
    _publish(api, section="world")
    hub.run_once()
    assert sorted(p.path for p in callback_server.posts()) == ["/site", "/world"]
    site = callback_server.posts("/site")[0]
    assert site.headers["content-type"] == "application/feed+json; charset=utf-8"
    assert b'"hubs"' in site.body and "x-hub-signature" not in site.headers
    hub.run_once()  # nothing changed since: nothing more is sent
    assert len(callback_server.posts()) == 2


def test_resubscription_replaces_and_unsubscribe_ends(
    app, client, db, api, newsroom, callback_server
):
    hub = make_deliverer(app)
    cb = callback_server.base + "/cb"
    subscribe(client, TOPIC, cb, **{"hub.secret": "one"})
    hub.run_once()
    subscribe(client, TOPIC + "?page=1", cb, **{"hub.secret": "two", "hub.lease_seconds": "1"})
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.secret == "two" and sub.lease_seconds == 300  # clamped to 5 minutes
    # Scheme and host are case-insensitive: the same callback (it was a second
    # subscription, and every change was delivered twice). The path is its own.
    subscribe(client, TOPIC, cb.replace("http://", "HTTP://"), **{"hub.secret": "three"})
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.callback == cb and sub.secret == "three"
    # So are an empty query and escaped unreserved characters (RFC 3986 §6.2.2.2).
    for spelling in (cb + "?", cb.replace("/cb", "/%63b")):
        subscribe(client, TOPIC, spelling, **{"hub.secret": "four"})
        hub.run_once()
        (sub,) = _subs(db)
        assert sub.callback == cb and sub.secret == "four"
    r = client.post(
        "/websub", data={"hub.mode": "unsubscribe", "hub.topic": TOPIC, "hub.callback": cb}
    )
    assert r.status_code == 202
    hub.run_once()
    assert callback_server.gets()[-1].query["hub.mode"] == ["unsubscribe"]
    (sub,) = _subs(db)
    assert sub.state == "ended" and sub.secret is None
    _publish(api)
    hub.run_once()
    assert callback_server.posts() == []


@pytest.mark.parametrize("answer", ["404", "wrong"])
def test_unconfirmed_intent_changes_nothing(
    app, client, db, api, newsroom, callback_server, answer
):
    hub = make_deliverer(app)
    callback_server.verify = answer
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    assert _subs(db) == []  # never confirmed: no subscription
    _publish(api)
    hub.run_once()
    assert callback_server.posts() == []


def test_a_subscriber_that_confirms_only_its_latest_intent_gets_that_one(
    app, client, db, api, newsroom, callback_server
):
    """Two quick subscribe requests for a new pair: the first's refusal no longer
    drops the row the second (confirmed) one needs."""
    hub = make_deliverer(app)
    callback_server.verify_lease = "500"
    cb = callback_server.base + "/cb"
    assert subscribe(client, TOPIC, cb, **{"hub.lease_seconds": "400"}).status_code == 202
    assert subscribe(client, TOPIC, cb, **{"hub.lease_seconds": "500"}).status_code == 202
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.state == "active" and sub.lease_seconds == 500
    _publish(api)
    hub.run_once()
    assert len(callback_server.posts("/cb")) == 1


@pytest.mark.parametrize("last", ["subscribe", "unsubscribe"])
def test_a_pairs_verifications_go_in_the_order_they_were_asked(
    app, client, db, api, newsroom, callback_server, last
):
    """An unsubscribe then a subscribe at once: both were verified together, and
    whichever answer came back last decided; the subscriber, subscribed by its
    latest request, got no more deliveries (found by a black-box audit)."""
    from feedserver.publishing.websub import store

    hub = make_deliverer(app)
    cb = callback_server.base + "/cb"
    subscribe(client, TOPIC, cb)
    hub.run_once()
    first = "unsubscribe" if last == "subscribe" else "subscribe"
    for mode in (first, last):
        r = client.post("/websub", data={"hub.mode": mode, "hub.topic": TOPIC, "hub.callback": cb})
        assert r.status_code == 202
    with db.session() as s:
        claimed = store.claim(s, 10, 30, postgres=not db.is_sqlite)
    assert [c.mode for c in claimed] == [first]  # the later one waits for it
    with db.session() as s:  # as if that deliverer had crashed: its claim lapses
        s.execute(update(HubDelivery).values(claimed_until=None))
    for _ in range(3):
        hub.run_once()
    assert [g.query["hub.mode"][0] for g in callback_server.gets()[-2:]] == [first, last]
    (sub,) = _subs(db)
    assert sub.state == ("active" if last == "subscribe" else "ended")


def test_failed_unsubscribe_verification_keeps_the_subscription(
    app, client, db, callback_server, newsroom
):
    hub = make_deliverer(app)
    cb = callback_server.base + "/cb"
    subscribe(client, TOPIC, cb)
    hub.run_once()
    callback_server.verify = "404"
    client.post("/websub", data={"hub.mode": "unsubscribe", "hub.topic": TOPIC, "hub.callback": cb})
    hub.run_once()
    assert [s.state for s in _subs(db)] == ["active"]


def test_retries_back_off_and_410_ends(app, client, db, api, newsroom, callback_server):
    hub = make_deliverer(app)
    cb = callback_server.base + "/cb"
    subscribe(client, TOPIC, cb)
    hub.run_once()
    callback_server.post_statuses = [500, 503]
    _publish(api)
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.failures == 1 and sub.last_status == 500
    with db.session() as s:
        job = s.scalars(select(HubDelivery)).one()
        assert job.attempts == 1
        wait = (job.due_at - utcnow()).total_seconds()
        assert 0 < wait <= 10  # the first retry comes within 10 seconds
        s.execute(update(HubDelivery).values(due_at=utcnow()))
    hub.run_once()
    with db.session() as s:
        job = s.scalars(select(HubDelivery)).one()
        assert job.attempts == 2 and (job.due_at - utcnow()).total_seconds() > 5  # backing off
        s.execute(update(HubDelivery).values(due_at=utcnow()))
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.failures == 0 and sub.last_status == 200
    assert len(callback_server.posts()) == 3
    callback_server.post_status = 410
    _publish(api, title="Another")
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.state == "ended" and sub.last_status == 410
    with db.session() as s:
        assert s.scalar(select(func.count(HubDelivery.id))) == 0


def test_a_new_change_does_not_wait_for_a_failing_callbacks_back_off(
    app, client, db, api, newsroom, callback_server
):
    # A callback that failed is retried later and later; once it is back, a
    # new change must reach it within seconds (INTERFACE §7), not at the next
    # retry, which may be an hour away.
    hub = make_deliverer(app)
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    callback_server.post_status = 500
    _publish(api)
    for _ in range(3):
        hub.run_once()
        with db.session() as s:
            s.execute(update(HubDelivery).values(due_at=utcnow()))  # skip each wait
    with db.session() as s:
        job = s.scalars(select(HubDelivery)).one()
        attempts = job.attempts
        s.execute(update(HubDelivery).values(due_at=utcnow() + timedelta(hours=1)))
    assert attempts >= 3
    callback_server.post_status = 200
    _publish(api, title="Fresh news after the outage")
    hub.run_once()
    (sub,) = _subs(db)
    assert sub.failures == 0 and sub.last_status == 200
    assert b"Fresh news after the outage" in callback_server.posts()[-1].body
    with db.session() as s:
        assert s.scalar(select(func.count(HubDelivery.id))) == 0


def test_gives_up_after_a_day(app, client, db, api, newsroom, callback_server):
    hub = make_deliverer(app)
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    callback_server.post_status = 500
    _publish(api)
    assert hub.distribute() == 1
    with db.session() as s:
        s.execute(update(HubDelivery).values(created_at=utcnow() - timedelta(hours=25, minutes=1)))
    hub.run_once()
    with db.session() as s:
        assert s.scalar(select(func.count(HubDelivery.id))) == 0
    assert _subs(db)[0].state == "active"


def _past_its_lease(app, client, db, callback_server):
    """A hub with one verified subscription whose lease ended a second ago."""
    hub = make_deliverer(app)
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    with db.session() as s:
        s.execute(update(HubSubscription).values(expires_at=utcnow() - timedelta(seconds=1)))
    return hub


def test_lease_end_ends_the_subscription(app, client, db, api, newsroom, callback_server):
    hub = _past_its_lease(app, client, db, callback_server)
    hub._last_expiry = 0.0
    _publish(api)
    hub.run_once()
    assert _subs(db)[0].state == "ended"
    assert callback_server.posts() == []


def test_no_content_goes_out_past_the_lease_before_the_sweep_marks_it(
    app, client, db, api, newsroom, callback_server
):
    """§7: a subscription ends at its lease's end, not at the next sweep (once a minute)."""
    hub = _past_its_lease(app, client, db, callback_server)
    hub._last_expiry = time.monotonic()  # the sweep ran just now
    _publish(api)
    hub.run_once()
    assert callback_server.posts() == []


def test_a_subscription_to_a_feed_that_is_gone_ends_saying_why(
    app, client, db, api, newsroom, callback_server
):
    """Its slug changed (or its section went): no delivery is claimed, the state says so."""
    hub = make_deliverer(app)
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    assert (
        api.patch(f"/api/sections/{newsroom['world']}", json={"slug": "planet"}).status_code == 200
    )
    _publish(api, section="planet")
    hub.run_once()
    (sub,) = _subs(db)
    assert callback_server.posts() == []
    assert sub.state == "ended" and sub.last_delivery_at is None
    assert "no longer exists" in sub.last_error
    with db.session() as s:
        assert s.scalar(select(func.count(HubDelivery.id))) == 0


@pytest.mark.slow
def test_a_hanging_subscriber_does_not_hold_up_another_feeds_delivery(
    app, client, db, api, newsroom, callback_server
):
    """Anyone may subscribe: a callback that answers only at the time-out must not
    delay everyone else's deliveries behind it (one poller process: SQLite, make run)."""
    from feedserver.publishing import websub

    callback_server.slow_seconds = 4.0  # past the time-out
    app.config["WEBSUB_TIMEOUT"] = 3
    stop = websub.start_deliverer(app, startup_delay=0.0)
    try:
        for n in range(3):
            subscribe(client, TOPIC, callback_server.base + f"/slow{n}")
        science = "http://localhost/sections/science/feed.atom"
        subscribe(client, science, callback_server.base + "/fast")
        assert callback_server.wait_for(lambda s: len(s.gets()) == 4, timeout=10)
        assert callback_server.wait_for(
            lambda _s: {x.state for x in _subs(db)} == {"active"}, timeout=10
        )
        _publish(api)  # to the hanging ones
        assert callback_server.wait_for(lambda s: len(s.posts()) == 3, timeout=10)
        start = time.monotonic()
        _publish(api, title="Elsewhere", section="science")
        assert callback_server.wait_for(lambda s: s.posts("/fast"), timeout=10)
        # Before the hanging batch's time-out (3 s), not after it.
        assert time.monotonic() - start < 2.5
    finally:
        websub.stop_deliverer(app)
        assert stop.is_set()


def test_comment_feed_subscribers_get_approved_comments(
    app, client, db, api, newsroom, callback_server
):
    hub = make_deliverer(app)
    article = _publish(api)
    topic = f"http://localhost/articles/{article['slug']}/comments.rss"
    assert subscribe(client, topic, callback_server.base + "/c").status_code == 202
    hub.run_once()
    from feedserver.models import Comment

    with db.session() as s:
        s.add(
            Comment(
                article_id=article["id"],
                author_name="Reader",
                author_email="r@example.org",
                body="First!",
                status="approved",
            )
        )
    hub.run_once()
    (post,) = callback_server.posts("/c")
    assert b"First!" in post.body and b"r@example.org" not in post.body
    assert post.headers["content-type"] == "application/rss+xml; charset=utf-8"


@pytest.mark.slow
def test_the_poller_thread_delivers_within_ten_seconds(
    app, client, db, api, newsroom, callback_server
):
    from feedserver.publishing import websub

    stop = websub.start_deliverer(app, startup_delay=0.0)
    try:
        subscribe(client, TOPIC, callback_server.base + "/cb")
        assert callback_server.wait_for(lambda s: s.gets(), timeout=10)
        assert callback_server.wait_for(lambda _s: _subs(db)[0].state == "active", timeout=10)
        start = time.monotonic()
        _publish(api)
        assert callback_server.wait_for(lambda s: s.posts(), timeout=10)
        assert time.monotonic() - start < 10
    finally:
        websub.stop_deliverer(app)
        assert stop.is_set()


def test_external_hub_is_pinged_for_each_changed_feed(
    app, client, db, api, newsroom, callback_server
):
    hub_url = callback_server.base + "/hub"
    app.config.update(WEBSUB_HUB=hub_url, BASE_URL="http://localhost")
    hub = make_deliverer(app)
    hub.run_once()  # first start: every existing feed is marked, nothing pinged
    assert callback_server.posts() == []
    assert hub_and_self(client.get("/feed.atom").headers.getlist("Link"))[0] == [hub_url]
    callback_server.post_statuses = [503]  # one failure: retried like any delivery
    _publish(api, section="science")
    hub.run_once()
    from urllib.parse import parse_qs

    pinged = {parse_qs(p.body.decode())["hub.url"][0] for p in callback_server.posts("/hub")}
    expected = {
        f"http://localhost{path}.{fmt}"
        for path in ("/feed", "/sections/science/feed", "/authors/ada/feed")
        for fmt in ("atom", "rss", "json")
    }
    assert pinged == expected
    first = parse_qs(callback_server.posts("/hub")[0].body.decode())
    assert first["hub.mode"] == ["publish"] and first["hub.topic"] == first["hub.url"]
    with db.session() as s:
        s.execute(update(HubDelivery).values(due_at=utcnow()))
    hub.run_once()
    assert len(callback_server.posts("/hub")) == len(expected) + 1
    with db.session() as s:
        assert s.scalar(select(func.count(HubDelivery.id))) == 0


def test_two_poller_processes_send_each_delivery_once(
    app, client, db, api, newsroom, callback_server
):
    import threading

    first, second = make_deliverer(app), make_deliverer(app)
    for i in range(20):
        subscribe(client, TOPIC, callback_server.base + f"/cb{i}")
    first.run_once()
    _publish(api)
    threads = [threading.Thread(target=d.run_once) for d in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paths = sorted(p.path for p in callback_server.posts())
    assert paths == sorted(f"/cb{i}" for i in range(20))


def test_a_crashed_workers_claim_lapses_and_another_delivers(
    app, client, db, api, newsroom, callback_server
):
    from feedserver.publishing.websub import store

    hub = make_deliverer(app)
    subscribe(client, TOPIC, callback_server.base + "/cb")
    hub.run_once()
    _publish(api)
    hub.distribute()
    with db.session() as s:  # a worker claims the delivery, then dies before sending
        (claimed,) = store.claim(s, 10, 120, postgres=db.engine.dialect.name == "postgresql")
    restarted = make_deliverer(app)
    restarted.run_once()
    assert callback_server.posts() == []  # still claimed: not sent twice
    with db.session() as s:
        s.execute(update(HubDelivery).values(claimed_until=utcnow() - timedelta(seconds=1)))
    restarted.run_once()
    assert len(callback_server.posts()) == 1 and claimed.kind == "content"
