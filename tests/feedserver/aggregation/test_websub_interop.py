"""Our subscriber against an independent hub: PyPI ``flask-websub`` (its ``Hub``).

Its hub runs on Celery; here with the in-memory broker and Celery's own
testing worker in this process (``celery.contrib.testing.worker``), served
by werkzeug on 127.0.0.1. It verifies intent synchronously in a task, fetches
the topic itself when told ``hub.mode=publish`` (it insists on the topic's
``Link`` headers naming hub and self), and signs deliveries with HMAC-SHA512
by default — so this also checks our sha512 path against another
implementation's signing.
"""

from __future__ import annotations

import logging

import celery
import celery.signals
import pytest
from sqlalchemy import select

from feedserver.aggregation.poller import poll_once
from feedserver.aggregation.refresh import PollSettings
from feedserver.aggregation.websub import maintain
from feedserver.models import UpstreamSubscription
from tests.factories import make_section, make_source
from tests.feedserver.aggregation_support import articles_of, numbered, rss
from tests.feedserver.websub_support import live, wait_for

flask_websub_hub = pytest.importorskip("flask_websub.hub")


@pytest.fixture(scope="module")
def their_hub(tmp_path_factory):
    """flask-websub's Hub on 127.0.0.1 with an in-process Celery worker."""
    from celery.contrib.testing.worker import start_worker
    from flask import Flask

    # Celery's worker set-up would take over logging (root level ERROR, root
    # handlers dropped), silencing the warnings other tests assert on.
    celery.signals.setup_logging.connect(_leave_logging_alone, weak=False)
    root_level = logging.getLogger().level
    app = Flask("flask_websub_hub")
    app.config["PUBLISH_SUPPORTED"] = True
    worker_app = celery.Celery(
        "interop", broker="memory://", backend="cache+memory://", set_as_current=False
    )
    storage = flask_websub_hub.SQLite3HubStorage(str(tmp_path_factory.mktemp("hub") / "hub.db"))
    hub = flask_websub_hub.Hub(storage, worker_app, REQUEST_TIMEOUT=5, BACKOFF_BASE=0.2)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    with (
        start_worker(worker_app, perform_ping_check=False, pool="threads", concurrency=2),
        live(app) as base,
    ):
        yield f"{base}/hub"
    logging.getLogger().setLevel(root_level)


def _leave_logging_alone(**_kwargs: object) -> None:
    """A setup_logging receiver: with one connected, Celery configures no logging."""


def subscription(db, source_id):
    with db.session() as s:
        return s.scalar(
            select(UpstreamSubscription).where(UpstreamSubscription.source_id == source_id)
        )


def test_our_subscriber_with_flask_websub_hub(app, db, api, httpserver, their_hub):
    items = numbered(2, prefix="first")
    state = {"items": items}

    def feed_response(request):
        from werkzeug import Response

        links = f'<{their_hub}>; rel="hub", <{httpserver.url_for("/feed.xml")}>; rel="self"'
        return Response(
            rss(state["items"]), content_type="application/rss+xml", headers={"Link": links}
        )

    httpserver.expect_request("/feed.xml").respond_with_handler(feed_response)
    with live(app) as base:
        app.config["BASE_URL"] = base
        settings = PollSettings.from_config({**app.config, "UPSTREAM_ALLOWLIST": "127.0.0.1"})
        with db.session() as s:
            sid = make_source(
                s, feed_url=httpserver.url_for("/feed.xml"), section=make_section(s)
            ).id
        poll_once(db, settings)
        row = wait_for(
            lambda: (r := subscription(db, sid)) is not None and r.state == "active" and r
        )
        assert row.topic == httpserver.url_for("/feed.xml") and row.hub == their_hub

        # The publisher pings its hub; the hub fetches the topic and pushes it to us.
        state["items"] = numbered(2, prefix="first") + numbered(1, prefix="pushed")
        import httpx

        ping = httpx.post(
            their_hub,
            data={"hub.mode": "publish", "hub.topic": httpserver.url_for("/feed.xml")},
            timeout=5,
        )
        assert ping.status_code == 202
        wait_for(lambda: "Pushed 0" in {a.title for a in articles_of(db, sid)}, timeout=20)
        assert subscription(db, sid).last_push_at is not None
        body = api.get(f"/api/sources/{sid}").get_json()
        assert body["websub"]["state"] == "active" and body["websub"]["hub"] == their_hub

        # Disable: we unsubscribe, its hub verifies and drops us.
        api.patch(f"/api/sources/{sid}", json={"enabled": False})
        maintain(db, settings)
        wait_for(lambda: subscription(db, sid) is None, timeout=20)
