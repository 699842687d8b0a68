"""``POST /websub``: the hub's subscription endpoint (WebSub §5.1, §5.2).

https://www.w3.org/TR/websub/#subscriber-sends-subscription-request

A form-encoded request with ``hub.mode`` (subscribe | unsubscribe),
``hub.topic`` (a feed of this site, page 1), ``hub.callback`` (http(s),
through the private-address guard), optional ``hub.lease_seconds`` and
``hub.secret``. A valid one is answered ``202 Accepted`` at once and its
intent verified later by the poller (§5.3); an invalid one gets ``400`` (or
``403`` for a callback the guard refuses, ``413``/``415`` for the body) with
a plain-text reason. Unknown parameters are ignored (§5.1).

A public protocol endpoint, so no CSRF token: nothing here acts on a
session, and every effect waits for the callback to confirm it.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.routing import MapAdapter

from feeds.errors import BlockedAddress, FetchError
from feeds.upstream.guard import Allowlist, check_url, numeric_host, resolve_checked
from feeds.websub import WebSubError, check_secret, clamp_lease, parse_lease_seconds
from feedserver.db import db_session
from feedserver.publishing.websub import store
from feedserver.publishing.websub.topics import MAX_URL, resolve_topic
from feedserver.urls import UrlProblem, http_url_problem, without_empty_query
from feedserver.web import base_url

log = logging.getLogger(__name__)

bp = Blueprint("websub", __name__)

MAX_FORM_BYTES = 16 * 1024  # a few URLs and a secret; more is not a subscription
# Accepted requests one client address may make of this process's hub, per
# window: each makes the hub send a verification GET to a URL of the client's
# choosing, so without a bound the hub is anyone's free relay. Refused ones
# (a bad topic, a private callback) send nothing and are not counted; nor is
# loopback (the machine itself, or a reverse proxy not yet named trusted).
RATE_LIMITS = ((60, 60.0), (600, 3600.0))  # (requests, seconds)
MAX_CLIENTS = 50_000  # addresses remembered (then forgotten at once)
FORM_TYPE = "application/x-www-form-urlencoded"
MODES = ("subscribe", "unsubscribe")
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="websub-dns")
DNS_TIMEOUT = 5.0


class Refused(Exception):
    """A request the hub refuses, with the status and the reason to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HubRequest:
    """A subscription request, checked but for the topic and callback's addresses."""

    mode: str
    topic: str
    callback: str
    lease_seconds: int
    secret: str | None


def parse_form(form: dict[str, str]) -> HubRequest:
    """Check the form's parameters (§5.1); raise :class:`Refused` with a reason."""
    mode = form.get("hub.mode", "")
    if mode not in MODES:
        shown = f"{mode[:40]!r}" if mode else "missing"
        raise Refused(400, f"hub.mode must be subscribe or unsubscribe ({shown})")
    topic = form.get("hub.topic", "")
    if not topic:
        raise Refused(400, "hub.topic is missing")
    callback = form.get("hub.callback", "")
    if not callback:
        raise Refused(400, "hub.callback is missing")
    if len(callback) > MAX_URL:
        raise Refused(400, f"hub.callback is longer than {MAX_URL} characters")
    problem = http_url_problem(callback, MAX_URL)
    # A bad port, spaces: no callback to verify (the address guard answers
    # for another scheme and for credentials, with its 403).
    if problem is UrlProblem.MALFORMED or problem is UrlProblem.SPACES:
        raise Refused(400, f"hub.callback: {problem.value}")
    try:
        lease = clamp_lease(parse_lease_seconds(form.get("hub.lease_seconds")))
        secret = check_secret(form.get("hub.secret"))
    except WebSubError as exc:
        raise Refused(400, f"{exc.subject}: {exc.problem}") from None
    return HubRequest(mode, topic, callback, lease, secret)


