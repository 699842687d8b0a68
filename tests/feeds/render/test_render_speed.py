"""A cold render of a full page stays in the low milliseconds.

Measured at about 2 ms per format on the development machine; the bound is
ten times that so only a real regression (per-entry re-parsing, say) fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from feeds.model import Feed, Rendered
from feeds.render import render_atom, render_json, render_rss

WORDS = ("lorem ipsum dolor sit amet <em>consectetur</em> adipiscing elit " * 100).split(" ")


@pytest.mark.parametrize("render", [render_rss, render_atom, render_json])
def test_twenty_long_items_render_fast(feed: Feed, render: Callable[[Feed], Rendered]) -> None:
    body = "<p>" + " ".join(WORDS[:800]) + "</p>"
    entries = tuple(
        replace(
            feed.entries[i % len(feed.entries)],
            id=f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
            updated=feed.updated - timedelta(minutes=i),
            content_html=body,
        )
        for i in range(20)
    )
    page = replace(feed, entries=entries)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        rendered = render(page)
        best = min(best, time.perf_counter() - start)
    assert rendered.body.count(b"consectetur") >= 20 * 100
    assert best < 0.02, f"{best * 1000:.1f} ms"
