"""Helpers for the aggregation tests: upstream feeds as bytes, rows, tokens, settings."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select

from feedserver.aggregation.refresh import PollSettings
from feedserver.models import Article, Source


@dataclass
class Item:
    """One upstream RSS item; leave a field None to leave the element out."""

    guid: str | None = None
    title: str | None = "A story"
    link: str | None = None
    description: str | None = "<p>Summary of the story.</p>"
    author: str | None = None
    pub_date: Any = None  # a datetime


def rss(
    items: list[Item], *, title: str = "Upstream Daily", link: str = "https://upstream.example/"
) -> bytes:
    """An RSS 2.0 document with these items."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>Upstream news</description>",
    ]
    for item in items:
        parts.append("<item>")
        if item.guid is not None:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.title is not None:
            parts.append(f"<title>{escape(item.title)}</title>")
        if item.link is not None:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.description is not None:
            parts.append(f"<description>{escape(item.description)}</description>")
        if item.author is not None:
            parts.append(f"<dc:creator>{escape(item.author)}</dc:creator>")
        if item.pub_date is not None:
            parts.append(f"<pubDate>{format_datetime(item.pub_date, usegmt=True)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def numbered(n: int, prefix: str = "story") -> list[Item]:
    return [
        Item(
            guid=f"{prefix}-{i}",
            title=f"{prefix.title()} {i}",
            link=f"https://upstream.example/{prefix}/{i}",
        )
        for i in range(n)
    ]


def settings_for(port: int, **kw: Any) -> PollSettings:
    kw.setdefault("allowlist", f"127.0.0.1:{port}")
    kw.setdefault("fetch_timeout", 5)
    kw.setdefault("concurrency", 4)
    return PollSettings(**kw)


def source_row(db: Any, source_id: int) -> Source:
    with db.session() as s:
        source = s.get(Source, source_id)
        assert source is not None
        return source


def articles_of(db: Any, source_id: int) -> list[Article]:
    with db.session() as s:
        return list(
            s.scalars(select(Article).where(Article.source_id == source_id).order_by(Article.id))
        )
