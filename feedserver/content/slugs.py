"""Slugs: the URL names of articles, sections, authors and sources.

A slug is lowercase ASCII letters and digits in hyphen-separated runs
(``world-news-2026``), at most :data:`MAX_SLUG` characters. Generated slugs
come from a title or name and get a ``-2``, ``-3`` … suffix when taken.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedserver.models.content import SLUG_LENGTH, Article
from feedserver.models.tombstones import ArticleTombstone

MAX_SLUG = SLUG_LENGTH
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Letters NFKD does not decompose into ASCII, spelled the way readers expect.
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "Œ": "oe",
     "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ł": "l", "Ł": "l", "&": " and "}
)  # fmt: skip


def is_valid_slug(value: str) -> bool:
    """Tell whether ``value`` is a well-formed slug of allowed length."""
    return len(value) <= MAX_SLUG and _SLUG_RE.match(value) is not None


def slugify(text: str, *, max_length: int = MAX_SLUG, fallback: str = "item") -> str:
    """Turn a title or a name into a slug ("Ünïcode & more!" → "unicode-and-more")."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
        .lower()
    )
    slug = _NON_ALNUM.sub("-", ascii_text).strip("-")
    if len(slug) > max_length:
        # Cut at a word boundary when there is one in the second half.
        cut = slug[: max_length + 1].rfind("-")
        slug = slug[:cut] if cut > max_length // 2 else slug[:max_length]
        slug = slug.rstrip("-")
    return slug or fallback


def unique_slug(
    session: Session,
    model: Any,
    text: str,
    *,
    exclude_id: int | None = None,
    fallback: str = "item",
) -> str:
    """Return a slug for ``text`` that no other row of ``model`` has."""
    # Leave room for a "-NNNN" suffix inside the column's length.
    base = slugify(text, max_length=MAX_SLUG - 6, fallback=fallback)
    # The base holds only [a-z0-9-], so it is safe inside a LIKE pattern.
    query = select(model.slug).where((model.slug == base) | model.slug.like(f"{base}-%"))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    taken = set(session.scalars(query))
    if model is Article:
        # A deleted article's address answers 410 while its tombstone is kept
        # (content.deletion): a new article is not given it by chance.
        kept = ArticleTombstone.slug
        taken.update(session.scalars(select(kept).where((kept == base) | kept.like(f"{base}-%"))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
