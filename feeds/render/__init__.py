"""Serialize a :class:`feeds.model.Feed` as RSS 2.0, Atom 1.0 or JSON Feed 1.1.

The output is deterministic: the same ``Feed`` gives the same bytes (no "now"
anywhere), so the application can cache a rendering and derive a strong ETag
from it. Bytes are UTF-8; the XML formats carry a declaration. Text is cleaned
of the characters XML 1.0 forbids (see :mod:`feeds.render.values`), naive
datetimes are read as UTC, and feedgen's refusals surface as
:class:`feeds.errors.RenderError`.
"""

from __future__ import annotations

from feeds.model import Feed, Rendered
from feeds.render.jsonfeed import render_json_bytes
from feeds.render.xml import render_xml

__all__ = ["ATOM_TYPE", "JSON_TYPE", "RSS_TYPE", "render_atom", "render_json", "render_rss"]

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_TYPE = "application/feed+json; charset=utf-8"


def render_rss(feed: Feed) -> Rendered:
    """Render ``feed`` as RSS 2.0."""
    return Rendered(render_xml(feed, "rss"), RSS_TYPE)


def render_atom(feed: Feed) -> Rendered:
    """Render ``feed`` as Atom 1.0."""
    return Rendered(render_xml(feed, "atom"), ATOM_TYPE)


def render_json(feed: Feed) -> Rendered:
    """Render ``feed`` as JSON Feed 1.1."""
    return Rendered(render_json_bytes(feed), JSON_TYPE)
