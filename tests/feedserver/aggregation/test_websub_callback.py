"""Hostile and edge input at our WebSub callback (the test client; no hub needed)."""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from feedserver.models import Article, Source, UpstreamSubscription, utcnow
from tests.factories import make_section, make_source
from tests.feedserver.aggregation_support import numbered, rss

TOPIC = "https://upstream.example/feed.xml"
SECRET = "s3cret-" + "x" * 40


def make_row(db, *, state="pending", wanted="subscribe", pending_mode="subscribe", **kw):
    with db.session() as s:
        source = make_source(s, feed_url=TOPIC, section=make_section(s))
        row = UpstreamSubscription(
            source_id=source.id,
            hub="https://hub.example/",
            topic=TOPIC,
            token="T" * 43,
            secret=SECRET,
            state=state,
            wanted=wanted,
            pending_mode=pending_mode,
            attempts=0,
            pushes=0,
            **kw,
        )
        s.add(row)
        s.flush()
        return row.id, source.id


def row(db, ident):
    with db.session() as s:
        return s.get(UpstreamSubscription, ident)


def verify(client, token="T" * 43, **params):
    query = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.challenge": "ch4llenge"}
    query.update({k.replace("_", ".", 1): v for k, v in params.items()})
    query = {k: v for k, v in query.items() if v is not None}
    return client.get(f"/websub/callback/{token}", query_string=query)


def sign(body: bytes, algorithm: str = "sha256", secret: str = SECRET) -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()}"


def articles(db, source_id) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(Article.id)).where(Article.source_id == source_id))


def test_pending_subscribe_is_confirmed_with_exactly_the_challenge(client, db):
    ident, sid = make_row(db)
    answer = verify(client, hub_lease_seconds="7200")
    assert answer.status_code == 200 and answer.data == b"ch4llenge"
    assert answer.mimetype == "text/plain"
    held = row(db, ident)
    assert held.state == "active" and held.pending_mode is None and held.lease_seconds == 7200
    assert held.expires_at - held.verified_at == timedelta(seconds=7200)


@pytest.mark.parametrize(
    "params",
    [
        {"hub_mode": "publish"},
        {"hub_mode": "SUBSCRIBE"},
        {"hub_mode": ""},
        {"hub_mode": None},
        {"hub_topic": "https://upstream.example/other.xml"},
        {"hub_topic": None},
        {"hub_challenge": None},
        {"hub_challenge": ""},
        {"hub_challenge": "c" * 5000},
        {"hub_mode": "unsubscribe"},  # we never asked to unsubscribe
    ],
)
def test_verification_we_did_not_ask_for_is_404(client, db, params):
    ident, _ = make_row(db)
    answer = verify(client, **params)
    assert answer.status_code == 404 and b"ch4llenge" not in answer.data
    assert row(db, ident).state == "pending"


@pytest.mark.parametrize(
    "token", ["U" * 43, "short", "T" * 42 + "%00", "../" + "T" * 43, "T" * 300]
)
def test_unknown_tokens_are_404(client, db, token):
    make_row(db)
    assert verify(client, token=token).status_code == 404


def test_subscribe_verification_without_a_pending_request_is_404(client, db):
    ident, _ = make_row(db, state="none", pending_mode=None)
    assert verify(client).status_code == 404
    assert row(db, ident).state == "none"


def test_an_active_lease_re_verified_unasked_is_404(client, db):
    # WebSub §5.3: only a pending (un)subscription of ours is confirmed.
    # Someone who learnt the callback must not shorten the lease at will.
    long_ago = utcnow() - timedelta(days=2)
    ident, _ = make_row(db, state="active", pending_mode=None, requested_at=long_ago)
    with db.session() as s:
        s.get(UpstreamSubscription, ident).expires_at = utcnow() + timedelta(days=8)
    answer = verify(client, hub_lease_seconds="100")
    assert answer.status_code == 404 and b"ch4llenge" not in answer.data
    held = row(db, ident)
    assert held.state == "active" and held.expires_at > utcnow() + timedelta(days=7)


