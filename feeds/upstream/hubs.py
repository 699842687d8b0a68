"""Which WebSub hub an upstream feed advertises, and under which topic URL.

WebSub §4 (https://www.w3.org/TR/websub/#discovery): a publisher names its
hub(s) and the topic's canonical URL with ``rel="hub"`` and ``rel="self"``
links, in HTTP ``Link`` headers (RFC 8288) or in the document (Atom and RSS
``atom:link``, JSON Feed ``hubs``/``feed_url``). The headers come first: a
subscriber MUST look there first and use the document only for what they do
not say (websub.rocks subscriber test 104). Each relation is taken from the
first place that has it, so a header hub with a document self URL still works.

Without any ``rel="self"`` the URL we fetched (after redirects) is the topic:
the Recommendation requires publishers to give both links, but many feeds
advertise only a hub, and subscribing to the URL that served the content is
what such a publisher's hub expects.

:func:`advertised` is a pure function; :class:`HubClient` sends the
subscription requests (§5.1) through the same private-address guard as
upstream fetches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from feeds.errors import (
    BlockedAddress,
    FeedError,
    FetchError,
    FetchTimeout,
    TooManyRedirects,
    parser_says,
)
from feeds.model import UpstreamFeed
from feeds.sanitize import safe_url
from feeds.upstream import transport
from feeds.upstream.fetch import USER_AGENT
from feeds.upstream.guard import Allowlist, Resolver, check_url, system_resolver
from feeds.websub import hub_and_self

URL_LENGTH = 2000  # longest hub or topic URL kept (the database column's size)


@dataclass(frozen=True, slots=True)
class Advertised:
    """A hub to subscribe at and the topic URL to subscribe to."""

    hub: str
    topic: str
    hubs: tuple[str, ...] = ()  # every usable hub advertised, ``hub`` first


def advertised(
    link_headers: Iterable[str], fetched_url: str, feed: UpstreamFeed | None
) -> Advertised | None:
    """The hub and topic a fetched feed advertises, or None when it names no hub.

    ``fetched_url`` is the URL that answered (after redirects): relative
    header targets resolve against it (RFC 8288 §3.1) and it is the topic
    when no ``rel="self"`` is given anywhere.
    """
    header_hubs, header_self = hub_and_self(list(link_headers), fetched_url)
    hubs = _usable(header_hubs) or _usable(feed.hubs if feed is not None else ())
    if not hubs:
        return None
    topic = (
        _usable([header_self] if header_self else [])
        or _usable([feed.self_url] if feed is not None and feed.self_url else [])
        or _usable([fetched_url])
    )
    if not topic:
        return None
    return Advertised(hubs[0], topic[0], tuple(hubs))


def _usable(urls: Iterable[str]) -> list[str]:
    """Absolute http(s) URLs of a sane length, without fragments, de-duplicated."""
    kept: list[str] = []
    for raw in urls:
        url = safe_url(raw or "")
        if not url or len(url) > URL_LENGTH or not url.lower().startswith(("http:", "https:")):
            continue
        url = url.split("#", 1)[0]
        if url not in kept:
            kept.append(url)
    return kept


# -- asking a hub (§5.1 Subscriber Sends Subscription Request) ----------------

HUB_REDIRECTS = frozenset({301, 302, 307, 308})
MAX_HUB_REDIRECTS = 3
REASON_LENGTH = 300


@dataclass(frozen=True, slots=True)
class HubAnswer:
    """What a hub said to a (un)subscription request."""

    status: int
    accepted: bool  # 2xx: the hub will verify our intent (§5.1.2: usually 202)
    url: str  # the hub URL that answered, after redirects
    reason: str = ""  # the start of a refusal's body, for the source's health


class HubClient:
    """Send ``hub.mode=subscribe|unsubscribe`` requests through the guard.

    Every hub URL (and every redirect target) passes the private-address
    guard, exactly as an upstream fetch does: a hub is just another URL an
    upstream feed chose for us. Redirects (websub.rocks subscriber tests
    203/204: 307 and 308; 301/302 seen in the wild) are followed by sending
    the same form again to the new URL, because a hub that moved still wants
    the subscription request, not a GET.
    """

    def __init__(
        self,
        *,
        allowlist: Allowlist | str | None = None,
        timeout: float = 10.0,
        resolver: Resolver = system_resolver,
        transport_: httpx.BaseTransport | None = None,
    ) -> None:
        self.allowlist = (
            allowlist if isinstance(allowlist, Allowlist) else Allowlist.parse(allowlist)
        )
        self._client = httpx.Client(
            transport=transport_ or transport.GuardedTransport(self.allowlist, resolver=resolver),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
        )

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(self, hub: str, form: dict[str, str]) -> HubAnswer:
        """POST the form to the hub; raises FetchError (BlockedAddress, …) when it cannot."""
        current = check_url(hub, self.allowlist)
        for hop in range(MAX_HUB_REDIRECTS + 1):
            try:
                response = self._client.post(current, data=form)
            except (BlockedAddress, FetchError) as exc:
                raise type(exc)(hub, exc.problem) from None
            except httpx.TimeoutException:
                raise FetchTimeout(hub, "the hub did not answer in time") from None
            except httpx.HTTPError as exc:
                raise FetchError(hub, f"{type(exc).__name__}: {exc}") from None
            status = response.status_code
            if status in HUB_REDIRECTS:
                if hop == MAX_HUB_REDIRECTS:
                    break
                location = response.headers.get("location")
                if not location:
                    raise FetchError(hub, f"HTTP {status} without Location")
                try:
                    target = current.join(location).copy_with(fragment=None)
                except httpx.InvalidURL as exc:
                    raise FetchError(
                        hub, f"bad redirect Location ({parser_says(exc, location)})"
                    ) from None
                try:
                    current = check_url(target, self.allowlist)
                except FeedError as exc:
                    raise type(exc)(hub, f"redirect to {target} refused: {exc.problem}") from None
                continue
            reason = "" if 200 <= status < 300 else " ".join(response.text[:REASON_LENGTH].split())
            return HubAnswer(status, 200 <= status < 300, str(current), reason)
        raise TooManyRedirects(hub, f"more than {MAX_HUB_REDIRECTS} redirects")
