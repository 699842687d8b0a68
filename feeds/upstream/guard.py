"""The private-address guard: upstream fetches reach public addresses only.

Feeds are added by URL by admins and API clients, and redirects come from
anyone, so a fetch must not become a probe of our own network (SSRF): cloud
metadata at 169.254.169.254, databases on 10/8, admin ports on loopback.

Two checks, both needed:

1. :func:`check_url`, before each request and after each redirect: http or
   https only, no credentials in the URL, no port that browsers refuse
   (WHATWG Fetch "bad port"), and a host spelled as an IP address in any form
   (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, ``[::ffff:127.0.0.1]``)
   must be public. It gives a clear error without touching the network.
2. :class:`GuardedBackend`, an httpcore network backend: at connect time it
   resolves the host once, refuses the connection if *any* address is not
   public, then connects to an address it checked. The pinned connection is
   what defeats DNS rebinding: there is no second lookup between check and
   connect. TLS still verifies the certificate against, and sends SNI for, the
   URL's host name (httpcore takes ``server_hostname`` from the request's
   origin, not from the address we connected to), and the Host header is the
   URL's.

:class:`Allowlist` names exceptions (``FEEDSERVER_UPSTREAM_ALLOWLIST``):
``host``, ``host:port``, ``[v6]:port`` or CIDR entries, comma-separated.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from feeds.errors import BlockedAddress, FetchError, parser_says

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# https://fetch.spec.whatwg.org/#bad-port — ports browsers will not speak HTTP to.
BAD_PORTS = frozenset(
    # fmt: off
    {
        0,
        1,
        7,
        9,
        11,
        13,
        15,
        17,
        19,
        20,
        21,
        22,
        23,
        25,
        37,
        42,
        43,
        53,
        69,
        77,
        79,
        87,
        95,
        101,
        102,
        103,
        104,
        109,
        110,
        111,
        113,
        115,
        117,
        119,
        123,
        135,
        137,
        139,
        143,
        161,
        179,
        389,
        427,
        465,
        512,
        513,
        514,
        515,
        526,
        530,
        531,
        532,
        540,
        548,
        554,
        556,
        563,
        587,
        601,
        636,
        989,
        990,
        993,
        995,
        1719,
        1720,
        1723,
        2049,
        3659,
        4045,
        4190,
        5060,
        5061,
        6000,
        6566,
        6665,
        6666,
        6667,
        6668,
        6669,
        6679,
        6697,
        10080,
    }
    # fmt: on
)


# IANA special-purpose registries (RFC 6890 and updates), with a word for each.
_WHY = {
    "0.0.0.0/8": "an unspecified ('this network') address",
    "10.0.0.0/8": "a private address",
    "100.64.0.0/10": "a shared (carrier-grade NAT) address",
    "127.0.0.0/8": "a loopback address",
    "169.254.0.0/16": "a link-local address",
    "172.16.0.0/12": "a private address",
    "192.0.0.0/24": "an IETF protocol address",
    "192.0.2.0/24": "a documentation address",
    "192.88.99.0/24": "a 6to4 relay address",
    "192.168.0.0/16": "a private address",
    "198.18.0.0/15": "a benchmarking address",
    "198.51.100.0/24": "a documentation address",
    "203.0.113.0/24": "a documentation address",
    "224.0.0.0/4": "a multicast address",
    "240.0.0.0/4": "a reserved address",
    "::/128": "an unspecified address",
    "::1/128": "a loopback address",
    "::/96": "an IPv4-compatible (deprecated) address",
    "::ffff:0:0:0/96": "an IPv4-translated (SIIT, RFC 2765) address",
    "::/8": "a reserved (unassigned) address",
    "64:ff9b:1::/48": "a local NAT64 address",
    "100::/64": "a discard-only address",
    "2001::/23": "an IETF protocol address",
    "2001:db8::/32": "a documentation address",
    "3fff::/20": "a documentation address",
    "5f00::/16": "a segment-routing address",
    "fc00::/7": "a unique-local (private) address",
    "fe80::/10": "a link-local address",
    "fec0::/10": "a site-local (deprecated) address",
    "ff00::/8": "a multicast address",
}
_SPECIAL = tuple((ipaddress.ip_network(cidr), why) for cidr, why in _WHY.items())
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 2765 §2.1 "IPv4-translated": ::ffff:0:a.b.c.d (not the mapped ::ffff:a.b.c.d).
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
# RFC 5214 §6.1 ISATAP interface identifiers: 0000:5efe:a.b.c.d or 0200:5efe:a.b.c.d.
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """Every IPv4 address this IPv6 one carries, with the name of the embedding."""
    wrapped: list[tuple[str, ipaddress.IPv4Address]] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        wrapped.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in _TRANSLATED:
        wrapped.append(("IPv4-translated", low32))
    if ip.sixtofour is not None:
        wrapped.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        wrapped += [("Teredo", ip.teredo[0]), ("Teredo", ip.teredo[1])]
    if ip in _NAT64:
        wrapped.append(("NAT64", low32))
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        wrapped.append(("ISATAP", low32))
    return wrapped


def blocked_reason(ip: IPAddress) -> str | None:
    """Say why an address is not a public unicast one, or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that wrap an IPv4 one are judged by what they wrap.
        for kind, v4 in _embedded_ipv4(ip):
            inner = blocked_reason(v4)
            if inner is not None:
                return f"{ip} ({kind} form of {inner})"
        if ip.ipv4_mapped is not None or ip in _NAT64:
            return None  # judged by the IPv4 address it carries, above
        if ip.scope_id:
            return "a scoped (interface-local) address"
    for net, why in _SPECIAL:
        if ip.version == net.version and ip in net:
            return f"{ip}, {why}"
    if not ip.is_global:
        return f"{ip}, not a globally routable address"
    return None


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Hosts and networks that may be fetched even though they are not public."""

    hosts: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[IPNetwork, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str] | None) -> Allowlist:
        """Parse ``host``, ``host:port``, ``[v6]:port``, ``1.2.3.4:port`` or CIDR entries."""
        if text is None:
            return cls()
        entries = text.split(",") if isinstance(text, str) else list(text)
        hosts: set[tuple[str, int | None]] = set()
        networks: list[tuple[IPNetwork, int | None]] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            host, port = _split_entry(entry)
            try:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                if not _HOST_NAME.fullmatch(host):  # "http://…", "a b", "a/b", "[v6"
                    raise ValueError(f"upstream allowlist: bad entry {entry!r}") from None
                hosts.add((host.lower().rstrip("."), port))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".")
        return (host, None) in self.hosts or (host, port) in self.hosts

    def allows(self, host: str, ip: IPAddress | None, port: int) -> bool:
        """Whether ``host`` (resolved to ``ip``) at ``port`` is named by an entry."""
        if self.allows_host(host, port):
            return True
        if ip is None:
            return False
        return any(
            ip.version == net.version and ip in net and want in (None, port)
            for net, want in self.networks
        )

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


# A host name an allowlist entry may give: dot-separated labels of letters,
# digits, "-" and "_" (a compose service name), with an optional final dot.
_HOST_NAME = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")


def _split_entry(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"upstream allowlist: bad entry {entry!r}")
        port = rest[1:] if rest else None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, None  # a bare name, IPv4, IPv6 or CIDR
    if port is None:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"upstream allowlist: bad port in {entry!r}")
    return host, int(port)


def numeric_host(host: str) -> IPAddress | None:
    """Read a host that is an IP address in any spelling the C resolver accepts."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # inet_aton takes what getaddrinfo would: 2130706433, 0177.0.0.1, 0x7f.1, 127.1.
    if bare and all(c in "0123456789abcdefABCDEFxX." for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def check_url(url: str | httpx.URL, allowlist: Allowlist) -> httpx.URL:
    """Refuse a URL the guard can judge without DNS; return it parsed."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        # httpx refuses some spellings (0177.0.0.1); still say what they meant.
        try:
            ip = numeric_host(urlsplit(str(url)).hostname or "")
        except ValueError:  # "https://[]/": urllib refuses it too
            ip = None
        reason = blocked_reason(ip) if ip is not None else None
        if reason is not None:
            raise BlockedAddress(str(url), reason) from None
        raise FetchError(str(url), f"invalid URL ({parser_says(exc, str(url))})") from None
    subject = str(parsed)
    if parsed.scheme not in ("http", "https"):
        raise BlockedAddress(subject, f"scheme {parsed.scheme or '(none)'!r} is not allowed")
    if parsed.userinfo:
        raise BlockedAddress(subject, "credentials in the URL are not allowed")
    try:
        host = parsed.host  # decodes IDNA: "xn--" alone, or a bad punycode label, raises
    except UnicodeError as exc:  # idna.IDNAError is one
        raise FetchError(subject, f"invalid URL (host: {exc})") from None
    if not host:
        raise FetchError(subject, "invalid URL (no host)")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    ip = numeric_host(host)
    if allowlist.allows(host, ip, port):
        return parsed
    if port in BAD_PORTS:
        raise BlockedAddress(subject, f"port {port} is not allowed")
    if ip is not None:
        reason = blocked_reason(ip)
        if reason is not None:
            spelled = "" if str(ip) == host.strip("[]") else f" (spelled {host!r})"
            raise BlockedAddress(subject, f"{reason}{spelled}")
    return parsed


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver, every address family, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{host}:{port}", f"cannot resolve host ({exc})") from None
    seen: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


def resolve_checked(
    host: str, port: int, allowlist: Allowlist, resolver: Resolver = system_resolver
) -> list[str]:
    """Resolve ``host`` once and return its addresses, all of them checked.

    One non-public address among public ones refuses the whole host: a DNS
    answer mixing them is an attack more often than a mistake.
    """
    subject = f"{host}:{port}"
    literal = numeric_host(host)
    addresses = [str(literal)] if literal is not None else resolver(host, port)
    if not addresses:
        raise FetchError(subject, "host has no addresses")
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if allowlist.allows(host, ip, port):
            continue
        reason = blocked_reason(ip)
        if reason is not None:
            shown = f"resolves to {reason}" if literal is None else reason
            raise BlockedAddress(subject, shown)
    return addresses
