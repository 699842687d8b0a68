"""WebSub discovery for upstream feeds, signature headers, and asking a hub (on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import BlockedAddress, TooManyRedirects
from feeds.model import UpstreamFeed
from feeds.upstream.hubs import HubClient, advertised
from feeds.upstream.parse import parse_feed
from feeds.websub import SIGNATURE_ALGORITHMS, parse_signature, verify_signature

FEED = "https://pub.example/feed.xml"


def feed(hubs=(), self_url=None) -> UpstreamFeed:
    return UpstreamFeed(None, None, None, None, hubs=tuple(hubs), self_url=self_url)


# -- discovery ------------------------------------------------------------------


def test_link_headers_name_hub_and_self():
    """websub.rocks subscriber 100."""
    found = advertised(
        ['<https://hub.example/>; rel="hub"', '<https://pub.example/topic>; rel="self"'], FEED, None
    )
    assert found is not None
    assert (found.hub, found.topic) == ("https://hub.example/", "https://pub.example/topic")


def test_headers_win_over_the_document():
    """websub.rocks subscriber 104: the document's links are the wrong ones."""
    doc = feed(["https://wrong.example/hub"], "https://wrong.example/self")
    found = advertised(
        ['<https://hub.example/>; rel="hub", <https://pub.example/self>; rel="self"'], FEED, doc
    )
    assert (found.hub, found.topic) == ("https://hub.example/", "https://pub.example/self")


def test_each_relation_comes_from_the_first_place_that_has_it():
    doc = feed(["https://doc.example/hub"], "https://pub.example/doc-self")
    found = advertised(['<https://hub.example/>; rel="hub"'], FEED, doc)
    assert (found.hub, found.topic) == ("https://hub.example/", "https://pub.example/doc-self")


@pytest.mark.parametrize(
    "header",
    [
        '<https://hub.example/>; rel="hub self"',
        "<https://hub.example/>; rel=hub",
        '<https://hub.example/>; REL="Hub"',
        '<https://x.example/a>; rel="next", <https://hub.example/>; title="a, b; c"; rel="hub"',
        '<https://hub.example/>; rel="hub"; rel="self"',  # a second rel is ignored (RFC 8288 §3.3)
    ],
)
def test_link_header_spellings(header):
    found = advertised([header], FEED, None)
    assert found is not None and found.hub == "https://hub.example/"


def test_relative_header_targets_resolve_against_the_answering_url():
    found = advertised(['</hub>; rel="hub", <feed.xml?x=1>; rel="self"'], FEED, None)
    assert (found.hub, found.topic) == (
        "https://pub.example/hub",
        "https://pub.example/feed.xml?x=1",
    )


def test_without_self_the_fetched_url_is_the_topic():
    assert advertised(['<https://hub.example/>; rel="hub"'], FEED, None).topic == FEED


def test_no_hub_no_subscription():
    assert advertised(['<https://pub.example/self>; rel="self"'], FEED, feed()) is None
    assert advertised([], FEED, None) is None


@pytest.mark.parametrize(
    "hub", ["javascript:alert(1)", "ftp://hub.example/", "mailto:a@b.example", "data:,x"]
)
def test_only_http_hubs_count(hub):
    assert advertised([f'<{hub}>; rel="hub"'], FEED, feed([hub])) is None


