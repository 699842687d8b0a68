"""Polling etiquette: when to fetch an upstream feed next.

Pure functions of their arguments (a clock reading and an optional random
source go in, a time comes out), so the poller's behaviour is table-testable.

Inputs and the specs behind them:

- the configured interval (``FEEDSERVER_POLL_INTERVAL`` or a per-source one);
- ``Cache-Control: max-age`` minus ``Age`` (RFC 9111 §5.2.2.1, §5.1, §4.2.3),
  else ``Expires`` (RFC 9111 §5.3): a floor — we don't come back before the
  server says the response goes stale — clamped so a silly value cannot park a
  source for weeks;
- ``Retry-After`` on 429/503, seconds or an HTTP-date (RFC 9110 §10.2.3):
  never fetch earlier than it asks (up to a cap);
- RSS ``<ttl>`` in minutes (https://www.rssboard.org/rss-specification#ltttlgtSubelementOfLtchannelgt):
  a floor like max-age;
- consecutive errors: exponential back-off, interval × 2^errors, capped.

Jitter (±10 % by default) spreads sources that were added together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from feeds.httpdate import parse_http_date
from feeds.lenient import parse_count

__all__ = ["parse_http_date"]  # re-exported: callers of the scheduler read dates through it


@dataclass(frozen=True, slots=True)
class CacheHints:
    """What an upstream response said about its own freshness and our next visit."""

    max_age: timedelta | None = None  # Cache-Control max-age minus Age
    expires: datetime | None = None  # Expires, only when there was no max-age
    retry_after: datetime | None = None  # Retry-After, made absolute


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The bounds the scheduler works within."""

    min_delay: timedelta = timedelta(minutes=1)  # never sooner than this
    max_cache_delay: timedelta = timedelta(hours=12)  # cap on max-age/Expires/ttl floors
    max_backoff: timedelta = timedelta(days=1)  # cap on error back-off
    max_retry_after: timedelta = timedelta(days=1)  # cap on a server's Retry-After
    jitter: float = 0.1  # ± fraction of the delay


DEFAULT_POLICY = PollPolicy()
# Any delta-seconds header is clamped to this (about three years) before use:
# far past every cap below, far below what timedelta or datetime overflow at.
_MAX_SECONDS = 10**8


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Parse Retry-After (delay-seconds or HTTP-date) into an absolute time."""
    if not value:
        return None
    seconds = parse_count(value, 365 * 86400)  # more than a year means "not soon"
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    parsed = parse_http_date(value)
    if parsed is None and _far_date(value):
        # Year 9999, past what parse_http_date keeps, is as "not soon" as any
        # date: capped like one (it was ignored, and the plain back-off used).
        return now + timedelta(days=365)
    return parsed


def _far_date(value: str) -> bool:
    """Whether ``value`` is a well-formed date in year 9999 or later."""
    try:
        return parsedate_to_datetime(value.strip()[:64]).year >= 9999
    except (TypeError, ValueError, IndexError, OverflowError):
        return False


def parse_max_age(cache_control: str | None) -> int | None:
    """Return Cache-Control's max-age in seconds, or None (also for no-store/no-cache)."""
    if not cache_control:
        return None
    max_age: int | None = None
    for directive in cache_control.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return None  # must revalidate every time: no hint beyond our interval
        if name == "max-age":
            seconds = parse_count(arg.strip().strip('"'), _MAX_SECONDS)
            if seconds is not None:
                max_age = seconds
    return max_age


def cache_hints(
    *,
    cache_control: str | None,
    expires: str | None,
    age: str | None,
    retry_after: str | None,
    now: datetime,
    date: str | None = None,
) -> CacheHints:
    """Build :class:`CacheHints` from raw response header values."""
    max_age_s = parse_max_age(cache_control)
    max_age = None
    expires_at = None
    if max_age_s is not None:
        age_s = parse_count(age, _MAX_SECONDS) or 0
        max_age = timedelta(seconds=max(0, min(max_age_s - age_s, _MAX_SECONDS)))
    elif expires is not None:
        expires_at = _expires(expires, now)
        served = parse_http_date(date)
        if served is not None:  # judge freshness by the server's clock, not ours
            lifetime = expires_at - served
            cap = timedelta(seconds=_MAX_SECONDS)
            expires_at = now + max(-cap, min(lifetime, cap))
    return CacheHints(
        max_age=max_age,
        expires=expires_at,
        retry_after=parse_retry_after(retry_after, now),
    )


def _expires(value: str, now: datetime) -> datetime:
    """When an Expires value says the response goes stale.

    An invalid one ("0", "-1") means already expired (RFC 9111 §5.3). A date
    in year 9999, the usual "never expires", is valid but past what
    :func:`~feeds.httpdate.parse_http_date` keeps: it is as far as any (capped).
    """
    parsed = parse_http_date(value)
    if parsed is not None:
        return parsed
    return now + timedelta(seconds=_MAX_SECONDS) if _far_date(value) else now


def next_fetch(
    now: datetime,
    *,
    interval: timedelta,
    hints: CacheHints | None = None,
    ttl: timedelta | None = None,
    errors: int = 0,
    retry_after: datetime | None = None,
    policy: PollPolicy = DEFAULT_POLICY,
    rng: RandomSource | None = None,
) -> datetime:
    """Decide when to fetch a source next.

    ``errors`` counts consecutive failed fetches including this one (0 after a
    success). ``retry_after`` (e.g. from :class:`feeds.errors.HTTPStatusError`)
    overrides ``hints.retry_after``. ``rng`` makes the jitter deterministic.
    """
    delay = max(interval, policy.min_delay)
    floor = timedelta(0)
    if errors > 0:
        # 2**errors overflows timedelta long before the cap; stop doubling early.
        factor = 2 ** min(errors, 32)
        delay = min(delay * factor, max(policy.max_backoff, delay))
    else:
        if hints is not None:
            if hints.max_age is not None:
                floor = hints.max_age
            elif hints.expires is not None:
                floor = hints.expires - now
        if ttl is not None:
            floor = max(floor, ttl)
        floor = min(floor, policy.max_cache_delay)
        delay = max(delay, floor)

    spread = (rng or random).uniform(-policy.jitter, policy.jitter)
    delay = delay * (1.0 + spread)
    if errors <= 0:
        # Jitter spreads sources, but never brings a visit before the upstream's
        # own freshness lifetime (max-age, Expires, ttl) has run out.
        delay = max(delay, floor)

    asked = retry_after or (hints.retry_after if hints is not None else None)
    if asked is not None:
        wait = min(asked - now, policy.max_retry_after)
        delay = max(delay, wait)
    return now + max(delay, policy.min_delay)
