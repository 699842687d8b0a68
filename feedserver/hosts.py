"""Which Host a cacheable answer may be built from.

Feeds carry absolute links and ids. With ``FEEDSERVER_BASE_URL`` set they
come from it and the request's Host plays no part. Without it they come from
the request (``request.host_url``), and the Host header is the client's to
write: an answer built for ``Host: evil.example`` must not be kept and served
to anyone else, and a stream of made-up hosts must not fill the caches and
evict the real answers.

So, when BASE_URL is unset:

- a Host must look like a host (RFC 9110 §7.2, RFC 3986 §3.2.2: a DNS name,
  IPv4 or bracketed IPv6 literal, optional port), or the request is a 400;
- the first well-formed Host a process serves a feed for becomes its
  *pinned* host. Answers for the pinned host are cached as usual (fast path
  and render cache); answers for any other host are built fresh each time,
  never kept, and marked ``Cache-Control: private`` so that no shared cache
  keeps them either. A deployment that serves several names, or that cannot
  trust its first visitor, sets FEEDSERVER_BASE_URL (the README says so).

X-Forwarded-Host is believed only behind ``FEEDSERVER_TRUSTED_PROXIES``
(werkzeug's ProxyFix, installed in ``feedserver.create_app`` only then).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

EXTENSION = "feedserver.hosts"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?",
    re.ASCII,
)
MAX_HOST = 255
# RFC 9110 §7.2's Host value: RFC 3986's host (a reg-name of unreserved,
# sub-delims and %XX — less the comma, which is how several Host lines reach
# the application — or an IP literal) and an optional port. Looser than
# sane_host's DNS names: "feed_web:8000" is a valid Host, if not a cache key.
_HOST_FIELD = re.compile(
    r"(?:(?:[A-Za-z0-9._~!$&'()*+;=-]|%[0-9A-Fa-f]{2})+|\[[0-9A-Za-z:.]{2,45}\])(?::[0-9]{0,5})?",
    re.ASCII,
)


def sane_host(host: str | None) -> bool:
    """Whether ``host`` is syntactically a host[:port] (no userinfo, path or junk)."""
    if not host or len(host) > MAX_HOST or _HOST.fullmatch(host) is None:
        return False
    return _port_in_range(host) and _name_codes(host)


class HostPin:
    """The one Host whose answers a process keeps (when BASE_URL is unset)."""

    def __init__(self, base_url: str) -> None:
        self.configured = bool(base_url)
        self.host: str | None = None
        self._lock = threading.Lock()

    def may_cache(self, host: str | None) -> bool:
        """Whether an answer built for ``host`` may be kept and shared."""
        if self.configured:
            return True
        if not sane_host(host):
            return False
        assert host is not None
        normal = host.lower().rstrip(".")
        if self.host is None:
            with self._lock:
                if self.host is None:
                    self.host = normal
        return normal == self.host

    def cache_key_host(self, host: str | None) -> str:
        """The Host part of a cache key: constant when links do not depend on it."""
        return "" if self.configured else (host or "").lower().rstrip(".")


def valid_host_field(host: str) -> bool:
    """Whether a Host header value is well-formed (RFC 9110 §7.2, RFC 3986 §3.2.2).

    A name's labels must also be ones DNS can carry (none empty, none over
    63 octets: RFC 1035 §2.3.4) and its ``xn--`` labels real punycode
    (RFC 5891), which is what the router and ``request.host_url`` check
    when they encode or decode the name: ``a..b`` or ``xn--a.example``
    would pass the syntax and then fail there, far from any clean answer.
    """
    if len(host) > MAX_HOST or _HOST_FIELD.fullmatch(host) is None:
        return False
    return _port_in_range(host) and _name_codes(host)


def _name_codes(host: str) -> bool:
    """Whether a host[:port]'s name survives IDNA encoding and decoding (IP literals do)."""
    if host.startswith("["):
        return True
    name = host.rpartition(":")[0] if ":" in host else host
    try:
        name.encode("idna").decode("idna")  # and read back: "xn--a" is no punycode
    except UnicodeError:
        return False
    return True


def _port_in_range(host: str) -> bool:
    """A syntactically valid host[:port]'s port, if any, is at most 65535."""
    _, colon, port = host.rpartition(":")
    return not (colon and "]" not in port and port.isdigit() and int(port) > 65535)


_SCHEMES = ("http", "https")
# RFC 9110 §9 and RFC 5789 (PATCH): any other method, or one of these in
# another case ("get"), is none this server implements (§15.6.2: 501).
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


# What some route of this server answers (a route's own are in its Allow).
SERVED_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")


