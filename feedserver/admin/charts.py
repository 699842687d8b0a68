"""Charts as inline SVG, drawn on the server.

The admin's Content-Security-Policy (feedserver.security) allows no inline
script and no inline style, so the charts are plain SVG elements with
presentation geometry only; colours come from classes in static/admin.css.
Each chart carries a <title> and a <desc> for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30


def _nice_top(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _frame(
    chart_id: str, title: str, desc: str, days: Sequence[date], top: int, body: list[str]
) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" aria-labelledby="{escape(chart_id)}-title'
        f' {escape(chart_id)}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="chart-label" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{int(top * fraction):,}</text>"
        )
    if days:
        last = len(days) - 1
        for index in sorted({0, len(days) // 2, last}):
            x = _x(index, len(days))
            anchor = "start" if index == 0 else "end" if index == last else "middle"
            x = LEFT if anchor == "start" else WIDTH - RIGHT if anchor == "end" else x
            parts.append(
                f'<text class="chart-label" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                f"{days[index].isoformat()}</text>"
            )
    parts.extend(body)
    parts.append("</svg>")
    # Every piece of text above went through escape() or is a number we formatted.
    return Markup("".join(parts))  # noqa: S704


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * (index + 0.5) / count if count else 0)


def _y(value: int, top: int) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h * (1 - value / top)


def line_chart(chart_id: str, title: str, days: Sequence[date], values: Sequence[int]) -> Markup:
    """A line (with a shaded area) of one daily series."""
    top = _nice_top(max(values, default=0))
    count = len(values)
    points = " ".join(f"{_x(i, count):.1f},{_y(v, top):.1f}" for i, v in enumerate(values))
    body = []
    if count:
        base = _y(0, top)
        area = f"{_x(0, count):.1f},{base:.1f} {points} {_x(count - 1, count):.1f},{base:.1f}"
        body.append(f'<polygon class="chart-area" points="{area}"/>')
        body.append(f'<polyline class="chart-line" points="{points}"/>')
    latest = values[-1] if values else 0
    desc = f"{count} days; latest {latest:,}, highest {max(values, default=0):,}."
    return _frame(chart_id, title, desc, days, top, body)


def bar_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    totals: Sequence[int],
    parts: Sequence[int],
) -> Markup:
    """Daily bars of ``totals`` with the ``parts`` (the 304s) drawn over each."""
    top = _nice_top(max(totals, default=0))
    count = len(totals)
    width = max(1.0, (WIDTH - LEFT - RIGHT) / max(count, 1) - 1)
    body = []
    for i, (total, part) in enumerate(zip(totals, parts, strict=True)):
        x = _x(i, count) - width / 2
        for css, value in (("chart-bar", total), ("chart-bar-part", min(part, total))):
            if value <= 0:
                continue
            y = _y(value, top)
            body.append(
                f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}"'
                f' height="{_y(0, top) - y:.1f}"/>'
            )
    desc = f"{count} days; {sum(totals):,} requests, {sum(parts):,} answered 304 Not Modified."
    return _frame(chart_id, title, desc, days, top, body)
