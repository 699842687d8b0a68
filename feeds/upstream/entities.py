"""Refuse XML entity declarations that reach outside or expand, in any encoding.

A DOCTYPE may declare entities: external ones read files or URLs (XXE), nested
internal ones expand exponentially ("billion laughs"). feedparser and expat
mostly survive them, but a clear refusal beats a half-parsed feed, and no
parser change can reopen the hole.

The check has to look at the characters the XML parser will see, not at the
bytes: ``<!ENTITY`` in UTF-16, UTF-32 or EBCDIC (cp037) is not the ASCII byte
string ``b"<!ENTITY"``. feedparser picks the encoding from the HTTP charset,
the XML declaration, the BOM or the first four bytes (XML 1.0 Appendix F,
https://www.w3.org/TR/xml/#sec-guessing), then transcodes to UTF-8 before
expat sees it. We run that same transcoding and check its result, and also
check the bytes as they are and every Unicode/EBCDIC reading of them, so a
document is refused if *any* plausible reading declares an unsafe entity.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from feeds.errors import ParseError

_ENTITY = re.compile(r"<!ENTITY\b", re.I)
# A harmless declaration: a name and one character reference, or a literal of
# a few characters without references (bounded amplification, no expansion).
_SAFE_ENTITY = re.compile(
    r"""<!ENTITY\s+[\w.:-]+\s+("(?:[^"&%<]{0,8}|&\#x?[0-9a-f]{1,6};)"|'(?:[^'&%<]{0,8}|&\#x?[0-9a-f]{1,6};)')\s*>""",
    re.I,
)
MAX_ENTITIES = 64
# Readings tried on top of feedparser's own choice: every encoding in which
# "<" is not the ASCII byte 0x3C.
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037", "cp500", "cp1140")
# "<!" as each wide reading writes it. "<" and "!" have no case variants, and
# every one of these codecs reads a fixed number of bytes per character (an
# undecodable unit becomes U+FFFD, never "<"), so a reading can only declare
# an entity where these bytes occur: without them the costly decode (UTF-32
# of a 5 MB body, almost all errors) is skipped, with the same verdict.
_WIDE_MARKS = {name: "<!".encode(name) for name in _WIDE}
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")


# Entities are declared only in a document type declaration: a reading with
# no "<!DOCTYPE" anywhere declares none, whatever "<!ENTITY" it quotes (a post
# about XXE, in CDATA or not). A reading with one is checked whole, strictly:
# no reading of comments, CDATA or processing instructions decides what a
# parser sees, since feedparser rewrites the DOCTYPE region (line by line)
# before expat reads it, and the two readings could be made to disagree.
_DOCTYPE = re.compile(r"<!DOCTYPE", re.I)


def check_doctype(body: bytes, subject: str, content_type: str | None = None) -> None:
    """Raise :class:`ParseError` if any reading of ``body`` declares unsafe entities."""
    for text in _readings(body, content_type):
        if not _ENTITY.search(text) or not _DOCTYPE.search(text):
            continue
        declared = len(_ENTITY.findall(text))
        safe = len(_SAFE_ENTITY.findall(text))
        if declared != safe or declared > MAX_ENTITIES:
            raise ParseError(
                subject,
                "DOCTYPE declares external, parameter, nested or long XML entities "
                "(refused: XXE or entity-expansion risk)",
            )


def _readings(body: bytes, content_type: str | None) -> list[str]:
    """The texts an XML parser could see in ``body``, most likely first."""
    texts = [body.decode("latin-1")]  # every ASCII-compatible encoding
    chosen = _as_feedparser_would(body, content_type)
    if chosen is not None:
        texts.append(chosen)
    declared = _DECLARED.match(body[:512])
    codecs_to_try = list(_WIDE)
    if declared:
        codecs_to_try.insert(0, declared.group(1).decode("ascii"))
    # A wide reading is needed only when the bytes could be one: NULs, a BOM,
    # or no ASCII "<" at all (EBCDIC writes "<" as 0x4C).
    if b"\x00" in body[:512] or body.startswith(_BOMS) or b"<" not in body[:512]:
        pass
    elif not declared:
        return texts
    for name in codecs_to_try:
        mark = _WIDE_MARKS.get(name)
        if mark is not None and mark not in body:
            continue  # this reading has no "<!": no declaration to check
        try:
            texts.append(body.decode(name, "replace"))
        except (LookupError, ValueError):
            continue
    return texts


def _as_feedparser_would(body: bytes, content_type: str | None) -> str | None:
    """The UTF-8 text feedparser hands to expat, or None if we cannot tell."""
    try:
        from feedparser.encodings import convert_to_utf8  # internal, but stable since 6.0
    except ImportError:  # pragma: no cover - a future feedparser
        return None
    # The same headers parse_feed gives feedparser (it reads a missing
    # Content-Type differently from no headers at all).
    headers = {"content-location": "about:blank"}
    if content_type:
        headers["content-type"] = content_type
    result: dict[str, Any] = {}
    try:
        converted = convert_to_utf8(headers, body, result)
    except Exception:  # noqa: BLE001 - any failure here only means "check the other readings"
        return None
    if isinstance(converted, bytes):
        return converted.decode("utf-8", "replace")
    return None
