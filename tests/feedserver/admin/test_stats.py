"""The admin's feed statistics: every feed, readers, a sortable table, 90-day SVG charts."""

from __future__ import annotations

import re

import pytest

from feedserver.admin.charts import bar_chart, line_chart
from feedserver.publishing.audience import tally_of
from feedserver.security import CSP

FEEDLY = (
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; like FeedFetcher-Google)"
)
INOREADER = "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; {n} subscribers; )"


@pytest.fixture
def readers(app, admin, news):
    for path, agent, address in [
        ("/feed.atom", FEEDLY.format(n=42), "192.0.2.1"),
        ("/feed.atom", INOREADER.format(n=12), "192.0.2.2"),
        ("/feed.atom", "curl/8.5.0", "203.0.113.1"),
        ("/feed.rss", "newsboat/2.36.0", "203.0.113.2"),
        ("/sections/world/feed.json", FEEDLY.format(n=7), "192.0.2.1"),
    ]:
        response = admin.get(
            path, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 200
    yield admin
    tally_of(app).close()


def rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]*">([^<]+)</a></th>', html)


def test_stats_page_lists_feeds_readers_and_charts(readers):
    page = readers.get("/admin/stats")
    assert page.status_code == 200
    html = page.text
    assert rows(html) == ["/feed.atom", "/sections/world/feed.json", "/feed.rss"]
    assert 'id="total-subscribers">63<' in html  # 42 + 12 + 1, 7, 1
    assert "Feedly 42" in html and "Inoreader 12" in html and "other 1" in html
    top = re.findall(
        r'<span class="reader-name">([^<]+)</span> <span class="reader-count">([^<]+)<', html
    )
    assert top[:3] == [("Feedly", "49"), ("Inoreader", "12"), ("other", "2")]
    assert html.count("<svg") == 2 and "<script" not in html and "style=" not in html
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.headers["Cache-Control"] == "no-store"


def test_the_table_sorts_on_the_server(readers):
    by_feed = readers.get("/admin/stats?sort=feed&order=asc").text
    assert rows(by_feed) == ["/feed.atom", "/feed.rss", "/sections/world/feed.json"]
    assert 'aria-sort="ascending"' in by_feed
    fewest = readers.get("/admin/stats?sort=subscribers&order=asc").text
    assert rows(fewest)[-1] == "/feed.atom"
    # Hostile or unknown sort keys fall back to the default, never a 500.
    for query in ("sort=__class__", "sort=x&order=%ff", "sort=" + "x" * 5000, "order[]=1"):
        response = readers.get("/admin/stats?" + query)
        assert response.status_code == 200
        assert rows(response.text)[0] == "/feed.atom"
    # A NUL is refused in every query string, before any view (PostgreSQL cannot hold one).
    response = readers.get("/admin/stats?sort=%00&order=%ff")
    assert response.status_code == 400 and "NUL" in response.text


def test_one_feed_page(readers):
    page = readers.get("/admin/stats/feed?path=/feed.atom")
    assert page.status_code == 200
    assert '<h1 class="page-title">/feed.atom</h1>' in page.text
    assert re.search(r"<th scope=\"row\">Feedly</th><td class=\"num\">42</td>", page.text)
    assert page.text.count("<svg") == 2
    for bad in ("", "feed.atom", "/nothing.here", "/" + "a" * 400, "/feed.atom%00"):
        assert readers.get("/admin/stats/feed", query_string={"path": bad}).status_code == 404


def test_empty_stats_page(admin):
    page = admin.get("/admin/stats")
    assert page.status_code == 200
    assert "No feed has been fetched in the last day." in page.text
    assert page.text.count("<svg") == 2


def test_charts_are_plain_svg():
    from datetime import date, timedelta

    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(90)]
    line = str(line_chart("c<1>", "Subscribers & <more>", days, list(range(90))))
    assert line.startswith("<svg") and line.endswith("</svg>")
    assert "c&lt;1&gt;" in line and "Subscribers &amp; &lt;more&gt;" in line
    assert "2026-01-01" in line and "2026-03-31" in line and "style" not in line
    bars = str(bar_chart("b", "Requests", days, [10] * 90, [4] * 90))
    assert bars.count('class="chart-bar"') == 90 and bars.count('class="chart-bar-part"') == 90
    empty = str(line_chart("e", "Nothing", [], []))
    assert "<polyline" not in empty