def test_a_late_verification_of_a_request_that_seemed_to_fail_is_confirmed(client, db):
    # Our request timed out (pending_mode cleared), yet the hub got it and
    # verifies a minute later: that is still a request we made.
    ident, _ = make_row(
        db, state="active", pending_mode=None, requested_at=utcnow() - timedelta(minutes=1)
    )
    answer = verify(client, hub_lease_seconds="7200")
    assert answer.status_code == 200 and answer.data == b"ch4llenge"
    assert row(db, ident).lease_seconds == 7200


def test_a_request_is_confirmed_once(client, db):
    # Within the hour after our request, a second verification of it (the
    # first one already answered) is not ours to confirm.
    ident, _ = make_row(db, requested_at=utcnow() - timedelta(seconds=30))
    assert verify(client, hub_lease_seconds="86400").status_code == 200
    again = verify(client, hub_lease_seconds="300")
    assert again.status_code == 404
    assert row(db, ident).lease_seconds == 86400


def test_unsubscribe_is_confirmed_only_for_a_retired_row(client, db):
    ident, _ = make_row(db, state="active", wanted="unsubscribe", pending_mode="unsubscribe")
    assert verify(client, hub_mode="subscribe").status_code == 404
    answer = verify(client, hub_mode="unsubscribe")
    assert answer.status_code == 200 and answer.data == b"ch4llenge"
    assert row(db, ident) is None


def test_denied_is_recorded_and_answered_200(client, db):
    ident, sid = make_row(db, state="active", pending_mode=None)
    with db.session() as s:
        s.get(Source, sid).next_fetch_at = utcnow() + timedelta(days=1)
    answer = verify(client, hub_mode="denied", hub_challenge=None, hub_reason="<b>quota</b>")
    assert answer.status_code == 200
    held = row(db, ident)
    assert held.state == "denied" and "quota" in held.last_error
    with db.session() as s:
        assert s.get(Source, sid).next_fetch_at <= utcnow()


def test_denied_for_another_topic_is_404(client, db):
    ident, _ = make_row(db, state="active", pending_mode=None)
    answer = verify(client, hub_mode="denied", hub_topic="https://evil.example/")
    assert answer.status_code == 404 and row(db, ident).state == "active"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_a_signed_push_is_stored(client, db, algorithm):
    ident, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(2))
    answer = client.post(
        f"/websub/callback/{'T' * 43}",
        data=body,
        headers={"X-Hub-Signature": sign(body, algorithm), "Content-Type": "application/rss+xml"},
    )
    assert answer.status_code == 202
    assert articles(db, sid) == 2
    assert row(db, ident).last_push_at is not None and row(db, ident).pushes == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256=",
        "md5=0123456789abcdef0123456789abcdef",
        "sha256=zz",
        "sha256=" + "0" * 64,
        "sha256=" + "a" * 10_000,
        "SHA256 " + "0" * 64,
        "wrong-secret",
    ],
)
def test_a_bad_signature_is_2xx_and_discarded(client, db, header):
    ident, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(2))
    if header == "wrong-secret":
        header = sign(body, secret="guess")
    headers = {} if header is None else {"X-Hub-Signature": header}
    answer = client.post(f"/websub/callback/{'T' * 43}", data=body, headers=headers)
    assert answer.status_code == 202
    assert articles(db, sid) == 0 and row(db, ident).last_push_at is None


def test_a_signature_over_other_bytes_is_discarded(client, db):
    _, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(2))
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body + b" ", headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 202 and articles(db, sid) == 0


