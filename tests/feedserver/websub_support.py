"""A real WebSub hub for the subscriber's tests, and the app served live on 127.0.0.1.

:class:`LoopbackHub` is a small hub written here, on ``http.server``: it answers
``hub.mode=subscribe|unsubscribe`` with 202 (or what a test asks for), then
verifies intent by GETting the callback from another thread, as a real hub
does, and keeps what it verified. :meth:`LoopbackHub.publish` distributes a body
to every verified subscriber, signed with the method a test chooses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from werkzeug.serving import make_server


@contextmanager
def live(app: Any) -> Iterator[str]:
    """Serve the app on 127.0.0.1 (threaded); yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Verification:
    mode: str
    topic: str
    callback: str
    status: int
    confirmed: bool


@dataclass
class HubRequest:
    path: str
    form: dict[str, str]


@dataclass
class LoopbackHub:
    """A hub on 127.0.0.1 that verifies intent asynchronously and signs deliveries."""

    lease: int | None = 3600
    answer: int = 202
    redirect_to: str | None = None  # answer the first request with a redirect here
    redirect_status: int = 307
    requests: list[HubRequest] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    subscribers: dict[tuple[str, str], str] = field(default_factory=dict)  # (topic, cb) → secret
    challenge_for: Callable[[str], str] = lambda mode: secrets.token_urlsafe(16)
    topic_for_verification: str | None = None  # verify with another topic (test 205)

    def __post_init__(self) -> None:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                hub.requests.append(HubRequest(self.path, form))
                if hub.redirect_to and self.path == "/hub":
                    self.send_response(hub.redirect_status)
                    self.send_header("Location", hub.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(hub.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if hub.answer == 202 and form.get("hub.mode") in ("subscribe", "unsubscribe"):
                    threading.Thread(target=hub._verify, args=(form,), daemon=True).start()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hub"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _verify(self, form: dict[str, str]) -> None:
        mode, topic, callback = form["hub.mode"], form["hub.topic"], form["hub.callback"]
        challenge = self.challenge_for(mode)
        params = {
            "hub.mode": mode,
            "hub.topic": self.topic_for_verification or topic,
            "hub.challenge": challenge,
        }
        if mode == "subscribe" and self.lease is not None:
            params["hub.lease_seconds"] = str(self.lease)
        sep = "&" if "?" in callback else "?"
        response = httpx.get(callback + sep + urlencode(params), timeout=10)
        confirmed = response.status_code // 100 == 2 and response.text == challenge
        self.verifications.append(
            Verification(mode, topic, callback, response.status_code, confirmed)
        )
        if confirmed and mode == "subscribe":
            self.subscribers[(topic, callback)] = form.get("hub.secret", "")
        elif confirmed:
            self.subscribers.pop((topic, callback), None)

    def deny(self, topic: str, callback: str, reason: str = "not today") -> httpx.Response:
        query = urlencode({"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason})
        return httpx.get(f"{callback}?{query}", timeout=10)

    def publish(
        self,
        topic: str,
        body: bytes,
        content_type: str = "application/rss+xml",
        algorithm: str | None = "sha256",
        secret_override: str | None = None,
    ) -> list[httpx.Response]:
        """POST ``body`` to every verified subscriber of ``topic``."""
        answers = []
        for (subscribed, callback), secret in list(self.subscribers.items()):
            if subscribed != topic:
                continue
            headers = {
                "Content-Type": content_type,
                "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"',
            }
            key = secret_override if secret_override is not None else secret
            if algorithm and key:
                digest = hmac.new(key.encode(), body, getattr(hashlib, algorithm)).hexdigest()
                headers["X-Hub-Signature"] = f"{algorithm}={digest}"
            answers.append(httpx.post(callback, content=body, headers=headers, timeout=10))
        return answers


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``condition`` until it is truthy (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
