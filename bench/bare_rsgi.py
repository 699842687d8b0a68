"""The ceiling of an RSGI app on granian: same answers as bench.bare_wsgi."""

from __future__ import annotations

from bench.bare_wsgi import ANSWERS

R = {}
for (path, gz), (status, headers, body) in ANSWERS.items():
    R[(path, gz)] = (int(status[:3]), headers, b"".join(body))


async def app(scope, proto):
    h = scope.headers
    gzip = "gzip" in (h.get("accept-encoding") or "")
    status, headers, body = R.get((scope.path, gzip), (404, [], b""))
    if body and h.get("if-none-match") == headers[0][1]:
        proto.response_empty(304, headers[:1])
        return
    proto.response_bytes(status, headers, body)