def test_an_oversized_push_is_413(app, client, db):
    app.config["FETCH_MAX_BYTES"] = 4096
    _, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(200))
    assert len(body) > 4096
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 413 and articles(db, sid) == 0
    # Sent chunked (no Content-Length), it was cut at the limit and answered 202.
    chunked = client.post(
        f"/websub/callback/{'T' * 43}",
        input_stream=io.BytesIO(body),
        headers={"X-Hub-Signature": sign(body), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as granian and gunicorn set it
    )
    assert chunked.status_code == 413 and articles(db, sid) == 0
    small = rss(numbered(2))
    assert len(small) < 4096
    taken = client.post(
        f"/websub/callback/{'T' * 43}",
        input_stream=io.BytesIO(small),
        headers={"X-Hub-Signature": sign(small), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert taken.status_code == 202 and articles(db, sid) == 2


def test_a_push_larger_than_the_request_limit_but_within_the_fetch_limit_is_taken(app, client, db):
    app.config["MAX_CONTENT_LENGTH"] = 1024  # the forms' limit is not the push limit
    _, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(30))
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 202 and articles(db, sid) == 30


def test_a_signed_push_that_is_not_a_feed_is_acknowledged(client, db):
    ident, sid = make_row(db, state="active", pending_mode=None)
    body = b"<html><body>not a feed</body></html>"
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 202 and articles(db, sid) == 0


def test_pushes_sanitize_like_a_poll(client, db):
    _, sid = make_row(db, state="active", pending_mode=None)
    items = numbered(1)
    items[0].description = '<p onclick="x()">Hi<script>alert(1)</script></p>'
    body = rss(items)
    client.post(f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)})
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.source_id == sid))
    assert "script" not in article.body_html and "onclick" not in article.body_html


@pytest.mark.parametrize("token", ["U" * 43, "x", "T" * 300])
def test_a_push_to_an_unknown_callback_is_410(client, db, token):
    make_row(db, state="active", pending_mode=None)
    answer = client.post(f"/websub/callback/{token}", data=b"<rss/>")
    assert answer.status_code == 410


def test_a_push_to_a_retired_subscription_is_410(client, db):
    ident, sid = make_row(db, state="active", wanted="unsubscribe", pending_mode="unsubscribe")
    body = rss(numbered(1))
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 410 and articles(db, sid) == 0
    # A 410 ends it at the hub (§7), which then has nothing to verify our
    # unsubscribe against: it is forgotten here too, not left waiting.
    assert row(db, ident) is None


def test_other_methods_are_refused_cleanly(client, db):
    make_row(db)
    assert client.put(f"/websub/callback/{'T' * 43}").status_code == 405
    assert client.delete(f"/websub/callback/{'T' * 43}").status_code == 405


def test_the_callback_needs_no_csrf_token(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    _, sid = make_row(db, state="active", pending_mode=None)
    body = rss(numbered(1))
    answer = client.post(
        f"/websub/callback/{'T' * 43}", data=body, headers={"X-Hub-Signature": sign(body)}
    )
    assert answer.status_code == 202 and articles(db, sid) == 1


_junk = st.text(max_size=80) | st.sampled_from(["subscribe", "unsubscribe", "denied", TOPIC, ""])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(
            ["hub.mode", "hub.topic", "hub.challenge", "hub.lease_seconds", "hub.reason", "x"]
        ),
        _junk,
    )
)
def test_arbitrary_verification_queries_never_fail_or_echo_wrongly(client, db, query):
    with db.session() as s:
        if s.scalar(select(UpstreamSubscription.id)) is None:
            make_row(db)
    answer = client.get(f"/websub/callback/{'T' * 43}", query_string=query)
    if any("\x00" in key or "\x00" in value for key, value in query.items()):
        assert answer.status_code == 400  # no query value holds a NUL (feedserver.errors)
        return
    assert answer.status_code in (200, 404)
    ours = query.get("hub.topic") == TOPIC and query.get("hub.mode") in ("subscribe", "denied")
    if answer.status_code == 200:
        assert ours
        if query.get("hub.mode") == "subscribe":
            assert answer.data == query["hub.challenge"].encode()
