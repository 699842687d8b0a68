"""The WebSub subscriber end to end: a real hub on 127.0.0.1, the app served live.

Each test: an upstream feed (pytest-httpserver) advertises the test's hub; a
poll discovers it and (FEEDSERVER_BASE_URL set to the live app) subscribes;
the hub verifies by GETting our callback, then pushes.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from feedserver.aggregation.poller import poll_once
from feedserver.aggregation.refresh import PollSettings
from feedserver.aggregation.websub import maintain
from feedserver.models import Source, UpstreamSubscription, utcnow
from tests.factories import make_section, make_source
from tests.feedserver.aggregation_support import articles_of, numbered, rss, source_row
from tests.feedserver.websub_support import LoopbackHub, live, wait_for


@pytest.fixture
def hub():
    test_hub = LoopbackHub()
    yield test_hub
    test_hub.close()


@pytest.fixture
def served(app):
    with live(app) as base:
        app.config["BASE_URL"] = base
        yield base


def settings(app, **kw) -> PollSettings:
    config = dict(app.config)
    config["UPSTREAM_ALLOWLIST"] = "127.0.0.1"
    config.update(kw)
    return PollSettings.from_config(config)


def serve_feed(httpserver, hub_url: str, topic: str | None = None, items=None) -> str:
    url = httpserver.url_for("/feed.xml")
    links = f'<{hub_url}>; rel="hub", <{topic or url}>; rel="self"'
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(items if items is not None else numbered(2)),
        content_type="application/rss+xml",
        headers={"Link": links},
    )
    return url


def add_source(db, url: str) -> int:
    with db.session() as s:
        return make_source(s, feed_url=url, section=make_section(s)).id


def row_of(db, source_id: int) -> UpstreamSubscription | None:
    with db.session() as s:
        return s.scalar(
            select(UpstreamSubscription).where(
                UpstreamSubscription.source_id == source_id,
                UpstreamSubscription.wanted == "subscribe",
            )
        )


def subscribed(app, db, httpserver, hub) -> tuple[int, str]:
    url = serve_feed(httpserver, hub.url)
    sid = add_source(db, url)
    poll_once(db, settings(app))
    wait_for(lambda: (r := row_of(db, sid)) is not None and r.state == "active")
    wait_for(lambda: hub.subscribers)  # the hub records it once our answer arrives
    return sid, url


def test_discovers_subscribes_verifies_and_takes_a_signed_push(
    app, db, api, httpserver, hub, served
):
    sid, url = subscribed(app, db, httpserver, hub)
    sent = hub.requests[0].form
    assert sent["hub.mode"] == "subscribe" and sent["hub.topic"] == url
    assert sent["hub.callback"].startswith(f"{served}/websub/callback/")
    assert len(sent["hub.callback"].rsplit("/", 1)[1]) >= 40  # unguessable
    assert 40 <= len(sent["hub.secret"]) < 200
    assert sent["hub.lease_seconds"] == str(app.config["WEBSUB_SUBSCRIBE_LEASE"])
    assert [v.confirmed for v in hub.verifications] == [True]
    row = row_of(db, sid)
    assert row.expires_at - row.verified_at == timedelta(seconds=3600)
    # Back-up polling only: next fetch a day away (the lease, 1 h, is sooner: capped there).
    assert abs(source_row(db, sid).next_fetch_at - row.expires_at) < timedelta(seconds=2)

    before = len(articles_of(db, sid))
    answers = hub.publish(url, rss(numbered(3, prefix="pushed")), algorithm="sha512")
    assert [a.status_code for a in answers] == [202]
    titles = {a.title for a in articles_of(db, sid)}
    assert {"Pushed 0", "Pushed 1", "Pushed 2"} <= titles
    assert len(articles_of(db, sid)) == before + 3
    body = api.get(f"/api/sources/{sid}").get_json()
    assert body["websub"]["hub"] == hub.url and body["websub"]["state"] == "active"
    assert body["websub"]["expires_at"] and body["websub"]["last_push_at"]
    # The same push again changes nothing (de-duplicated like a poll).
    hub.publish(url, rss(numbered(3, prefix="pushed")), algorithm="sha1")
    assert len(articles_of(db, sid)) == before + 3


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_every_signature_method_is_accepted(app, db, httpserver, hub, served, algorithm):
    sid, url = subscribed(app, db, httpserver, hub)
    hub.publish(url, rss(numbered(1, prefix=algorithm)), algorithm=algorithm)
    assert algorithm.title() + " 0" in {a.title for a in articles_of(db, sid)}


@pytest.mark.parametrize("how", ["forged", "missing"])
def test_a_bad_signature_is_acknowledged_and_discarded(
    app, db, httpserver, hub, served, how, caplog
):
    # Its own level: something else in the process may have raised the root logger's.
    caplog.set_level(logging.INFO, logger="feedserver.aggregation.websub_callback")
    sid, url = subscribed(app, db, httpserver, hub)
    before = len(articles_of(db, sid))
    answers = hub.publish(
        url,
        rss(numbered(2, prefix="forged")),
        algorithm=None if how == "missing" else "sha256",
        secret_override="not-the-secret",
    )
    assert [a.status_code // 100 for a in answers] == [2]
    assert len(articles_of(db, sid)) == before
    assert row_of(db, sid).last_push_at is None
    assert f"source_id={sid}" in caplog.text and "discarded" in caplog.text
    assert row_of(db, sid).secret not in caplog.text


def test_disabling_the_source_unsubscribes(app, db, api, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    callback = hub.requests[0].form["hub.callback"]
    assert api.patch(f"/api/sources/{sid}", json={"enabled": False}).status_code == 200
    maintain(db, settings(app))
    wait_for(lambda: len(hub.verifications) == 2)
    last = hub.requests[-1].form
    assert last["hub.mode"] == "unsubscribe" and last["hub.callback"] == callback
    assert "hub.secret" not in last
    assert hub.verifications[-1].confirmed and hub.subscribers == {}
    with db.session() as s:
        assert s.scalars(select(UpstreamSubscription)).all() == []
    assert api.get(f"/api/sources/{sid}").get_json()["websub"]["state"] == "none"


def test_deleting_the_source_unsubscribes(app, db, api, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    assert api.delete(f"/api/sources/{sid}").status_code == 204
    maintain(db, settings(app))
    wait_for(lambda: len(hub.verifications) == 2)
    assert hub.requests[-1].form["hub.mode"] == "unsubscribe" and hub.verifications[-1].confirmed
    # A push that arrives later at the old callback is told the subscription is gone.
    late = httpx.post(hub.requests[0].form["hub.callback"], content=rss(numbered(1)), timeout=5)
    assert late.status_code == 410


def test_a_denial_is_recorded_and_polling_resumes(app, db, api, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    callback = hub.requests[0].form["hub.callback"]
    answer = hub.deny(url, callback, "over quota")
    assert answer.status_code == 200
    row = row_of(db, sid)
    assert row.state == "denied" and "over quota" in row.last_error
    assert source_row(db, sid).next_fetch_at <= utcnow()
    assert api.get(f"/api/sources/{sid}").get_json()["websub"]["state"] == "denied"


def test_asking_again_after_a_denial_uses_a_new_callback_and_secret(
    app, db, httpserver, hub, served
):
    """INTERFACE §7: each subscription request carries a fresh random secret."""
    sid, url = subscribed(app, db, httpserver, hub)
    first = hub.requests[0].form
    assert hub.deny(url, first["hub.callback"], "over quota").status_code == 200
    with db.session() as s:  # a week later
        s.get(UpstreamSubscription, row_of(db, sid).id).next_attempt_at = utcnow()
    maintain(db, settings(app))
    wait_for(lambda: len(hub.verifications) == 2)
    again = hub.requests[-1].form
    assert again["hub.mode"] == "subscribe"
    assert again["hub.callback"] != first["hub.callback"]
    assert again["hub.secret"] != first["hub.secret"] and len(again["hub.secret"]) >= 32
    assert hub.verifications[-1].confirmed and row_of(db, sid).state == "active"
    # The old callback is no longer ours.
    stale = httpx.get(
        first["hub.callback"],
        params={"hub.mode": "subscribe", "hub.topic": url, "hub.challenge": "x"},
        timeout=5,
    )
    assert stale.status_code == 404


def test_renewal_reuses_the_callback_before_the_lease_ends(app, db, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    row = row_of(db, sid)
    # Renewal is planned at 80 % of the lease.
    assert row.next_attempt_at - row.verified_at == timedelta(seconds=int(3600 * 0.8))
    with db.session() as s:
        s.get(UpstreamSubscription, row.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    maintain(db, settings(app))
    wait_for(lambda: len(hub.verifications) == 2)
    assert [r.form["hub.callback"] for r in hub.requests] == [
        hub.requests[0].form["hub.callback"]
    ] * 2
    assert hub.verifications[-1].confirmed
    assert row_of(db, sid).verified_at > row.verified_at


def test_a_lapsed_lease_expires_and_normal_polling_resumes(app, db, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    row = row_of(db, sid)
    with db.session() as s:
        held = s.get(UpstreamSubscription, row.id)
        held.expires_at = utcnow() - timedelta(seconds=1)
        held.next_attempt_at = utcnow() + timedelta(hours=1)
    maintain(db, settings(app))
    assert row_of(db, sid).state == "expired"
    assert source_row(db, sid).next_fetch_at <= utcnow()


def test_back_up_poll_keeps_the_source_quiet(app, db, httpserver, hub, served):
    hub.lease = 10 * 86400
    sid, url = subscribed(app, db, httpserver, hub)
    held = source_row(db, sid).next_fetch_at
    assert timedelta(hours=23) < held - utcnow() <= timedelta(hours=24)
    # A poll now (as "refresh now" would) reschedules it normally; the next pass puts it back.
    poll_once(db, settings(app, POLL_INTERVAL=900))
    with db.session() as s:
        s.get(Source, sid).next_fetch_at = utcnow() + timedelta(minutes=15)
    maintain(db, settings(app))
    assert source_row(db, sid).next_fetch_at == row_of(db, sid).backup_poll_at


def test_verification_for_another_topic_is_refused(app, db, httpserver, hub, served):
    """websub.rocks subscriber 205: the hub verifies a topic we did not ask for."""
    hub.topic_for_verification = "http://127.0.0.1:1/not-our-topic"
    url = serve_feed(httpserver, hub.url)
    sid = add_source(db, url)
    poll_once(db, settings(app))
    wait_for(lambda: hub.verifications)
    assert hub.verifications[0].status == 404 and not hub.verifications[0].confirmed
    assert row_of(db, sid).state == "pending"


def test_a_different_self_url_is_the_topic(app, db, httpserver, hub, served):
    """websub.rocks subscriber 200: subscribe to rel=self, not to the URL fetched."""
    url = serve_feed(httpserver, hub.url, topic="http://127.0.0.1:1/canonical?self=other")
    sid = add_source(db, url)
    poll_once(db, settings(app))
    wait_for(lambda: hub.verifications)
    assert hub.requests[0].form["hub.topic"] == "http://127.0.0.1:1/canonical?self=other"
    assert row_of(db, sid).state == "active"


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirecting_hub_gets_the_request_again(app, db, httpserver, hub, served, status):
    """websub.rocks subscriber 203/204: the hub moved (307/308) — POST again there."""
    hub.redirect_to = hub.url + "/moved"
    hub.redirect_status = status
    url = serve_feed(httpserver, hub.url)
    sid = add_source(db, url)
    poll_once(db, settings(app))
    wait_for(lambda: (r := row_of(db, sid)) is not None and r.state == "active")
    assert [r.path for r in hub.requests] == ["/hub", "/hub/moved"]
    assert hub.requests[1].form == hub.requests[0].form


@pytest.mark.parametrize("status", [302, 301])
def test_a_redirected_topic_subscribes_to_the_final_self(app, db, httpserver, hub, served, status):
    """websub.rocks subscriber 201/202: the feed URL redirects; the final answer's self counts."""
    final = serve_feed(httpserver, hub.url, topic=httpserver.url_for("/feed.xml?redirect=complete"))
    httpserver.expect_request("/old.xml").respond_with_data(
        "", status=status, headers={"Location": final}
    )
    sid = add_source(db, httpserver.url_for("/old.xml"))
    poll_once(db, settings(app))
    wait_for(lambda: (r := row_of(db, sid)) is not None and r.state == "active")
    assert hub.requests[0].form["hub.topic"] == httpserver.url_for("/feed.xml?redirect=complete")


