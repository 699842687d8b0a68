"""Topics to ping an external hub with (``FEEDSERVER_WEBSUB_HUB``).

WebSub leaves the publisher-to-hub notification open (§6); the common form,
which we use, is ``POST hub.mode=publish&hub.url=<topic>`` (PubSubHubbub 0.4,
what Google's and Superfeedr's hubs and websub.rocks accept), with
``hub.topic`` too for hubs that read that name.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedserver import urls
from feedserver.models import Article
from feedserver.models.scopes import SITE
from feedserver.publishing.queries import SCOPE_MODELS

log = logging.getLogger(__name__)


def topics_of_scope(session: Session, key: str, base: str) -> list[str]:
    """Every feed URL (page 1, each format) of one scope; [] when it cannot be named."""
    if not base:
        log.warning("websub ping skipped key=%s: FEEDSERVER_BASE_URL is not set", key)
        return []
    if key == SITE:
        return [base + urls.scope_feed("site", None, fmt) for fmt in ("atom", "rss", "json")]
    kind, _, ident = key.partition(":")
    if not ident.isdigit():
        return []
    if kind == "comments":
        slug = session.scalar(select(Article.slug).where(Article.id == int(ident)))
        if slug is None:
            return []
        return [base + urls.comments_feed(slug, fmt) for fmt in ("atom", "rss")]
    model = SCOPE_MODELS.get(kind)
    if model is None:
        return []
    slug = session.scalar(select(model.slug).where(model.id == int(ident)))
    if slug is None:
        return []
    return [base + urls.scope_feed(kind, slug, fmt) for fmt in ("atom", "rss", "json")]
