"""Read RFC 6721 tombstones (``at:deleted-entry``) from upstream Atom or RSS bytes.

https://www.rfc-editor.org/rfc/rfc6721#section-2 — feedparser folds every
``at:deleted-entry`` into one feed-level value, keeping only the last, so we
read them ourselves with lxml: a streaming parse that keeps nothing but the
``ref`` and ``when`` attributes.

Safety: no network, no DTD loading, no entity resolution, ``huge_tree`` off
(lxml's limits on depth and text size stay on). A document that is not
well-formed yields no tombstones at all: a deletion is not something to guess
from a broken feed. Only tombstones that are children of the feed (Atom
``feed``, RSS ``channel``) count — RFC 6721 places them there, and one inside
an entry's content is that entry's text, not an instruction.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from lxml import etree

NS = "http://purl.org/atompub/tombstones/1.0"
TAG = f"{{{NS}}}deleted-entry"
_FEED_PARENTS = {"{http://www.w3.org/2005/Atom}feed", "channel"}
_NEEDLE = NS.encode("ascii")

MAX_TOMBSTONES = 1000  # per document: more is not a feed, it is an attack
MAX_REF = 4096  # characters; ids are IRIs, not essays


def read_tombstones(body: bytes) -> list[tuple[str, datetime | None]]:
    """Return (ref, when) of each ``at:deleted-entry`` of the feed, in document order.

    ``when`` is None when missing or not an RFC 3339 date-time. Duplicate
    refs are kept once (the first).
    """
    if _NEEDLE not in body:  # the common case costs one substring search
        return []
    found: list[tuple[str, datetime | None]] = []
    seen: set[str] = set()
    try:
        for _event, element in etree.iterparse(
            io.BytesIO(body),
            events=("end",),
            tag=TAG,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        ):
            parent = element.getparent()
            ref = (element.get("ref") or "").strip()
            if (
                parent is not None
                and parent.tag in _FEED_PARENTS
                and ref
                and len(ref) <= MAX_REF
                and ref not in seen
            ):
                seen.add(ref)
                found.append((ref, _when(element.get("when"))))
                if len(found) >= MAX_TOMBSTONES:
                    break
            element.clear()
    except etree.LxmlError:
        return []
    return found


def _when(value: str | None) -> datetime | None:
    """An RFC 3339 date-time as an aware UTC datetime, or None."""
    if not value or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:  # RFC 3339 requires an offset
        return None
    return moment.astimezone(UTC)
