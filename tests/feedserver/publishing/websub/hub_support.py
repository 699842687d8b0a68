"""A real subscriber callback server on 127.0.0.1 and helpers for the hub tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from feedserver.db import get_db
from feedserver.publishing.websub.deliver import Deliverer, HubSettings, app_renderer


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    links: list[str]
    body: bytes


@dataclass
class CallbackServer:
    """Answers verifications (echo the challenge, or as told) and records every request."""

    verify: str = "echo"  # echo | wrong | 404
    verify_lease: str | None = None  # echo only the verification of this hub.lease_seconds
    post_status: int = 200
    post_statuses: list[int] = field(default_factory=list)  # consumed first, then post_status
    received: list[Received] = field(default_factory=list)
    slow_seconds: float = 0.0  # a POST to /slow… is answered this late (a hanging subscriber)
    server: Any = None
    event: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hostport(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def posts(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and (path is None or r.path == path)]

    def gets(self) -> list[Received]:
        return [r for r in self.received if r.method == "GET"]

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> bool:
        with self.event:
            return self.event.wait_for(lambda: predicate(self), timeout)


def start_callback_server() -> CallbackServer:
    state = CallbackServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _record(self, body: bytes) -> Received:
            parts = urlsplit(self.path)
            item = Received(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.headers.get_all("Link") or [],
                body,
            )
            with state.event:
                state.received.append(item)
                state.event.notify_all()
            return item

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            item = self._record(b"")
            challenge = item.query.get("hub.challenge", [""])[0]
            lease = item.query.get("hub.lease_seconds", [""])[0]
            if state.verify == "404" or state.verify_lease not in (None, lease):
                self._answer(404, b"not mine")
            elif state.verify == "wrong":
                self._answer(200, challenge.encode() + b"x")
            else:
                self._answer(200, challenge.encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = state.post_statuses.pop(0) if state.post_statuses else state.post_status
            # Recorded before the answer: once the hub has its answer, a test
            # may look (a loaded machine ran the check between the two).
            self._record(body)
            if self.path.startswith("/slow"):
                time.sleep(state.slow_seconds)
            self._answer(status, b"ok")

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.server.daemon_threads = True
    threading.Thread(target=state.server.serve_forever, daemon=True).start()
    return state


def make_deliverer(app: Any, **overrides: Any) -> Deliverer:
    settings = HubSettings.from_config({**app.config, **overrides})
    db = get_db(app)
    return Deliverer(db, settings, app_renderer(app))


def subscribe(client: Any, topic: str, callback: str, **extra: str) -> Any:
    form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback, **extra}
    return client.post("/websub", data=form)
