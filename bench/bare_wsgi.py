"""The ceiling of any WSGI app on granian: the feed bytes from memory, nothing else.

Serves the files bench/serve.py wrote for nginx (``BENCH_STATIC``): each path's
bytes and its ``.gz`` twin, a fixed ETag, a 304 on a matching If-None-Match.
No routing, no validators to check, no headers beyond the needed ones — so
the gap between this and nginx is the server's, and the gap between
feedserver and this is feedserver's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Answer = tuple[str, list[tuple[str, str]], list[bytes]]


def _load(root: Path) -> dict[tuple[str, bool], Answer]:
    answers: dict[tuple[str, bool], Answer] = {}
    for file in root.rglob("*"):
        if not file.is_file() or file.suffix == ".gz":
            continue
        path = "/" + file.relative_to(root).as_posix()
        body = file.read_bytes()
        tag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        zipped = file.with_name(file.name + ".gz")
        for gzip, data in ((False, body), (True, zipped.read_bytes() if zipped.exists() else body)):
            headers = [("ETag", tag), ("Content-Type", "application/octet-stream"),
                       ("Content-Length", str(len(data))), ("Vary", "Accept-Encoding")]  # fmt: skip
            if gzip and zipped.exists():
                headers.append(("Content-Encoding", "gzip"))
            answers[(path, gzip)] = ("200 OK", headers, [data])
    return answers


ANSWERS = _load(Path(os.environ.get("BENCH_STATIC", ".")))
NOT_FOUND: Answer = ("404 Not Found", [("Content-Length", "0")], [])


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
    status, headers, body = ANSWERS.get((environ["PATH_INFO"], gzip), NOT_FOUND)
    if body and environ.get("HTTP_IF_NONE_MATCH") == headers[0][1]:
        start_response("304 Not Modified", headers[:1])
        return []
    start_response(status, headers)
    return body