class HostCheck:
    """WSGI layer: RFC 9112 §3.2's 400 for a missing or malformed Host, before anything else.

    Behind trusted proxies it runs again inside werkzeug's ProxyFix, on the
    forwarded Host and scheme (X-Forwarded-Host, X-Forwarded-Proto), which
    are as much the client's to write.

    An HTTP/1.1 request without a Host header, or with one that is not a
    host[:port] (granian joins several Host lines with a comma, which no host
    contains), gets a 400 whether or not BASE_URL makes the
    links independent of it. HTTP/1.0 requests may leave Host out. Well-formed
    hosts are remembered (up to :data:`REMEMBERED`), so a request pays a set
    lookup.
    """

    REMEMBERED = 1024
    _BODY = (
        b"Bad Request: the request needs one well-formed Host header (RFC 9112 section 3.2)"
        b" and, through a proxy, a well-formed X-Forwarded-Host and an http or https"
        b" X-Forwarded-Proto.\n"
    )
    _MESSAGE = _BODY.decode().removeprefix("Bad Request: the ").strip()
    _JSON = json.dumps(
        {"error": {"code": "bad_host", "message": "The " + _MESSAGE}}, separators=(",", ":")
    ).encode()

    def __init__(self, app: Any) -> None:
        self.app = app
        self._good: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") not in KNOWN_METHODS:
            return self._refuse(environ, start_response, *self._UNKNOWN_METHOD)
        host = environ.get("HTTP_HOST")
        scheme = environ.get("wsgi.url_scheme")
        if isinstance(scheme, str) and scheme != scheme.lower():
            # A proxy's "X-Forwarded-Proto: HTTPS": schemes are case-insensitive
            # (RFC 3986 §3.1), links are written in lower case.
            scheme = environ["wsgi.url_scheme"] = scheme.lower()
        if scheme not in _SCHEMES:  # a proxy's X-Forwarded-Proto
            pass
        elif host:
            if host in self._good:
                return self._checked(environ, start_response)
            if valid_host_field(host):
                if len(self._good) < self.REMEMBERED:
                    self._good.add(host)
                return self._checked(environ, start_response)
        # Missing (granian passes an empty value then): HTTP/1.0 may omit it
        # (granian calls it "HTTP/1"), and HTTP/2 and 3 carry :authority instead.
        elif environ.get("SERVER_PROTOCOL") != "HTTP/1.1":
            return self._checked(environ, start_response)
        return self._refuse(environ, start_response, "400 Bad Request", self._BODY, self._JSON)

    def _checked(self, environ: dict[str, Any], start_response: Any) -> Any:
        """A request whose Host passed: the application's, or the server's for ``*``."""
        if environ.get("PATH_INFO") == "*":
            return self._asterisk(environ, start_response)
        return self.app(environ, start_response)

    def _asterisk(self, environ: dict[str, Any], start_response: Any) -> Any:
        """RFC 9110 §9.3.7: ``OPTIONS *`` asks about the server; ``*`` is no target otherwise."""
        if environ.get("REQUEST_METHOD") != "OPTIONS":
            return self._refuse(environ, start_response, *self._ASTERISK)
        start_response(
            "200 OK",
            [("Allow", ", ".join(SERVED_METHODS)), ("Content-Length", "0"),
             ("Cache-Control", "no-store")],
        )  # fmt: skip
        return [b""]

    _ASTERISK = (
        "400 Bad Request",
        b"Bad Request: '*' is a request target for OPTIONS only (RFC 9112 section 3.2.4).\n",
        json.dumps(
            {"error": {"code": "bad_request", "message": "'*' is a target for OPTIONS only."}},
            separators=(",", ":"),
        ).encode(),
    )

    _UNKNOWN_METHOD = (
        "501 Not Implemented",
        b"Not Implemented: this server knows no such method (methods are case-sensitive,"
        b" RFC 9110 section 9.1).\n",
        json.dumps(
            {
                "error": {
                    "code": "not_implemented",
                    "message": "This server knows no such method (methods are case-sensitive).",
                }
            },
            separators=(",", ":"),
        ).encode(),
    )

    @staticmethod
    def _refuse(
        environ: dict[str, Any], start_response: Any, status: str, text: bytes, data: bytes
    ) -> list[bytes]:
        # The API's errors are JSON in its one shape, even this early.
        api = str(environ.get("PATH_INFO", "")).startswith("/api/")
        body, kind = (data, "application/json") if api else (text, "text/plain")
        start_response(
            status,
            [
                ("Content-Type", f"{kind}; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def pin_for(app: Any) -> HostPin:
    pin = app.extensions.get(EXTENSION)
    if pin is None:
        pin = app.extensions[EXTENSION] = HostPin(app.config.get("BASE_URL", ""))
    return pin  # type: ignore[no-any-return]
