"""A source added with a credential in its feed URL does not publish it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedserver.urls import public_url
from tests.factories import make_article, make_section, make_source

TOKEN = "PRIVATETOKEN42"


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (f"https://x.example/feed?token={TOKEN}", "https://x.example/feed"),
        (
            f"https://x.example/f?format=rss&api_key={TOKEN}&x=2",
            "https://x.example/f?format=rss&x=2",
        ),
        (f"https://x.example/f?Auth%5FToken={TOKEN}#top", "https://x.example/f#top"),
        (f"https://x.example/f?sig={TOKEN}&key={TOKEN}", "https://x.example/f"),
        ("https://x.example/?feed=rss2&paged=2", "https://x.example/?feed=rss2&paged=2"),
        ("https://x.example/feed", "https://x.example/feed"),
        (f"https://t.example/rss.php?uid=1&passkey={TOKEN}", "https://t.example/rss.php?uid=1"),
        (f"https://x.example/f?a=1;token={TOKEN}", "https://x.example/f?a=1"),
        (f"https://x.example/f?passphrase={TOKEN}&jwt={TOKEN}", "https://x.example/f"),
        ("https://x.example/feed?", "https://x.example/feed?"),
    ],
)
def test_credentials_leave_a_published_feed_url_and_nothing_else_does(url, public):
    assert public_url(url) == public


@pytest.mark.fuzz
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["token", "format", "access_token", "page", "KEY", "q", "apiKey"]),
            st.text("abc123", max_size=5),
        ),
        max_size=5,
    )
)
def test_public_url_is_idempotent_and_keeps_no_credential(pairs):
    url = "https://x.example/feed?" + "&".join(f"{k}={v}" for k, v in pairs)
    once = public_url(url)
    assert public_url(once) == once
    names = [p.partition("=")[0] for p in once.partition("?")[2].split("&") if p]
    assert not {n.lower() for n in names} & {"token", "access_token", "key", "apikey"}
    assert [n for n in names] == [k for k, _ in pairs if k in ("format", "page", "q")]


def test_a_token_in_a_sources_feed_url_is_in_no_feed(client, db):
    # Found by a black-box audit: <source url="…/priv?token=…"> in every feed.
    with db.session() as s:
        section = make_section(s, slug="world")
        source = make_source(
            s,
            slug="priv",
            feed_url=f"https://priv.example/feed?format=rss&token={TOKEN}",
            home_url=f"https://priv.example/home?token={TOKEN}",
        )
        make_article(s, slug="from-priv", section=section, source=source, original_url=None)
    page = client.get("/sources/priv").text
    assert "https://priv.example/home" in page and TOKEN not in page
    article = client.get("/articles/from-priv").text
    assert "https://priv.example/home" in article and TOKEN not in article
    for path in ("/feed", "/sections/world/feed", "/sources/priv/feed"):
        for fmt in ("rss", "atom", "json"):
            body = client.get(f"{path}.{fmt}").text
            assert "https://priv.example/feed?format=rss" in body, (path, fmt)
            assert TOKEN not in body, (path, fmt)
