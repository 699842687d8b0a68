"""The plain values a refresh passes along: its settings, the job and the outcome.

No database access and no writes: :mod:`feedserver.aggregation.refresh` runs the
pipeline, :mod:`feedserver.aggregation.store` does every write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feeds.httpdate import http_date_text, parse_http_date
from feeds.model import Validators
from feeds.upstream.fetch import MIB, Fetcher
from feedserver.models import Source


@dataclass(frozen=True, slots=True)
class PollSettings:
    """The settings the fetch/refresh/poll code needs, from app.config or a mapping."""

    poll_interval: int = 900
    allowlist: str = ""
    fetch_timeout: int = 20
    max_bytes: int = 5 * MIB
    concurrency: int = 16
    per_host: int = 4
    parse_processes: int = 0
    lease: int = 300
    # WebSub subscriber (feedserver.aggregation.websub): where our callbacks
    # live ("" = do not subscribe), back-up poll interval, lease to ask for.
    base_url: str = ""
    websub_backup_poll: int = 86400
    websub_lease: int = 864000
    user_agent: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PollSettings:
        def get(name: str, default: Any) -> Any:
            value = config.get(name)
            return default if value is None else value

        return cls(
            poll_interval=int(get("POLL_INTERVAL", 900)),
            allowlist=str(get("UPSTREAM_ALLOWLIST", "")),
            fetch_timeout=int(get("FETCH_TIMEOUT", 20)),
            max_bytes=int(get("FETCH_MAX_BYTES", 5 * MIB)),
            concurrency=max(1, int(get("POLL_CONCURRENCY", 16))),
            per_host=max(1, int(get("POLL_PER_HOST", 4))),
            parse_processes=max(0, int(get("POLL_PARSE_PROCESSES", 0))),
            lease=max(60, int(get("POLL_LEASE", 300))),
            base_url=str(get("BASE_URL", "")).rstrip("/"),
            websub_backup_poll=max(60, int(get("WEBSUB_BACKUP_POLL", 86400))),
            websub_lease=max(60, int(get("WEBSUB_SUBSCRIBE_LEASE", 864000))),
            user_agent=user_agent(str(get("BASE_URL", "") or "")),
        )

    def fetcher(self) -> Fetcher:
        """Make the one shared fetcher (connection pool, guard, limits)."""
        extra: dict[str, Any] = {"user_agent": self.user_agent} if self.user_agent else {}
        return Fetcher(
            allowlist=self.allowlist,
            max_bytes=self.max_bytes,
            connect_timeout=min(10.0, self.fetch_timeout),
            read_timeout=float(self.fetch_timeout),
            total_timeout=float(self.fetch_timeout),
            max_connections=max(self.concurrency * 2, 10),
            max_per_host=self.per_host,
            **extra,
        )


def user_agent(base_url: str) -> str:
    """``feedserver/0.1 (+<the site's own URL>)``: upstream operators can see who polls.

    RFC 9110 §10.1.5 invites a product token and comments; the comment names
    the site (``FEEDSERVER_BASE_URL``) as the contact, never a made-up
    address. Without a base URL there is no contact to give, so none is.
    """
    from feeds.upstream.fetch import PRODUCT

    url = base_url.strip()
    if url.lower().startswith(("http://", "https://")) and not any(c in url for c in "()\r\n"):
        return f"{PRODUCT} (+{url.rstrip('/')}/)"
    return PRODUCT


@dataclass(frozen=True, slots=True)
class SourceJob:
    """What a refresh needs to know about a source before touching the database."""

    id: int
    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    poll_interval: int | None = None
    home_url: str | None = None
    first: bool = False  # never fetched successfully: every entry it lists is new
    cache_seconds: int | None = None  # the last 200's max-age or Expires, for a 304's schedule
    ttl_minutes: int | None = None  # the last 200's RSS <ttl>, likewise

    @classmethod
    def of(cls, source: Source) -> SourceJob:
        return cls(
            source.id, source.feed_url or "", source.etag, source.last_modified,
            source.poll_interval, source.home_url, source.last_success_at is None,
            source.cache_seconds, source.ttl_minutes,
        )  # fmt: skip

    @property
    def validators(self) -> Validators:
        return Validators(
            etag=self.etag,
            last_modified=parse_http_date(self.last_modified),
            last_modified_text=http_date_text(self.last_modified),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one refresh did, for logs, progress and the API."""

    source_id: int
    status: int | None = None
    added: int = 0
    updated: int = 0
    error: str | None = None