def test_several_hubs_keep_their_order():
    found = advertised(
        ['<https://a.example/>; rel="hub", <https://b.example/>; rel="hub"'], FEED, None
    )
    assert (
        found.hubs == ("https://a.example/", "https://b.example/")
        and found.hub == "https://a.example/"
    )


ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<id>urn:x</id><updated>2026-01-01T00:00:00Z</updated>
<link rel="hub" href="https://hub.example/atom"/><link rel="self" href="/atom.xml"/>
<link rel="alternate" href="https://pub.example/"/>
<entry><title>E</title><id>urn:e</id><updated>2026-01-01T00:00:00Z</updated>
<link rel="hub" href="https://not-the-feeds-hub.example/"/></entry></feed>"""
RSS = b"""<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>T</title><link>https://pub.example/</link><description>d</description>
<atom:link rel="hub" href="https://hub.example/rss"/><atom:link rel="self" href="https://pub.example/rss.xml"/>
<item><title>I</title></item></channel></rss>"""


def test_atom_document_links():
    """websub.rocks subscriber 102."""
    parsed = parse_feed(ATOM, FEED, "application/atom+xml")
    assert parsed.hubs == ("https://hub.example/atom",)
    assert parsed.self_url == "https://pub.example/atom.xml"
    found = advertised([], FEED, parsed)
    assert (found.hub, found.topic) == ("https://hub.example/atom", "https://pub.example/atom.xml")


def test_rss_atom_link_elements():
    """websub.rocks subscriber 103."""
    parsed = parse_feed(RSS, FEED, "application/rss+xml")
    assert parsed.hubs == ("https://hub.example/rss",)
    assert parsed.self_url == "https://pub.example/rss.xml"


def test_json_feed_hubs():
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "feed_url": "https://pub.example/feed.json",
            "hubs": [
                {"type": "rssCloud", "url": "https://cloud.example/"},
                {"type": "WebSub", "url": "https://hub.example/json"},
                {"type": "WebSub", "url": "javascript:x"},
                "junk",
            ],
            "items": [],
        }
    ).encode()
    parsed = parse_feed(body, FEED, "application/feed+json")
    assert parsed.hubs == ("https://hub.example/json",)
    assert parsed.self_url == "https://pub.example/feed.json"


@given(st.lists(st.text(max_size=200), max_size=5), st.text(max_size=100))
def test_discovery_never_crashes(headers, base):
    found = advertised(headers, "https://pub.example/" + base.replace("#", ""), None)
    if found is not None:
        assert found.hub.startswith(("http://", "https://"))
        assert found.topic.startswith(("http://", "https://"))


_path = st.text(alphabet=string.ascii_letters + string.digits + "-._~/", max_size=30)


@given(_path, _path, st.sampled_from(['"hub"', "hub", '"self hub"', '"HUB"']))
def test_discovery_finds_any_formatted_hub(hub_path, self_path, rel):
    header = f'<https://hub.example/{hub_path}>; rel={rel}, <https://pub.example/{self_path}>; rel="self"'
    found = advertised([header], FEED, None)
    assert found is not None and found.hub == f"https://hub.example/{hub_path}"


# -- signature headers (§8) ------------------------------------------------------


@given(st.text(max_size=300))
def test_signature_headers_never_crash_and_rarely_verify(header):
    assert verify_signature(b"body", "secret", header) is False


@given(st.binary(max_size=500), st.sampled_from(SIGNATURE_ALGORITHMS), st.data())
def test_a_signature_verifies_only_unchanged(body, algorithm, data):
    digest = hmac.new(b"k", body, getattr(hashlib, algorithm)).hexdigest()
    assert verify_signature(body, "k", f"{algorithm}={digest}")
    assert verify_signature(body, "k", f" {algorithm.upper()}={digest.upper()} ")
    assert parse_signature(f"{algorithm}={digest}") == (algorithm, digest)
    position = data.draw(st.integers(0, len(digest) - 1))
    flipped = digest[:position] + ("0" if digest[position] != "0" else "1") + digest[position + 1 :]
    assert not verify_signature(body, "k", f"{algorithm}={flipped}")
    assert not verify_signature(body + b"x", "k", f"{algorithm}={digest}")
    assert not verify_signature(body, "K", f"{algorithm}={digest}")
    other = data.draw(st.sampled_from([a for a in SIGNATURE_ALGORITHMS if a != algorithm]))
    assert not verify_signature(body, "k", f"{other}={digest}")


# -- asking a hub ------------------------------------------------------------------


def test_hub_request_posts_the_form(httpserver):
    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=202)
    with HubClient(allowlist=f"127.0.0.1:{httpserver.port}") as client:
        answer = client.request(httpserver.url_for("/hub"), {"hub.mode": "subscribe", "a": "b c"})
    assert answer.accepted and answer.status == 202
    sent = httpserver.log[0][0]
    assert parse_qs(sent.get_data(as_text=True)) == {"hub.mode": ["subscribe"], "a": ["b c"]}
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_hub_refusal_is_reported_with_its_reason(httpserver):
    httpserver.expect_request("/hub").respond_with_data("bad   topic\n" + "x" * 1000, status=400)
    with HubClient(allowlist=f"127.0.0.1:{httpserver.port}") as client:
        answer = client.request(httpserver.url_for("/hub"), {})
    assert (
        not answer.accepted and answer.reason.startswith("bad topic") and len(answer.reason) <= 300
    )


def test_a_private_hub_is_refused_before_any_request(httpserver):
    httpserver.expect_request("/hub").respond_with_data("", status=202)
    with HubClient(allowlist="") as client, pytest.raises(BlockedAddress):
        client.request(httpserver.url_for("/hub"), {})
    assert httpserver.log == []


@pytest.mark.parametrize(
    "target", ["http://10.1.2.3/hub", "http://[::1]:9/hub", "file:///etc/passwd"]
)
def test_a_redirect_to_a_private_hub_is_refused(httpserver, target):
    httpserver.expect_request("/hub").respond_with_data(
        "", status=307, headers={"Location": target}
    )
    with (
        HubClient(allowlist=f"127.0.0.1:{httpserver.port}") as client,
        pytest.raises(BlockedAddress),
    ):
        client.request(httpserver.url_for("/hub"), {})


def test_redirect_loops_end(httpserver):
    httpserver.expect_request("/hub").respond_with_data(
        "", status=308, headers={"Location": "/hub"}
    )
    with (
        HubClient(allowlist=f"127.0.0.1:{httpserver.port}") as client,
        pytest.raises(TooManyRedirects),
    ):
        client.request(httpserver.url_for("/hub"), {})
