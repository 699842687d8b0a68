"""User-agent parsing: the subscriber counts reader services report, and everyone else.

The agents below are the formats the services document or send (their help
pages, their open source fetchers, published server logs); see the module
docstring of feedserver.publishing.readers.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedserver.publishing.readers import MAX_NAME, MAX_REPORTED, OTHER, Report, parse_user_agent

READERS = [
    (
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; like FeedFetcher-Google)",
        Report("Feedly", 42, ""),
    ),
    (
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; feed-id=abc-123)",
        Report("Feedly", 42, "abc-123"),
    ),
    (
        "Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; 12 subscribers; )",
        Report("Inoreader", 12, ""),
    ),
    (
        "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 26 subscribers; )",
        Report("Inoreader", 26, ""),
    ),
    (
        "NewsBlur Feed Fetcher - 3 subscribers - http://www.newsblur.com/site/1234/the-ledger "
        "(Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_1) AppleWebKit/534.48.3 (KHTML, like Gecko) "
        "Version/5.1 Safari/534.48.3)",
        Report("NewsBlur", 3, "1234"),
    ),
    (
        "NewsBlur Feed Fetcher - 1 subscriber - https://www.newsblur.com/site/77/x",
        Report("NewsBlur", 1, "77"),
    ),
    ("Feedbin feed-id:1373711 - 142 subscribers", Report("Feedbin", 142, "1373711")),
    (
        "Mozilla/5.0 (compatible; theoldreader.com; 14 subscribers; feed-id=5f1b2c3d4e)",
        Report("The Old Reader", 14, "5f1b2c3d4e"),
    ),
    (
        "Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 5 subscribers)",
        Report("BazQux", 5, ""),
    ),
    ("Bloglovin/1.0 (http://www.bloglovin.com; 28 subscribers)", Report("Bloglovin", 28, "")),
    (
        "Netvibes (http://www.netvibes.com/; 8 subscribers; feedID: 6639445)",
        Report("Netvibes", 8, "6639445"),
    ),
    ("g2reader-bot/1.0 (+http://www.g2reader.com/; 3 subscribers)", Report("g2reader", 3, "")),
    (
        "Feed Wrangler/1.0 (2 subscribers; feed-id=479901; http://feedwrangler.net; Allow like Gecko)",
        Report("Feed Wrangler", 2, "479901"),
    ),
    (
        "Feedfetcher-Google; (+http://www.google.com/feedfetcher.html; 4 subscribers; "
        "feed-id=1794595805790851116)",
        Report("Google Feedfetcher", 4, "1794595805790851116"),
    ),
    (
        "Overcast/1.0 Podcast Sync (123 subscribers; feed-id=456789; +http://overcast.fm/)",
        Report("Overcast", 123, "456789"),
    ),
    # A service we have never heard of: named by its product token.
    ("LionReader/2.3 (+https://lionreader.example; 7 subscribers)", Report("LionReader", 7, "")),
    ("SomeReader/2.1 (1,204 readers)", Report("SomeReader", 1204, "")),
]

PLAIN_CLIENTS = [
    "Feedspot/1.0 (+https://www.feedspot.com/fs/fetcher; like FeedFetcher-Google)",
    "Mozilla/5.0 (compatible; Miniflux/2.1.0; +https://miniflux.app)",
    "Tiny Tiny RSS/24.02 (https://tt-rss.org/)",
    "FreshRSS/1.24.3 (Linux; https://freshrss.org)",
    "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
    "Mozilla/5.0 (compatible; feedparser/6.0.11; +https://github.com/kurtmckee/feedparser/)",
    "newsboat/2.36.0 (Linux x86_64)",
    "curl/8.5.0",
    "Blogtrottr/2.0",
    "",
]


@pytest.mark.parametrize(("agent", "expected"), READERS, ids=[r.service for _, r in READERS])
def test_reader_reports(agent, expected):
    assert parse_user_agent(agent) == expected


@pytest.mark.parametrize("agent", PLAIN_CLIENTS)
def test_plain_clients_report_nothing(agent):
    assert parse_user_agent(agent) is None


def test_absurd_counts_are_clamped():
    report = parse_user_agent("Evil/1.0 (999999999999 subscribers)")
    assert report is not None
    assert report.subscribers == MAX_REPORTED
    # Any longer claim is clamped too (it was taken for no claim at all)...
    for digits in (13, 24, 40):
        claim = parse_user_agent(
            f"Feedly/1.0 (+http://www.feedly.com/fetcher.html; {'9' * digits} subscribers; feed-id=1)"
        )
        assert claim is not None and claim.subscribers == MAX_REPORTED, digits
    assert parse_user_agent("Evil/1.0 (1,000,000,000,000,000 readers)").subscribers == MAX_REPORTED
    # ...up to 40 digits; past them it is noise.
    assert parse_user_agent(f"Evil/1.0 ({'9' * 41} subscribers)") is None


def test_a_signed_count_is_not_a_count():
    # "-5 subscribers" was read as 5 (found by the audit).
    assert parse_user_agent("Inoreader/1.0 (-5 subscribers)") is None
    assert parse_user_agent("Inoreader/1.0 (+5 subscribers)") is None
    report = parse_user_agent("Feedbin feed-id:1373711 - 142 subscribers")
    assert report is not None and report.subscribers == 142


def test_a_reader_may_not_call_itself_other():
    report = parse_user_agent("other/1.0 (5 subscribers)")
    assert report is not None and report.service != OTHER


def test_names_are_cleaned_and_bounded():
    report = parse_user_agent("<script>alert(1)</script>/1.0 " + "A" * 300 + "/2.0 (3 subscribers)")
    assert report is not None
    assert "<" not in report.service and len(report.service) <= MAX_NAME


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=700))
def test_any_agent_parses_without_error(agent):
    report = parse_user_agent(agent)
    if report is not None:
        assert 0 <= report.subscribers <= MAX_REPORTED
        assert 0 < len(report.service) <= MAX_NAME
        assert len(report.feed_id) <= 64


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=60),
    st.integers(min_value=0, max_value=10**15),
    st.text(max_size=60),
    st.sampled_from(["subscribers", "subscriber", "readers", "SUBSCRIBERS"]),
)
def test_counts_inside_any_agent_are_found_and_bounded(prefix, count, suffix, word):
    agent = f"{prefix} ({count} {word}; {suffix}"
    report = parse_user_agent(agent)
    if report is not None:
        assert 0 <= report.subscribers <= MAX_REPORTED
