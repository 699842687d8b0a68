"""A raw threaded HTTP server on 127.0.0.1 for misbehaviour pytest-httpserver can't fake.

Each connection's request head is recorded; the handler writes whatever bytes
it likes (slow drips, bombs, hangs), so tests see exactly what a hostile
upstream can do.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable
from types import TracebackType

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.requests: list[bytes] = []
        self._handler = handler
        outer = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                outer.requests.append(head)
                # The client hanging up on us is often the point of the test.
                with contextlib.suppress(OSError):
                    outer._handler(sock, head)

        class _Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
