"""The feed statistics page in a real browser: readers counted from real HTTP requests,
90 days of history, charts drawn under the Content-Security-Policy, sorting, one feed."""

from __future__ import annotations

import urllib.request
from datetime import timedelta

import pytest

from feedserver.db import get_db
from feedserver.models import FeedDay, utcnow
from feedserver.publishing.audience import tally_of
from tests.browser.browser_support import shot, sign_in
from tests.factories import make_article, make_section

pytestmark = pytest.mark.browser

AGENTS = [
    (
        "/feed.atom",
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; like FeedFetcher-Google)",
    ),
    (
        "/feed.atom",
        "Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; 12 subscribers; )",
    ),
    (
        "/feed.atom",
        "NewsBlur Feed Fetcher - 3 subscribers - http://www.newsblur.com/site/1234/ledger",
    ),
    ("/feed.atom", "newsboat/2.36.0 (Linux x86_64)"),
    ("/feed.rss", "Feedbin feed-id:1373711 - 9 subscribers"),
    ("/feed.rss", "curl/8.5.0"),
    (
        "/sections/world/feed.json",
        "Mozilla/5.0 (compatible; theoldreader.com; 4 subscribers; feed-id=abc)",
    ),
]


def test_stats_page(page, live_app):
    app, base = live_app
    db = get_db(app)
    with db.session() as s:
        make_article(s, slug="harbour", section=make_section(s, slug="world", name="World"))
    for path, agent in AGENTS:
        request = urllib.request.Request(base + path, headers={"User-Agent": agent})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    # Eighty-nine earlier days of history for the charts.
    today = utcnow().date()
    with db.session() as s:
        for back in range(1, 90):
            for path, subscribers in (("/feed.atom", 40 + (89 - back) // 4), ("/feed.rss", 6)):
                requests = 200 + (back * 37) % 90
                s.add(
                    FeedDay(
                        path=path, day=today - timedelta(days=back), requests=requests,
                        not_modified=requests * 2 // 3, bytes=requests * 4000,
                        subscribers=subscribers, by_reader={"Feedly": subscribers, "other": 0},
                    )
                )  # fmt: skip
    try:
        sign_in(page, base)
        page.get_by_role("link", name="Stats").click()
        page.wait_for_url(base + "/admin/stats")
        assert page.locator("#total-subscribers").inner_text() == "72"  # 42+12+3+1, 9+1, 4
        table = page.locator("table.stats-table")
        first_rows = table.locator("tbody th").all_inner_texts()
        assert first_rows == ["/feed.atom", "/feed.rss", "/sections/world/feed.json"]
        assert "Feedly 42" in table.inner_text()
        charts = page.locator("svg.chart")
        assert charts.count() == 2
        box = charts.first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        assert page.locator("svg.chart polyline.chart-line").count() == 1
        assert page.locator("svg.chart rect.chart-bar").count() >= 89
        shot(page, "20-feed-stats")

        # Sort by feed, ascending, with a click on the header.
        table.get_by_role("link", name="Feed", exact=True).click()
        page.wait_for_url("**sort=feed**")
        page.locator("table.stats-table thead").get_by_role("link", name="Feed", exact=True).click()
        page.wait_for_url("**order=asc**")
        assert page.locator("table.stats-table tbody th").all_inner_texts() == [
            "/feed.atom", "/feed.rss", "/sections/world/feed.json",
        ]  # fmt: skip
        page.get_by_role("link", name="/feed.rss").click()
        assert page.locator("h1").inner_text() == "/feed.rss"
        assert "Feedbin" in page.locator("table").inner_text()
        shot(page, "21-feed-stats-one-feed")
    finally:
        tally_of(app).close()