def check_callback(callback: str, allowlist: Allowlist) -> str:
    """The private-address guard of upstream fetching, applied to a callback."""
    try:
        url = check_url(callback, allowlist)
    except BlockedAddress as exc:
        raise Refused(403, f"hub.callback refused: {exc.problem}") from None
    except FetchError as exc:
        raise Refused(400, f"hub.callback: {exc.problem}") from None
    if url.fragment:
        raise Refused(400, "hub.callback must not carry a fragment")
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    if numeric_host(host) is None and not allowlist.allows_host(host, port):
        # A name is checked now for a clear answer, and again at every connection
        # (feeds.upstream.transport pins the address it checked).
        future = _LOOKUPS.submit(resolve_checked, host, port, allowlist)
        try:
            future.result(timeout=DNS_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise Refused(400, f"hub.callback: looking up {host} timed out") from None
        except BlockedAddress as exc:
            raise Refused(403, f"hub.callback refused: {exc.problem}") from None
        except FetchError as exc:
            raise Refused(400, f"hub.callback: {exc.problem}") from None
    return same_callback(callback)


def same_callback(callback: str) -> str:
    """The one spelling of a callback that others which mean the same URL share.

    Kept as given but for what RFC 3986 §6.2.2 says is equivalent: the case
    of the scheme and host, escapes of unreserved characters ("%63b" is
    "cb"), the case of other escapes, a "%" that starts none ("%25"), and an
    empty query ("/cb?"). Each
    spelling was a subscription of its own, and every change was delivered
    once per spelling.
    """
    scheme, _, rest = callback.partition(":")
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
    # A "%" that starts no escape is a literal one first ("%a%63" would
    # otherwise become "%ac", another escape, and not settle).
    tail = _ESCAPE.sub(_normal_escape, _STRAY_PERCENT.sub("%25", rest[2 + len(authority) :]))
    return without_empty_query(f"{scheme.lower()}://{authority.lower()}{tail}")


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normal_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


class _Rate:
    """The times of each client's recent hub requests, in this process (bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, list[float]] = {}

    def wait(self, address: str, now: float) -> int | None:
        """Seconds this client must wait before its next accepted request, or None."""
        longest = max(seconds for _, seconds in RATE_LIMITS)
        most = max(n for n, _ in RATE_LIMITS)
        with self._lock:
            times = [t for t in self._seen.get(_key(address), ()) if now - t < longest][-most:]
        waits = [
            times[-n] + seconds - now
            for n, seconds in RATE_LIMITS
            if len(times) >= n and now - times[-n] < seconds
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def note(self, address: str, now: float) -> None:
        """Count an accepted request of this client (one verification sent for it)."""
        key = _key(address)
        longest = max(seconds for _, seconds in RATE_LIMITS)
        most = max(n for n, _ in RATE_LIMITS)
        with self._lock:
            if key not in self._seen and len(self._seen) >= MAX_CLIENTS:
                self._seen.clear()
            recent = [t for t in self._seen.get(key, ()) if now - t < longest][-most:]
            self._seen[key] = [*recent, now]


def _key(address: str) -> int:
    return hash(address)  # Python's string hash is keyed per process: no address is kept


def _limited(address: str) -> bool:
    """Whether the hub's rate applies: not to this machine itself (tests, a local proxy)."""
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True


RATE_EXTENSION = "feedserver.websub.rate"


@bp.post("/websub")
def hub() -> Response:
    """Take a subscribe or unsubscribe request; verify it later."""
    rate: _Rate = current_app.extensions[RATE_EXTENSION]
    client = request.remote_addr or "unknown"
    wait = rate.wait(client, time.monotonic()) if _limited(client) else None
    if wait is not None:
        answer = _plain(429, f"too many hub requests from your address; try again in {wait} s")
        answer.headers["Retry-After"] = str(wait)
        return answer
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return _plain(413, f"request body over {MAX_FORM_BYTES} bytes")
    if request.mimetype != FORM_TYPE:
        return _plain(415, f"send the parameters as {FORM_TYPE}")
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity"):
        return _plain(415, f"send the parameters without a content coding, not {coding[:40]!r}")
    # Read through the request's cache: a chunked body was read already, by
    # the site's body check (feedserver.errors), and the stream is spent.
    raw = request.get_data(cache=True)
    if len(raw) > MAX_FORM_BYTES:
        return _plain(413, f"request body over {MAX_FORM_BYTES} bytes")
    try:
        form = _decode_form(raw)
        wanted = parse_form(form)
        callback = check_callback(
            wanted.callback, Allowlist.parse(current_app.config["UPSTREAM_ALLOWLIST"])
        )
        session = db_session()
        try:
            topic = resolve_topic(wanted.topic, base_url(), _adapter(), session)
        except WebSubError as exc:
            raise Refused(400, f"{exc.subject}: {exc.problem}") from None
        store.request_intent(
            session,
            mode=wanted.mode,
            topic_url=wanted.topic,
            topic=topic,
            callback=callback,
            lease_seconds=wanted.lease_seconds,
            secret=wanted.secret,
        )
        session.commit()
    except Refused as exc:
        return _plain(exc.status, exc.reason)
    if _limited(client):
        rate.note(client, time.monotonic())
    log.info("websub %s request accepted scope=%s", wanted.mode, topic.scope_key)
    return _plain(202, "Accepted: the hub will verify this request with your callback.")


MAX_FORM_FIELDS = 1000


def _decode_form(raw: bytes) -> dict[str, str]:
    """The first value of each parameter, as text (bad encodings are refused)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(
            400, "the form is not valid UTF-8 application/x-www-form-urlencoded"
        ) from None
    try:
        # Unknown parameters are ignored (§5.1), but not without bound.
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",  # a %ff is no UTF-8: refused, not read as U+FFFD
        )
    except UnicodeDecodeError:
        raise Refused(
            400, "a percent-escape in the form does not decode as UTF-8 (such as %ff)"
        ) from None
    except ValueError:
        raise Refused(400, f"the form has more than {MAX_FORM_FIELDS} parameters") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _adapter() -> MapAdapter:
    return current_app.url_map.bind("localhost")


def init_app(app: Flask) -> None:
    """Register /websub (exempt from CSRF: a public protocol endpoint)."""
    from feedserver.security import csrf

    csrf.exempt(bp)
    app.extensions[RATE_EXTENSION] = _Rate()
    app.register_blueprint(bp)
