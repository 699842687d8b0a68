"""Which reader is asking: the subscriber counts aggregators put in their User-Agent.

Hosted readers fetch a feed once for all their users and say how many they
are, each in its own words. The formats below are the ones the services
publish or send (collected from their documentation, their source code and
published server logs):

- Feedly:   ``Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; like FeedFetcher-Google)``
- Inoreader: ``Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; 12 subscribers; )``
  and ``Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 26 subscribers; )``
- NewsBlur: ``NewsBlur Feed Fetcher - 3 subscribers - http://www.newsblur.com/site/1234/name (Mozilla/5.0 …)``
  (one subscriber: ``1 subscriber``; the site id in the URL is its feed id)
- Feedbin:  ``Feedbin feed-id:1373711 - 142 subscribers``
- The Old Reader: ``Mozilla/5.0 (compatible; theoldreader.com; 14 subscribers; feed-id=1a2b3c)``
- BazQux:   ``Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 5 subscribers)``
- Bloglovin: ``Bloglovin/1.0 (http://www.bloglovin.com; 28 subscribers)``
- Netvibes: ``Netvibes (http://www.netvibes.com/; 8 subscribers; feedID: 6639445)``
- g2reader: ``g2reader-bot/1.0 (+http://www.g2reader.com/; 3 subscribers)``
- Feed Wrangler: ``Feed Wrangler/1.0 (2 subscribers; feed-id=479901; http://feedwrangler.net; Allow like Gecko)``
- Google's old Feedfetcher: ``Feedfetcher-Google; (+http://www.google.com/feedfetcher.html; 4 subscribers; feed-id=1794595805790851116)``
- Overcast (podcasts): ``Overcast/1.0 Podcast Sync (123 subscribers; feed-id=456789; +http://overcast.fm/)``
- Feedspot: ``Feedspot/1.0 (+https://www.feedspot.com/fs/fetcher; like FeedFetcher-Google)`` — no count,
  so it counts like any other client.

Any other agent that says ``N subscribers`` (or ``N readers``) is believed
too, under the name of its first product token. Counts are self-reported and
cannot be verified; they are clamped to :data:`MAX_REPORTED`, and the number
of services and feed ids kept per feed is bounded by the tally.

Parsing never raises: any string in, a :class:`Report` or ``None`` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_UA = 512  # longer agents are cut here before parsing and hashing
MAX_REPORTED = 100_000_000  # more than any reader has ever claimed for one feed
MAX_NAME = 40
OTHER = "other"  # the by_reader key of clients that report no count

# "42 subscribers", "1 subscriber", "1,204 readers". A longer digit run than
# any count is still a claim of a great many (clamped to MAX_REPORTED), not
# no claim at all; past 40 digits it is noise.
_COUNT = re.compile(
    r"(?<![\w.,+-])(\d{1,3}(?:,\d{3}){1,12}|\d{1,40})\s*(?:subscribers?|readers?)\b",
    re.IGNORECASE,
)
# "feed-id=123", "feed-id:123", "feedID: 6639445", "feed_id=abc".
_FEED_ID = re.compile(r"feed[-_ ]?id\s*[=:]\s*([A-Za-z0-9._~-]{1,64})", re.IGNORECASE)
_NEWSBLUR_SITE = re.compile(r"newsblur\.com/site/(\d{1,20})", re.IGNORECASE)
_PRODUCT = re.compile(r"([A-Za-z][A-Za-z0-9._-]{0,39})/\d")
_COMPATIBLE = re.compile(r"compatible;\s*([A-Za-z][A-Za-z0-9._ -]{0,39}?)\s*[;/)]", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9 ._-]+")

# (lower-case marker found anywhere in the agent, the service's name), first match wins.
KNOWN_SERVICES: tuple[tuple[str, str], ...] = (
    ("feedly", "Feedly"),
    ("inoreader", "Inoreader"),
    ("newsblur", "NewsBlur"),
    ("feedbin", "Feedbin"),
    ("theoldreader", "The Old Reader"),
    ("bazqux", "BazQux"),
    ("bloglovin", "Bloglovin"),
    ("netvibes", "Netvibes"),
    ("g2reader", "g2reader"),
    ("feed wrangler", "Feed Wrangler"),
    ("feedwrangler", "Feed Wrangler"),
    ("feedfetcher-google", "Google Feedfetcher"),
    ("overcast", "Overcast"),
    ("feedspot", "Feedspot"),
    ("livedoor", "livedoor Reader"),
    ("hanrss", "HanRSS"),
    ("bloglines", "Bloglines"),
    ("digg feed fetcher", "Digg Reader"),
    ("newsgator", "NewsGator"),
    ("feeder.co", "Feeder"),
    ("commafeed", "CommaFeed"),
)
_BROWSER_TOKENS = frozenset(
    {"mozilla", "applewebkit", "chrome", "safari", "gecko", "firefox", "version", "khtml", "mobile"}
)


@dataclass(frozen=True, slots=True)
class Report:
    """A subscriber count reported by a reader service in its User-Agent."""

    service: str
    subscribers: int
    feed_id: str = ""


def parse_user_agent(user_agent: str | None) -> Report | None:
    """Return the count a reader reports in ``user_agent``, or None for a plain client."""
    if not user_agent:
        return None
    try:
        return _parse(user_agent[:MAX_UA])
    except Exception:  # pragma: no cover - a parser bug must never cost a request
        return None


def _parse(ua: str) -> Report | None:
    match = _COUNT.search(ua)
    if match is None:
        return None
    count = min(int(match.group(1).replace(",", "")), MAX_REPORTED)
    feed_id = ""
    found = _FEED_ID.search(ua)
    if found is not None:
        feed_id = found.group(1)
    else:
        site = _NEWSBLUR_SITE.search(ua)
        if site is not None:
            feed_id = site.group(1)
    return Report(service_name(ua), count, feed_id)


def service_name(ua: str) -> str:
    """Name the reader service behind an agent: a known one, else its first product token."""
    lowered = ua.lower()
    for marker, name in KNOWN_SERVICES:
        if marker in lowered:
            return name
    name = ""
    for token in _PRODUCT.findall(ua):
        if token.lower() not in _BROWSER_TOKENS:
            name = token
            break
    if not name:
        compatible = _COMPATIBLE.search(ua)
        if compatible is not None:
            name = compatible.group(1)
    if not name:
        word = _FIRST_WORD.search(ua)
        name = word.group(0) if word is not None else ""
    name = _SAFE_NAME.sub("", name).strip()[:MAX_NAME]
    if not name or name.lower() == OTHER:
        return "unnamed reader"
    return name
