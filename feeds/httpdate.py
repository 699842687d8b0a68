"""HTTP dates, written and read in one place (RFC 9110 §5.6.7).

A sender writes only the IMF-fixdate form (``Tue, 24 Nov 2026 10:00:00 GMT``);
a recipient reads all three forms — IMF-fixdate, the obsolete RFC 850 form and
asctime — and, reading what upstream servers send (:func:`parse_http_date`),
also a numeric offset (``+0200``) that some of them use. A request's
``If-Modified-Since`` is read strictly (:func:`parse_request_date`): the
three forms exactly, else it is ignored, as §13.1.3 requires.

Everything read comes back as an aware UTC datetime; anything that is not a
date is None, never an exception, because a bad ``If-Modified-Since`` or
``Last-Modified`` is to be ignored, not answered with an error (RFC 9110
§13.1.3).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from feeds.lenient import bounded_datetime

# The longest form (RFC 850 with a long weekday name) is 38 characters; this
# leaves room for a tolerated offset and keeps hostile header values cheap.
MAX_LENGTH = 64


def format_http_date(moment: datetime) -> str:
    """Format an IMF-fixdate (``Tue, 24 Nov 2026 10:00:00 GMT``); sub-seconds dropped."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    """Parse an HTTP-date (any of the three forms) as aware UTC; None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > MAX_LENGTH:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" or the asctime form are UTC by definition; a year-1 date with an
    # offset, or one past 9999, is junk (None), never an OverflowError.
    return bounded_datetime(parsed)


_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"[0-9]{2}:[0-9]{2}:[0-9]{2}"
# RFC 9110 §5.6.7's grammar: case-sensitive names, "GMT", single spaces.
_HTTP_DATE = re.compile(
    rf"{_DAY}, [0-9]{{2}} {_MONTH} [0-9]{{4}} {_TIME} GMT"  # IMF-fixdate
    rf"|{_LONG_DAY}, [0-9]{{2}}-{_MONTH}-[0-9]{{2}} {_TIME} GMT"  # RFC 850
    rf"|{_DAY} {_MONTH} (?:[0-9]{{2}}| [0-9]) {_TIME} [0-9]{{4}}",  # asctime
    re.ASCII,
)


def http_date_text(value: str | None) -> str | None:
    """``value`` (trimmed) when it is a valid HTTP-date in one of the three forms, else None."""
    if not value or len(value) > MAX_LENGTH:
        return None
    value = value.strip(" \t")
    return value if _HTTP_DATE.fullmatch(value) and parse_http_date(value) else None


def parse_request_date(value: str | None) -> datetime | None:
    """Parse a client's HTTP-date strictly: one of the three forms exactly, else None.

    For ``If-Modified-Since`` (RFC 9110 §13.1.3): a value that is not a valid
    HTTP-date — a numeric offset, no zone, another case, two dates joined by a
    comma — is ignored, so the full answer is sent.
    """
    text = http_date_text(value)
    return parse_http_date(text) if text else None
