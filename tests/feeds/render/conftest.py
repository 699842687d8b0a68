"""A realistic feed page to render: co-authors, attribution, comments, paging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from feeds.model import Attribution, Author, Category, Entry, Feed, Paging

BASE = "https://ledger.example.com"
WORLD = Category(term="world", label="World", scheme=f"{BASE}/sections/")

ADA = Author("Ada Lovelace", f"{BASE}/authors/ada-lovelace")
BO = Author("Bo Chen", f"{BASE}/authors/bo-chen")
ZOE = Author("Zoë Ångström", f"{BASE}/authors/zoe-angstrom")
UPSTREAM_REPORTER = Author("Kenji Sato")

WIRE = Attribution(
    title="Harbour Wire",
    link="https://wire.example.org/",
    feed_url="https://wire.example.org/feed.xml",
    feed_id="tag:wire.example.org,2019:feed",
    updated=datetime(2024, 5, 14, 8, 0, 0, tzinfo=UTC),
)


def article(slug: str, uuid: str, **fields: object) -> Entry:
    """An Entry for ``/articles/<slug>`` with sensible defaults."""
    defaults: dict[str, object] = {
        "id": f"urn:uuid:{uuid}",
        "link": f"{BASE}/articles/{slug}",
        "categories": (WORLD,),
    }
    defaults.update(fields)
    return Entry(**defaults)  # type: ignore[arg-type]


def sample_feed() -> Feed:
    """Page 2 of the World section's Atom feed."""
    entries = (
        article(
            "tidal-power-plant-opens",
            "6f1c1a2e-8f0b-4c61-9d55-0b8d2f0c7a11",
            title="Tidal power plant opens in the north",
            published=datetime(2024, 5, 14, 9, 30, 12, 345000, tzinfo=UTC),
            updated=datetime(2024, 5, 14, 11, 2, 7, 500000, tzinfo=UTC),
            authors=(ADA, BO),
            summary="The first turbines turned on Tuesday; output is expected to double by autumn.",
            content_html=(
                "<p>The first turbines turned on Tuesday.</p>"
                f'<p><img src="{BASE}/media/turbine.jpg" alt="A turbine"></p>'
                f'<p>See <a href="{BASE}/articles/tidal-explainer">our explainer</a>.</p>'
            ),
            comments_url=f"{BASE}/articles/tidal-power-plant-opens#comments",
            comments_feed_url=f"{BASE}/articles/tidal-power-plant-opens/comments.atom",
            comment_count=3,
        ),
        article(
            "ferry-strike-ends",
            "0b7d3c44-2a9e-4f1b-8e0c-5d6a7b8c9d01",
            title="Ferry strike ends after nine days",
            published=datetime(2024, 5, 14, 7, 45, 0, tzinfo=UTC),
            updated=datetime(2024, 5, 14, 7, 45, 0, tzinfo=UTC),
            authors=(UPSTREAM_REPORTER,),
            summary="Unions & operators agreed to a 4% raise.",
            content_html=(
                "<p>Unions &amp; operators agreed to a 4% raise.</p>"
                '<p><a href="https://wire.example.org/2024/05/ferry-strike">Full report</a></p>'
            ),
            source=WIRE,
            original_url="https://wire.example.org/2024/05/ferry-strike",
        ),
        article(
            "tokyo-harbour-festival",
            "a3e5f7c9-1b2d-4e6f-8a0b-c1d2e3f4a5b6",
            title="Zoë's notes from the 東京 harbour festival 🎆",
            published=datetime(2024, 5, 13, 18, 0, 0, 250000, tzinfo=UTC),
            updated=datetime(2024, 5, 13, 19, 15, 30, 125000, tzinfo=UTC),
            authors=(ZOE, ADA, BO),
            summary="Fireworks, food stalls and 3 < 4 crowds — a night out.",
            content_html=(
                "<p>Fireworks over the water — <em>花火</em> 🎆.</p>"
                "<pre>if a &lt; b &amp;&amp; c]]&gt;d: pass</pre>"
            ),
            comments_url=f"{BASE}/articles/tokyo-harbour-festival#comments",
            comments_feed_url=f"{BASE}/articles/tokyo-harbour-festival/comments.atom",
            comment_count=0,
        ),
        article(
            "bridge-inspection-report",
            "d4c3b2a1-0f9e-4d8c-b7a6-958473625140",
            title="Bridge inspection report published",
            published=datetime(2024, 5, 12, 16, 20, 5, tzinfo=UTC),
            updated=datetime(2024, 5, 12, 16, 20, 5, tzinfo=UTC),
            summary="No authors upstream: the wire item carries none.",
            content_html="<p>The report finds the bridge sound.</p>",
            source=WIRE,
            original_url="https://wire.example.org/2024/05/bridge",
        ),
    )
    return Feed(
        id=f"{BASE}/sections/world/feed",
        title="World — The Daily Ledger",
        description="World news from The Daily Ledger",
        link=f"{BASE}/sections/world",
        self_url=f"{BASE}/sections/world/feed.atom?page=2",
        updated=datetime(2024, 5, 14, 11, 2, 7, 500000, tzinfo=UTC),
        entries=entries,
        paging=Paging(
            first=f"{BASE}/sections/world/feed.atom",
            previous=f"{BASE}/sections/world/feed.atom",
            next=f"{BASE}/sections/world/feed.atom?page=3",
            last=f"{BASE}/sections/world/feed.atom?page=7",
        ),
        language="en",
        alternates=(
            ("application/rss+xml", f"{BASE}/sections/world/feed.rss?page=2"),
            ("application/feed+json", f"{BASE}/sections/world/feed.json?page=2"),
        ),
        hubs=(f"{BASE}/websub",),
    )


FORMATS = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}


def for_format(feed: Feed, fmt: str) -> Feed:
    """The same page as the app would build it for ``fmt``: own self, paging, alternates."""

    def swap(url: str | None) -> str | None:
        return url.replace("feed.atom", f"feed.{fmt}") if url else None

    def comments(entry: Entry) -> Entry:
        if entry.comments_feed_url is None or fmt != "rss":
            return entry
        return replace(entry, comments_feed_url=entry.comments_feed_url.replace(".atom", ".rss"))

    paging = feed.paging
    return replace(
        feed,
        self_url=swap(feed.self_url) or feed.self_url,
        entries=tuple(comments(entry) for entry in feed.entries),
        paging=Paging(
            swap(paging.first), swap(paging.previous), swap(paging.next), swap(paging.last)
        ),
        alternates=tuple(
            (media, f"{BASE}/sections/world/feed.{name}?page=2")
            for name, media in FORMATS.items()
            if name != fmt
        ),
    )


@pytest.fixture
def feed() -> Feed:
    """The sample page (as built for Atom)."""
    return sample_feed()


@pytest.fixture
def page() -> Callable[[str], Feed]:
    """The sample page as built for a format: ``page("rss")``."""
    return lambda fmt: for_format(sample_feed(), fmt)
