"""The admin's source page and the API list show the WebSub push state."""

from __future__ import annotations

from datetime import timedelta

from feedserver.models import UpstreamSubscription, utcnow
from tests.factories import make_section, make_source


def _source_with_push(db, **kw):
    with db.session() as s:
        source = make_source(s, feed_url="https://pub.example/feed.xml", section=make_section(s))
        s.add(
            UpstreamSubscription(
                source_id=source.id,
                hub="https://hub.example/websub",
                topic="https://pub.example/feed.xml",
                token="A" * 43,
                secret="never-shown-" + "s" * 30,
                state=kw.get("state", "active"),
                wanted="subscribe",
                attempts=0,
                pushes=3,
                expires_at=utcnow() + timedelta(days=9),
                last_push_at=utcnow(),
                last_error=kw.get("last_error"),
            )
        )
        return source.id


def test_source_detail_shows_push_state(admin, db):
    sid = _source_with_push(db, state="denied", last_error="hub denied the subscription: quota")
    page = admin.get(f"/admin/sources/{sid}").get_data(as_text=True)
    assert "Push (WebSub)" in page and "push-denied" in page
    assert "https://hub.example/websub" in page and "quota" in page and "3 in all" in page
    assert "never-shown" not in page and "A" * 43 not in page


def test_source_without_hub_says_so(admin, db):
    with db.session() as s:
        sid = make_source(s, feed_url="https://pub.example/x.xml").id
    page = admin.get(f"/admin/sources/{sid}").get_data(as_text=True)
    assert "Push state: none" in page


def test_api_lists_push_state_without_secrets(api, db):
    sid = _source_with_push(db)
    with db.session() as s:
        plain = make_source(s).id
    body = api.get("/api/sources").get_json()
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[sid]["websub"]["state"] == "active"
    assert by_id[sid]["websub"]["hub"] == "https://hub.example/websub"
    assert by_id[plain]["websub"] == {
        "hub": None, "state": "none", "expires_at": None, "last_push_at": None,
        "last_error": None,
    }  # fmt: skip
    text = api.get(f"/api/sources/{sid}").get_data(as_text=True)
    assert "never-shown" not in text and "A" * 43 not in text
