"""The private-address guard, judged without the network (fetch tests use it live)."""

from __future__ import annotations

import ipaddress

import pytest

from feeds.errors import BlockedAddress, FetchError
from feeds.upstream.guard import Allowlist, blocked_reason, check_url, numeric_host, resolve_checked

NONE = Allowlist()


@pytest.mark.parametrize(
    ("address", "word"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("2002:7f00:1::", "6to4 form of 127.0.0.1"),
        ("2002:a00:1::1", "6to4 form of 10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo form of 10.0.0.1"),
        ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1"),
        ("fec0::1", "site-local"),
    ],
)
def test_non_public_addresses_are_named(address: str, word: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert word in reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",  # decimal
        "http://0177.0.0.1/",  # octal (httpx itself refuses this spelling)
        "http://0x7f.1/",  # hex, short
        "http://0x7f000001/",
        "http://127.1/",  # short
        "http://127.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://0/",
        "http://0.0.0.0:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1%25eth0]/",
        "http://10.1/",
        "https://3232235777/",  # 192.168.1.1
    ],
)
def test_every_spelling_of_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match=r"address"):
        check_url(url, NONE)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("deadbeef", None),
        ("cafe.example", None),
    ],
)
def test_numeric_hosts_are_read_like_the_resolver_reads_them(
    host: str, expected: str | None
) -> None:
    got = numeric_host(host)
    assert (str(got) if got else None) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.com/feed", "scheme 'ftp'"),
        ("gopher://example.com:70/", "scheme 'gopher'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("http://user:secret@example.com/feed", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://example.com:25/", "port 25"),
        ("http://example.com:6667/", "port 6667"),
    ],
)
def test_schemes_credentials_and_ports(url: str, problem: str) -> None:
    with pytest.raises(BlockedAddress, match=problem):
        check_url(url, NONE)


def test_ordinary_urls_pass_without_dns() -> None:
    assert str(check_url("https://example.com/feed.xml", NONE)) == "https://example.com/feed.xml"
    assert check_url("http://example.com:8080/rss", NONE).port == 8080


def test_invalid_url_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="invalid URL"):
        check_url("http://example.com:http/", NONE)


@pytest.mark.parametrize(
    "url",
    [
        "http://xn--/cb",
        "http://xn--ls8h.example./cb",
        "http://xn--a.example/",
        "https://xn--zz-.example/",
    ],
)
def test_a_host_that_is_no_valid_idna_is_a_fetch_error(url: str) -> None:
    """A malformed A-label is bad input like any other (it was an uncaught IDNAError)."""
    with pytest.raises(FetchError, match="invalid URL \\(host: "):
        check_url(url, NONE)


def test_error_messages_name_the_url_and_the_reason() -> None:
    with pytest.raises(BlockedAddress) as caught:
        check_url("http://0x7f.1:8080/feed", NONE)
    assert str(caught.value) == (
        "fetch http://0x7f.1:8080/feed: 127.0.0.1, a loopback address (spelled '0x7f.1')"
    )


def test_allowlist_parsing_and_matching() -> None:
    allow = Allowlist.parse(
        " 127.0.0.1:8080, 10.0.0.0/8 ,feeds.internal, intranet:81, [::1]:9000, "
    )
    assert allow.allows("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 8080)
    assert not allow.allows("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 8081)
    assert allow.allows("anything", ipaddress.ip_address("10.9.8.7"), 443)
    assert allow.allows("FEEDS.internal.", None, 1234)
    assert allow.allows("intranet", None, 81)
    assert not allow.allows("intranet", None, 80)
    assert allow.allows("::1", ipaddress.ip_address("::1"), 9000)
    assert not allow.allows("::1", ipaddress.ip_address("::1"), 9001)
    assert not Allowlist.parse("")
    assert check_url("http://127.0.0.1:8080/x", allow)
    assert check_url("http://intranet:81/x", allow)
    with pytest.raises(BlockedAddress):
        check_url("http://127.0.0.1:8081/x", allow)


@pytest.mark.parametrize(
    "entry",
    ["127.0.0.1:http", "host:0", "a/b/c", "[::1]:99999", "foo bar", "a..b", "<x>", "caf\u00e9"],
)
def test_bad_allowlist_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist"):
        Allowlist.parse(entry)


def test_resolution_refuses_if_any_address_is_private() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(BlockedAddress, match="resolves to 10.0.0.7, a private address"):
        resolve_checked("mixed.example", 80, NONE, resolver)


def test_resolution_returns_checked_public_addresses() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    assert resolve_checked("example.com", 443, NONE, resolver) == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]


def test_resolution_of_a_numeric_host_skips_dns() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("no DNS for literals")

    with pytest.raises(BlockedAddress, match="loopback"):
        resolve_checked("2130706433", 80, NONE, resolver)
    assert resolve_checked("8.8.8.8", 80, NONE, resolver) == ["8.8.8.8"]
