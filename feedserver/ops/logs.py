"""Logging: one configuration for every process, text or JSON lines.

``FEEDSERVER_LOG_FORMAT=json`` writes one JSON object per line with the time,
level, logger, message, the request id of the request being served (also sent
back as ``X-Request-Id``) and the subject ids a module passes as ``extra`` or
names in its message's template (``"refreshed source_id=%s"``). Messages
never carry secrets: modules log ids, not tokens, passwords or webhook secrets.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "feedserver_request_id", default=None
)
# A request id a client or proxy sends is kept only if it looks like one.
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Attributes every LogRecord has; anything else came in through ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# In a message template: a subject's slot ("source_id=%s"), or any other
# conversion (counted, to find the slot's argument), or a literal "%%".
_SLOT = re.compile(r"\b([a-z]{1,30}_id)=%[sd]|%%|%[-#0 +]*[0-9]*(?:\.[0-9]+)?[a-zA-Z]")


def _subjects(record: logging.LogRecord) -> list[tuple[str, int]]:
    """The (name, id) pairs a record's template names with a slot ("source_id=%s")."""
    template, args = record.msg, record.args
    if not isinstance(template, str) or not isinstance(args, tuple) or "_id=%" not in template:
        return []
    found, index = [], 0
    for match in _SLOT.finditer(template):
        if match.group(0) == "%%":
            continue
        if match.group(1) and index < len(args):
            value = args[index]
            if isinstance(value, int) and not isinstance(value, bool):
                found.append((match.group(1), value))
            elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
                found.append((match.group(1), int(value)))
        index += 1
    return found


def clean_request_id(value: str | None) -> str | None:
    """Return an incoming X-Request-Id if it is a short token, else None."""
    if value and _GOOD_REQUEST_ID.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request it was logged in (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool | None) else str(value)
        # The ids a message's template names as "source_id=%s" are fields as
        # well, for a log search by subject (every module writes its subjects
        # that way). Only the template's own: the text it quotes (an
        # upstream's URL, an error) names whatever it likes.
        for key, value in _subjects(record):
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


_REQUEST_ID_FILTER = RequestIdFilter()


# Libraries that log every request's whole URL at INFO: an upstream's or a
# subscriber's URL may carry a token in its query (and a WebSub verification
# carries its challenge). Their warnings still show.
QUIET = ("httpx", "httpcore")


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Set up the root logger once per process (idempotent)."""
    root = logging.getLogger()
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    handler = next((h for h in root.handlers if getattr(h, "_feedserver", False)), None)
    if handler is None and root.handlers:
        # Someone configured logging already (a test runner, an embedding
        # program): like logging.basicConfig, leave their handlers alone.
        for other in root.handlers:
            other.addFilter(_REQUEST_ID_FILTER)
        return
    if handler is None:
        handler = logging.StreamHandler()
        handler._feedserver = True  # type: ignore[attr-defined]  # marks our own handler
        handler.addFilter(_REQUEST_ID_FILTER)
        root.addHandler(handler)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root.setLevel(level)


def init_app(app: Flask) -> None:
    """Configure logging from FEEDSERVER_LOG_FORMAT."""
    configure(app.config["LOG_FORMAT"])
