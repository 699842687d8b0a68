"""JSON Feed 1.1, written by hand: https://www.jsonfeed.org/version/1.1/

Paging is ``next_url`` only (the spec has no first/previous/last). The
upstream attribution goes into ``_source``: keys starting with an underscore
are the spec's extension mechanism ("Extensions" section), and readers that do
not know one ignore it. RFC 6721 tombstones go the same way into a top-level
``_deleted`` object (extensions are objects): ``{"entries": [{"id", "deleted_at"}]}``.
"""

from __future__ import annotations

import json
from typing import Any

from feeds.errors import RenderError
from feeds.model import Entry, Feed
from feeds.render.values import clean_text, named, rfc3339

VERSION = "https://jsonfeed.org/version/1.1"


def _item(feed: Feed, entry: Entry) -> dict[str, Any]:
    entry_id = clean_text(entry.id).strip()
    if not entry_id:
        raise RenderError(feed.self_url, f"json: entry {entry.link} has no id")
    # Key order is fixed by construction, so the output is byte-stable.
    item: dict[str, Any] = {"id": entry_id, "url": clean_text(entry.link)}
    if entry.original_url:
        item["external_url"] = clean_text(entry.original_url)
    title = clean_text(entry.title).strip()
    if title:
        item["title"] = title
    if entry.summary:
        item["summary"] = clean_text(entry.summary)
    if entry.content_html:
        item["content_html"] = clean_text(entry.content_html)
    else:
        # The spec wants content_html or content_text in every item, and an
        # empty one carries nothing: the title stands in, as in Atom's summary.
        item["content_text"] = (
            clean_text(entry.summary or "").strip() or title or clean_text(entry.link).strip()
        )
    item["date_published"] = rfc3339(entry.published)
    item["date_modified"] = rfc3339(entry.updated)
    authors = []
    for author in named(entry.authors):
        person = {"name": author.name}
        if author.url:
            person["url"] = author.url
        authors.append(person)
    if authors:
        item["authors"] = authors
    tags = [clean_text(c.label or c.term) for c in entry.categories]
    if tags:
        item["tags"] = tags
    if entry.source is not None:
        source = {"title": clean_text(entry.source.title)}
        if entry.source.link:
            source["home_page_url"] = clean_text(entry.source.link)
        source["feed_url"] = clean_text(entry.source.feed_url)
        item["_source"] = source
    if entry.story_sources:
        # INTERFACE §10: every article of the story this item leads.
        item["_story"] = {
            "sources": [
                {"name": clean_text(s.name), "url": clean_text(s.url)} for s in entry.story_sources
            ]
        }
    return item


def render_json_bytes(feed: Feed) -> bytes:
    """Serialize ``feed`` as a JSON Feed 1.1 document in UTF-8."""
    document: dict[str, Any] = {
        "version": VERSION,
        "title": clean_text(feed.title),
        "home_page_url": clean_text(feed.link),
        "feed_url": clean_text(feed.self_url),
        "description": clean_text(feed.description),
    }
    if feed.icon:
        document["icon"] = clean_text(feed.icon)
    if feed.paging.next:
        document["next_url"] = clean_text(feed.paging.next)
    document["language"] = clean_text(feed.language)
    if feed.hubs:
        # JSON Feed 1.1 "hubs": endpoints for real-time notification (WebSub).
        document["hubs"] = [{"type": "WebSub", "url": clean_text(hub)} for hub in feed.hubs]
    document["items"] = [_item(feed, entry) for entry in feed.entries]
    if feed.tombstones:
        deleted = []
        for tombstone in feed.tombstones:
            ref = clean_text(tombstone.ref).strip()
            if not ref:
                raise RenderError(feed.self_url, "json: a tombstone has no id")
            deleted.append({"id": ref, "deleted_at": rfc3339(tombstone.when)})
        document["_deleted"] = {"entries": deleted}
    # ensure_ascii=False keeps non-ASCII text readable and compact; clean_text
    # has removed the lone surrogates that would make encode() fail.
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")
