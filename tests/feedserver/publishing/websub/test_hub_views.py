"""GET /api/websub/subscriptions and the admin's WebSub page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feedserver.models import HubSubscription, utcnow


def _rows(db):
    with db.session() as s:
        now = utcnow()
        for i, (path, state, failures) in enumerate(
            [
                ("/feed.atom", "active", 0),
                ("/feed.atom", "active", 3),
                ("/feed.atom", "pending", 0),
                ("/sections/world/feed.rss", "ended", 0),
            ]
        ):
            s.add(
                HubSubscription(
                    ident=f"{i:064d}", topic=f"http://localhost{path}", path=path,
                    scope_key="site", callback=f"https://sub{i}.example/cb", state=state,
                    secret="hush-hush", lease_seconds=600, expires_at=now + timedelta(hours=1), failures=failures,
                    last_status=500 if failures else None, last_error="HTTP 500" if failures else None,
                )
            )  # fmt: skip


def test_api_lists_subscriptions_without_secrets(api, db):
    _rows(db)
    r = api.get("/api/websub/subscriptions?per_page=2")
    assert r.status_code == 200
    body = r.get_json()
    assert body["total"] == 4 and body["pages"] == 2 and len(body["items"]) == 2
    assert b"hush-hush" not in r.data and "secret" not in body["items"][0]
    item = body["items"][0]
    assert {"topic", "callback", "state", "expires_at", "last_delivery_at", "last_status",
            "failures"} <= set(item)  # fmt: skip
    r = api.get("/api/websub/subscriptions?state=active")
    assert [i["failures"] for i in r.get_json()["items"]] == [3, 0]
    assert r.get_json()["items"][0]["last_status"] == 500


def test_a_lease_that_ran_out_shows_ended_before_the_sweep(api, db):
    # The hub's sweep marks lapsed leases ended a little later; the API says
    # so at once (INTERFACE §7: ended "after … the lease's end").
    _rows(db)
    with db.session() as s:
        lapsed = s.query(HubSubscription).filter_by(failures=3).one()
        lapsed.expires_at = utcnow() - timedelta(seconds=5)
        ident = lapsed.id
    items = api.get("/api/websub/subscriptions").get_json()["items"]
    assert {i["id"]: i["state"] for i in items}[ident] == "ended"
    active = api.get("/api/websub/subscriptions?state=active").get_json()["items"]
    assert [i["failures"] for i in active] == [0]
    ended = api.get("/api/websub/subscriptions?state=ended").get_json()["items"]
    assert sorted(i["failures"] for i in ended) == [0, 3] and ident in {i["id"] for i in ended}


@pytest.mark.parametrize("query", ["?state=bogus", "?page=0", "?per_page=100000", "?page=x"])
def test_api_bad_queries_are_400(api, query):
    r = api.get("/api/websub/subscriptions" + query)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"]


def test_api_needs_a_token(client):
    r = client.get("/api/websub/subscriptions")
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]


def test_openapi_describes_the_subscriptions_list(client):
    document = client.get("/api/openapi.json").get_json()
    op = document["paths"]["/api/websub/subscriptions"]["get"]
    assert "WebSubSubscription" in document["components"]["schemas"]
    assert "200" in op["responses"]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


def test_admin_page_counts_subscribers_and_failures(admin, db):
    _rows(db)
    r = admin.get("/admin/websub/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    row = html[html.index("<code>/feed.atom</code>") :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells[:5] == ["2", "1", "0", '<span class="status status-failing">1</span>', "3"]
    assert "https://sub1.example/cb" in html and "HTTP 500" in html
    assert "hush-hush" not in html


def test_admin_page_needs_sign_in(client):
    r = client.get("/admin/websub/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
