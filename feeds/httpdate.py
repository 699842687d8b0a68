"""HTTP dates, written and read in one place (RFC 9110 §5.6.7).

A sender writes only the IMF-fixdate form (``Tue, 24 Nov 2026 10:00:00 GMT``);
a recipient reads all three forms — IMF-fixdate, the obsolete RFC 850 form and
asctime — and, being tolerant, also a numeric offset (``+0200``) that some
servers send. Everything read comes back as an aware UTC datetime; anything
that is not a date is None, never an exception, because a bad
``If-Modified-Since`` or ``Last-Modified`` is to be ignored, not answered
with an error (RFC 9110 §13.1.3).
"""

from __future__ import annotations

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
