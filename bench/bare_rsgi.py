"""The same answers as bench.bare_wsgi, through granian's RSGI interface.

Measured beside "granian bare" to see whether RSGI lifts the ceiling of a
Python app on granian (bench/results/2026-12-07-serve-rsgi.md: it does not
for these answers, so the fast path stays WSGI).
"""

from __future__ import annotations

from typing import Any

from bench.bare_wsgi import ANSWERS

BYTES = {
    key: (int(status[:3]), headers, b"".join(body))
    for key, (status, headers, body) in ANSWERS.items()
}
NOT_FOUND: tuple[int, list[tuple[str, str]], bytes] = (404, [], b"")


async def app(scope: Any, proto: Any) -> None:
    headers = scope.headers
    gzip = "gzip" in (headers.get("accept-encoding") or "")
    status, answer_headers, body = BYTES.get((scope.path, gzip), NOT_FOUND)
    if body and headers.get("if-none-match") == answer_headers[0][1]:
        proto.response_empty(304, answer_headers[:1])
        return
    proto.response_bytes(status, answer_headers, body)
