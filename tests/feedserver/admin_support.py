"""Helpers shared by the admin tests: users, signing in, reading forms back, small feeds.

The fixtures (``admin``, the autouse ``forget_failures``) are in admin/conftest.py.
"""

from __future__ import annotations

import re
from typing import Any

from feedserver import accounts

PASSWORD = "correct horse battery staple"
USER = "editor-in-chief"


def make_user(db: Any, name: str = USER, password: str = PASSWORD) -> int:
    """Create an admin user and return its id."""
    with db.session() as s:
        return accounts.create_user(s, name, password).id


def sign_in(client: Any, name: str = USER, password: str = PASSWORD, **kw: Any) -> Any:
    """Post the sign-in form."""
    return client.post("/admin/login", data={"name": name, "password": password}, **kw)


def csrf_token(html: str) -> str:
    """Read the CSRF token out of a page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def rss_feed(title: str, items: list[tuple[str, str]], base: str = "https://up.example") -> bytes:
    """A small RSS 2.0 feed: (guid, title) per item."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{name}</title>"
        f"<link>{base}/{guid}</link><description>About {name}.</description>"
        f"<pubDate>Mon, 02 Mar 2026 0{n % 10}:00:00 GMT</pubDate></item>"
        for n, (guid, name) in enumerate(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>{base}/</link><description>Upstream news</description>"
        f"{entries}</channel></rss>"
    ).encode()


def opml_document(*urls: str, category: str | None = None) -> bytes:
    """An OPML 2.0 subscription list of these feed URLs."""
    cat = f' category="{category}"' if category else ""
    outlines = "".join(
        f'<outline type="rss" text="Feed {n}" xmlUrl="{url}"{cat}/>' for n, url in enumerate(urls)
    )
    return (
        '<?xml version="1.0"?><opml version="2.0"><head><title>Subs</title></head>'
        f"<body>{outlines}</body></opml>"
    ).encode()
