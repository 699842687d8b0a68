"""Our subscriber against our own hub (``feedserver.publishing.websub``), end to end.

One app, served live on 127.0.0.1, is both sides: the source is its own
"World" section feed; the hub it advertises is its own ``/websub``; its own
poller thread (the hub's deliverer) verifies our intent and pushes the new
page 1 when an article is published through the API. The aggregated copies
land in another section, so the pushed feed does not change itself.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedserver.aggregation.poller import poll_once
from feedserver.aggregation.refresh import PollSettings
from feedserver.aggregation.websub import maintain
from feedserver.models import HubSubscription, UpstreamSubscription
from tests.factories import make_author, make_section, make_source
from tests.feedserver.aggregation_support import articles_of
from tests.feedserver.websub_support import live, wait_for

hub_package = pytest.importorskip("feedserver.publishing.websub.deliver")


def subscription(db, source_id):
    with db.session() as s:
        return s.scalar(
            select(UpstreamSubscription).where(UpstreamSubscription.source_id == source_id)
        )


def hub_side_active(db, topic):
    with db.session() as s:
        state = s.scalar(select(HubSubscription.state).where(HubSubscription.topic == topic))
    return state == "active"


@pytest.mark.slow
def test_our_subscriber_with_our_own_hub(app, db, api):
    from feedserver.publishing import websub as hub

    with live(app) as base:
        app.config.update(BASE_URL=base, UPSTREAM_ALLOWLIST="127.0.0.1")
        settings = PollSettings.from_config(app.config)
        with db.session() as s:
            make_section(s, slug="world", name="World")
            digest = make_section(s, slug="digest", name="Digest")
            make_author(s, slug="ada", name="Ada")
            sid = make_source(s, feed_url=f"{base}/sections/world/feed.atom", section=digest).id
        hub.start_deliverer(app, startup_delay=0.0)
        try:
            poll_once(db, settings)
            row = wait_for(
                lambda: (r := subscription(db, sid)) is not None and r.state == "active" and r,
                timeout=20,
            )
            assert row.hub == f"{base}/websub"
            assert row.topic == f"{base}/sections/world/feed.atom"
            # Our side is active once its callback answered the hub's check; the hub
            # records its side just after. A change before that is not its to send.
            wait_for(lambda: hub_side_active(db, row.topic), timeout=20)

            created = api.post(
                "/api/articles",
                json={
                    "title": "Pushed through our own hub",
                    "summary": "S",
                    "body_html": "<p>Body</p>",
                    "section": "world",
                    "authors": ["ada"],
                },
            )
            assert created.status_code == 201, created.get_data(as_text=True)
            wait_for(
                lambda: "Pushed through our own hub" in {a.title for a in articles_of(db, sid)},
                timeout=20,
            )
            assert subscription(db, sid).last_push_at is not None

            api.patch(f"/api/sources/{sid}", json={"enabled": False})
            maintain(db, settings)
            wait_for(lambda: subscription(db, sid) is None, timeout=20)
        finally:
            hub.stop_deliverer(app)