def test_a_hub_on_a_private_address_is_refused(app, db, api, httpserver, hub, served):
    url = serve_feed(httpserver, hub.url)
    sid = add_source(db, url)
    # Only the feed's server is allowlisted, not the hub's port.
    poll_once(db, settings(app, UPSTREAM_ALLOWLIST=f"127.0.0.1:{httpserver.port}"))
    row = row_of(db, sid)
    assert hub.requests == []
    assert row.state == "pending" and "loopback" in (row.last_error or "")
    assert row.next_attempt_at > utcnow()
    # The API says why it stays pending (it is retried with back-off).
    push = api.get(f"/api/sources/{sid}").get_json()["websub"]
    assert push["state"] == "pending" and "loopback" in (push["last_error"] or "")


def test_no_base_url_no_subscription(app, db, api, httpserver, hub):
    app.config["BASE_URL"] = ""
    url = serve_feed(httpserver, hub.url)
    sid = add_source(db, url)
    poll_once(db, settings(app))
    assert hub.requests == []
    push = api.get(f"/api/sources/{sid}").get_json()["websub"]
    assert push == {
        "hub": hub.url, "state": "none", "expires_at": None, "last_push_at": None,
        "last_error": None,
    }  # fmt: skip


def test_a_new_hub_retires_the_old_subscription(app, db, httpserver, hub, served):
    sid, url = subscribed(app, db, httpserver, hub)
    other = LoopbackHub()
    try:
        httpserver.clear()
        serve_feed(httpserver, other.url)
        with db.session() as s:
            s.get(Source, sid).next_fetch_at = None
        poll_once(db, settings(app))
        wait_for(lambda: other.verifications and len(hub.verifications) == 2)
        assert hub.requests[-1].form["hub.mode"] == "unsubscribe"
        assert other.requests[0].form["hub.mode"] == "subscribe"
        assert row_of(db, sid).hub == other.url
    finally:
        other.close()


@pytest.mark.parametrize(
    ("lease", "renew"), [(3600, 2880), (864000, 691200), (100, 80), (60, 48), (10, 8), (1, 1)]
)
def test_a_lease_is_renewed_before_it_ends_however_short(lease, renew):
    """At 80 % of it; never more often than a minute unless the hub's lease is that short."""
    from feedserver.aggregation.websub import renew_after

    assert renew_after(lease) == renew
    assert renew_after(lease) < lease or lease == 1
