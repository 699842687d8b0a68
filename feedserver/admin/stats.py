"""Feed statistics in the admin: subscribers by reader, traffic, 90-day charts (INTERFACE §9).

``/admin/stats`` lists every feed (sortable on the server: the page works
without scripts, which the Content-Security-Policy keeps out anyway), the top
readers over all feeds, and two charts for all feeds together; ``/admin/stats/
feed?path=…`` shows one feed's readers and charts.
"""

from __future__ import annotations

from flask import current_app, render_template, request

from feedserver.admin import bp
from feedserver.admin.charts import bar_chart, line_chart
from feedserver.db import db_session
from feedserver.errors import NotFound
from feedserver.models import utcnow
from feedserver.publishing import statsdb
from feedserver.publishing.audience import tally_of

CHART_DAYS = 90
SORTS = {
    "feed": lambda f: f.path,
    "subscribers": lambda f: f.subscribers,
    "requests": lambda f: f.requests,
    "not_modified": lambda f: f.not_modified_share,
    "bytes": lambda f: f.bytes,
}


def _figures() -> list[statsdb.FeedFigures]:
    tally = tally_of(current_app)
    if tally is not None:
        tally.flush()  # this process's latest requests, as the API does
    return statsdb.feed_figures(db_session(), utcnow())


def _charts(series: list[statsdb.DayPoint], prefix: str) -> dict[str, object]:
    days = [p.day for p in series]
    return {
        "subscribers": line_chart(
            f"{prefix}-subscribers",
            f"Subscribers per day, last {CHART_DAYS} days",
            days,
            [p.subscribers for p in series],
        ),
        "requests": bar_chart(
            f"{prefix}-requests",
            f"Requests and 304 Not Modified answers per day, last {CHART_DAYS} days",
            days,
            [p.requests for p in series],
            [p.not_modified for p in series],
        ),
    }


@bp.get("/stats")
def stats() -> str:
    """List every feed with its subscribers by reader and its last day's traffic."""
    figures = _figures()
    sort = request.args.get("sort", "subscribers")
    if sort not in SORTS:
        sort = "subscribers"
    order = "asc" if request.args.get("order") == "asc" else "desc"
    figures.sort(key=SORTS[sort], reverse=order == "desc")
    series = statsdb.daily_series(db_session(), utcnow().date(), CHART_DAYS)
    return render_template(
        "admin/stats.html",
        figures=figures,
        sort=sort,
        order=order,
        top_readers=statsdb.top_readers(figures),
        total=sum(f.subscribers for f in figures),
        charts=_charts(series, "all"),
    )


@bp.get("/stats/feed")
def stats_feed() -> str:
    """Show one feed: its readers and its 90-day charts."""
    path = request.args.get("path", "")
    if not path.startswith("/") or len(path) > 300:
        raise NotFound("No statistics for that feed.")
    figures = next((f for f in _figures() if f.path == path), None)
    series = statsdb.daily_series(db_session(), utcnow().date(), CHART_DAYS, path=path)
    if figures is None and not any(p.requests or p.subscribers for p in series):
        raise NotFound(f"No statistics for {path[:100]}.")
    return render_template(
        "admin/stats_feed.html",
        path=path,
        figures=figures,
        charts=_charts(series, "feed"),
    )
