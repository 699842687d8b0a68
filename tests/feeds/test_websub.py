"""feeds.websub: signatures, leases, secrets, verification URLs, Link headers."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.websub import (
    DEFAULT_LEASE_SECONDS,
    MAX_LEASE_SECONDS,
    MIN_LEASE_SECONDS,
    Link,
    WebSubError,
    check_secret,
    clamp_lease,
    format_link,
    hub_and_self,
    links_with_rel,
    parse_lease_seconds,
    parse_link_header,
    parse_signature,
    sign,
    verification_url,
    verify_signature,
)

BODY = b"<feed>hello</feed>"


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_sign_matches_hmac_and_verifies(method: str) -> None:
    expected = hmac.new(b"s3cret", BODY, getattr(hashlib, method)).hexdigest()
    header = sign(BODY, "s3cret", method)
    assert header == f"{method}={expected}"
    assert verify_signature(BODY, "s3cret", header)
    assert verify_signature(BODY, b"s3cret", header.upper().replace(method.upper(), method))
    assert not verify_signature(BODY + b"x", "s3cret", header)
    assert not verify_signature(BODY, "other", header)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256", "sha256=", "md5=abcd", "sha256=zz", "=abc", "sha256=" + "a" * 300],
)
def test_bad_signature_headers_never_verify(header: str | None) -> None:
    assert not verify_signature(BODY, "s", header)


def test_parse_signature() -> None:
    assert parse_signature(" SHA256 = ABCdef ") == ("sha256", "abcdef")
    assert parse_signature("sha2=ab") is None


def test_sign_refuses_unknown_method() -> None:
    with pytest.raises(WebSubError, match="unsupported"):
        sign(BODY, "s", "md5")


@given(st.binary(max_size=200), st.text(min_size=1, max_size=50), st.binary(max_size=200))
def test_signature_round_trip(body: bytes, secret: str, other: bytes) -> None:
    header = sign(body, secret)
    assert verify_signature(body, secret, header)
    if other != body:
        assert not verify_signature(other, secret, header)


def test_lease_parsing_and_clamping() -> None:
    assert parse_lease_seconds(None) is None
    assert parse_lease_seconds("") is None
    assert parse_lease_seconds("3600") == 3600
    assert clamp_lease(None) == DEFAULT_LEASE_SECONDS == 864000
    assert clamp_lease(1) == MIN_LEASE_SECONDS == 300
    assert clamp_lease(10**9) == MAX_LEASE_SECONDS == 2592000
    assert clamp_lease(parse_lease_seconds("9" * 500)) == MAX_LEASE_SECONDS
    for bad in ["-1", "1e3", " 60", "60s", "٣", "0x10", "1.5"]:
        with pytest.raises(WebSubError, match="hub.lease_seconds"):
            parse_lease_seconds(bad)


@given(st.text(max_size=30))
def test_lease_parsing_never_crashes(raw: str) -> None:
    try:
        value = parse_lease_seconds(raw)
    except WebSubError:
        return
    assert value is None or MIN_LEASE_SECONDS <= clamp_lease(value) <= MAX_LEASE_SECONDS


def test_secret_limit_counts_bytes() -> None:
    assert check_secret(None) is None
    assert check_secret("") is None
    assert check_secret("a" * 199) == "a" * 199
    with pytest.raises(WebSubError, match="199 bytes"):
        check_secret("a" * 200)
    with pytest.raises(WebSubError):
        check_secret("é" * 100)  # 200 bytes in UTF-8


def test_verification_url_keeps_the_callbacks_query() -> None:
    url = verification_url(
        "https://sub.example/cb?id=7&x=a%20b", "subscribe", "https://t/f?x=1", "ch", 600
    )
    parts = urlsplit(url)
    assert parts.path == "/cb"
    assert parse_qsl(parts.query) == [
        ("id", "7"),
        ("x", "a b"),
        ("hub.mode", "subscribe"),
        ("hub.topic", "https://t/f?x=1"),
        ("hub.challenge", "ch"),
        ("hub.lease_seconds", "600"),
    ]
    bare = verification_url("http://s/cb", "unsubscribe", "t", "c", None)
    assert "hub.lease_seconds" not in bare and bare.startswith("http://s/cb?hub.mode=unsubscribe")


def test_link_header_parsing() -> None:
    header = (
        '<https://hub.example/>; rel="hub", <https://example.com/feed>; rel=self, '
        '<https://a.example/x,y>; title="a, b; c"; rel="alternate HUB"'
    )
    assert parse_link_header(header) == [
        Link("https://hub.example/", ("hub",)),
        Link("https://example.com/feed", ("self",)),
        Link("https://a.example/x,y", ("alternate", "hub")),
    ]
    assert hub_and_self([header]) == (
        ["https://hub.example/", "https://a.example/x,y"],
        "https://example.com/feed",
    )


def test_link_header_relative_targets_and_several_values() -> None:
    values = ['</websub>; rel="hub"', '<feed.atom>; rel="self"; rel="hub"']
    assert hub_and_self(values, base="https://e.example/a/b") == (
        ["https://e.example/websub"],
        "https://e.example/a/feed.atom",
    )
    assert links_with_rel(values, "HUB", base="https://e.example/") == ["https://e.example/websub"]


@pytest.mark.parametrize("junk", ["", ",,,", "garbage", "<unterminated", '<x>; rel="a', "<x>; ;;="])
def test_link_header_junk_is_tolerated(junk: str) -> None:
    parse_link_header(junk)


@given(st.text(max_size=300))
def test_link_header_parser_never_crashes(text: str) -> None:
    for link in parse_link_header(text):
        assert isinstance(link.url, str)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters='<>"'),
        min_size=1,
        max_size=60,
    ).filter(lambda u: all(c.isprintable() and not c.isspace() for c in u)),
    st.sampled_from(["hub", "self"]),
)
def test_format_then_parse_round_trip(url: str, rel: str) -> None:
    formatted = format_link(url, rel)
    assert parse_link_header(formatted) == [Link(url, (rel,))]


@given(st.text(min_size=1, max_size=60), st.sampled_from(["hub", "self"]))
def test_format_link_never_breaks_the_syntax(url: str, rel: str) -> None:
    (link,) = parse_link_header(format_link(url, rel))
    assert link.rels == (rel,)
