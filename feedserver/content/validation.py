"""Checking submitted field values: one pass that gathers every problem.

The editing operations (API and admin alike) read a mapping of JSON-typed
values through :class:`Fields`; each accessor returns the clean value or
records a reason, and :meth:`Fields.done` raises one ``Unprocessable`` that
names every bad field (``fields={"title": "…", …}``), so a form can mark them
all at once and an API client learns everything from one answer.
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from feeds.sanitize import NOT_A_CHARACTER
from feedserver.content.slugs import MAX_SLUG, is_valid_slug
from feedserver.errors import Unprocessable
from feedserver.urls import UrlProblem, http_url_problem
from feedserver.web import find_by_ref

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_MULTILINE_OK = {"\n", "\r", "\t"}
_MISSING = object()


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Fields:
    """Read and check the fields of one request or form."""

    def __init__(self, data: Mapping[str, Any], allowed: frozenset[str] | set[str]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}
        unknown = [name for name in data if name not in allowed]
        for name in unknown[:20]:  # enough to name the mistake, not an echo of the body
            self.errors[str(name)[:100]] = "is not a field of this object"

    def given(self, name: str) -> bool:
        """Tell whether the request sets this field (PATCH changes only those)."""
        return name in self.data

    def fail(self, name: str, reason: str) -> None:
        """Record a problem with one field (the first one found wins)."""
        self.errors.setdefault(name, reason)

    def done(self) -> None:
        """Raise one Unprocessable naming every bad field, if any."""
        if self.errors:
            names = sorted(self.errors)
            detail = "; ".join(f"{n} {self.errors[n]}" for n in names[:10])
            raise Unprocessable(f"Invalid fields: {detail}.", fields=dict(self.errors))

    # --- scalar values ------------------------------------------------------

    def text(
        self,
        name: str,
        *,
        max_length: int,
        required: bool = False,
        multiline: bool = False,
        plain: bool = False,
        person: bool = False,
        default: str | None = None,
    ) -> str | None:
        """Return a string field: stripped, printable, within its length.

        ``plain`` (names, a section's description): no HTML tags or character
        references either; see ``markup_problem``. ``person`` (an author's
        name): no e-mail address; see ``email_problem``.
        """
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.fail(name, "is required")
            elif value is None and default is None:
                return None
            return default
        if not isinstance(value, str):
            self.fail(name, "must be a string")
            return None
        problem = text_problem(value, multiline=multiline) or (
            markup_problem(value) if plain else None
        )
        if not problem and person:
            problem = email_problem(value)
        if problem:
            self.fail(name, problem)
            return None
        if multiline:
            # A browser's form sends CRLF: paragraphs are told by "\n\n".
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        else:
            # Invisible characters mean nothing in a title or a name, and would
            # make "Business\u200b" a second "Business": dropped.
            value = value.translate(INVISIBLE).strip()
        if required and not value.strip():
            self.fail(name, "must not be empty")
            return None
        if len(value) > max_length:
            self.fail(name, f"must be at most {max_length:,} characters (it has {len(value):,})")
            return None
        return value

    def slug(self, name: str = "slug") -> str | None:
        """Return a given slug, or None when the field is absent or null."""
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not is_valid_slug(value):
            self.fail(
                name,
                f"must be lowercase letters, digits and single hyphens, at most {MAX_SLUG} "
                f"characters (like 'world-news'), not {_short(value)}",
            )
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if not isinstance(value, bool):
            self.fail(name, "must be true or false")
            return None
        return value

    def url(self, name: str, *, max_length: int = 2000) -> str | None:
        """Return an absolute http(s) URL, or None for null or ""."""
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(name, "must be a string")
            return None
        value = value.strip()
        reason = url_problem(value, max_length)
        if reason:
            self.fail(name, reason)
            return None
        return value

    def time(self, name: str) -> datetime | None:
        """Return an RFC 3339 time (or an aware datetime) as UTC, from 1990 to a little ahead.

        Feeds print it as the entry's date: one before 1990 or in the future
        (there is no scheduling: the article is public at once) draws the W3C
        validator's "Implausible date", and a future one would top every feed
        for good. A few minutes ahead are allowed for clocks that disagree.
        """
        value = self.data.get(name)
        if isinstance(value, datetime) and value.tzinfo is not None:
            moment: datetime | None = value.astimezone(UTC)
        else:
            moment = parse_time(value) if isinstance(value, str) else None
        latest = datetime.now(UTC) + TIME_AHEAD
        if moment is None and not _offset_time(value):
            self.fail(name, "must be an RFC 3339 time with an offset, like 2026-11-24T10:00:00Z")
            return None
        if moment is None or not EARLIEST_TIME <= moment <= latest:  # 0001-…, 9999-…
            self.fail(name, "must lie between 1990-01-01 and now (articles cannot be scheduled)")
            return None
        return moment

    # --- references ------------------------------------------------------------

    def ref(self, session: Session, model: Any, name: str, value: Any = _MISSING) -> Any:
        """Find the section/author/source a field names by id or slug."""
        if value is _MISSING:
            value = self.data.get(name)
        row = find_by_ref(session, model, value)
        if row is None:
            kind = model.__name__.lower()
            if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
                article = "an" if kind[0] in "aeiou" else "a"
                self.fail(name, f"must be the id or slug of {article} {kind}")
            else:
                self.fail(name, f"names no {kind}: {_short(value)}")
        return row

    def refs(self, session: Session, model: Any, name: str, *, max_items: int) -> list[Any]:
        """Find a non-empty list of rows named by id or slug, in the given order."""
        value = self.data.get(name)
        kind = model.__name__.lower()
        if not isinstance(value, list) or not value:
            self.fail(name, f"must be a non-empty list of {kind} ids or slugs")
            return []
        if len(value) > max_items:
            self.fail(name, f"may list at most {max_items} {kind}s, not {len(value):,}")
            return []
        rows = []
        for position, item in enumerate(value):
            row = self.ref(session, model, name, item)
            if row is None:
                self.errors[name] = f"entry {position + 1}: " + self.errors[name]
                return []
            if row in rows:
                self.fail(name, f"lists {kind} {row.slug!r} twice")
                return []
            rows.append(row)
        return rows


def text_problem(value: str, *, multiline: bool) -> str | None:
    """Say what makes a string unfit to store, or None if it is fine."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \\ud800 escape
        return "contains characters that are not valid Unicode"
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        return "contains a NUL character"
    for char in value:
        if unicodedata.category(char) == "Cc" and not (multiline and char in _MULTILINE_OK):
            return f"contains a control character (U+{ord(char):04X})"
    if found := NOT_A_CHARACTER.search(value):  # no character at all: XML and HTML refuse them
        return f"contains a Unicode noncharacter (U+{ord(found.group()):04X})"
    return bidi_problem(value)


def bidi_problem(value: str) -> str | None:
    """Say which bidirectional control character ``value`` holds, or None.

    Text with one displays in another order than it reads.
    """
    found = next((char for char in value if char in BIDI_CONTROLS), None)
    return (
        None
        if found is None
        else f"contains a bidirectional control character (U+{ord(found):04X})"
    )


# Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): the
# "Trojan Source" characters. The marks LRM/RLM/ALM, which right-to-left
# text needs, stay allowed.
def _offset_time(value: object) -> bool:
    """Whether ``value`` is written as a date-time with an offset, whatever its year."""
    if not isinstance(value, str) or len(value) > 100 or not value.isascii():
        return False
    text = value.strip()
    text = text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Zero-width space, word joiner, zero-width no-break space (BOM). Not the
# zero-width (non-)joiners, which scripts and emoji sequences need.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))


# What the W3C validator takes for markup in a feed's plain-text fields (Atom
# <name>, category labels, subtitles, RSS descriptions): a tag, or a character
# reference such as "&amp;" or "&#8217;" written out as text.
_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_REFERENCE = re.compile(r"&(#\w+|[A-Za-z]\w*)")


# An e-mail address, as the W3C validator finds one in a person's name
# ("Pat Doe <pat@example.com>" draws its ContainsEmail warning).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def email_problem(value: str) -> str | None:
    """Say why a person's name holding an e-mail address is refused, or None.

    A name is published as it is, in pages and as feeds' ``<author><name>``;
    an address there is the validator's ContainsEmail warning (INTERFACE §3),
    and, for a reader's comment, an address published that the form promised
    to keep (the e-mail field is never shown).
    """
    if found := _EMAIL.search(value):
        return (
            "must not contain an e-mail address, since it is published "
            f"({_short(found.group(0), 30)})"
        )
    return None


def markup_problem(value: str) -> str | None:
    """Say why a name would read as markup in feeds, or None if it is plain text.

    Names go into feed elements that are plain text by definition; one that
    holds "</b>" or "&amp;" draws the validator's "should not contain HTML"
    warning (INTERFACE §3 allows that only in titles), and readers show it raw.
    """
    if tag := _TAG.search(value):
        return f"must be plain text, not HTML (it contains {_short(tag.group(0), 20)})"
    for ref in _REFERENCE.finditer(value):
        if ref.group(1).startswith("#") or ref.group(1) in html.entities.name2codepoint:
            return (
                "must be plain text: write the character itself, "
                f"not a character reference ({_short(ref.group(0), 20)})"
            )
    return None


def plain_name(value: str, max_length: int = 200) -> str:
    """A name taken from someone else's text (a feed's title, an OPML outline), made plain.

    What :func:`markup_problem` would refuse is taken out rather than refused:
    character references are read as the characters they stand for, then
    anything shaped like a tag goes (a feed that escaped "<b>" twice still
    says plain "News"), control characters become spaces and white space is
    collapsed. May return "": the caller then names the thing otherwise.
    """
    text = value[: max_length * 8]
    for _ in range(3):  # "&amp;lt;b&amp;gt;" is a tag after two readings
        plain = _TAG.sub(" ", html.unescape(text))
        if plain == text:
            break
        text = plain
    text = "".join(" " if not ch.isprintable() else ch for ch in text)
    text = " ".join(text.split())[:max_length].strip()
    return "" if markup_problem(text) or text_problem(text, multiline=False) else text


def url_problem(value: str, max_length: int = 2000) -> str | None:
    """Say why a string is not an absolute http(s) URL, or None if it is one."""
    problem = http_url_problem(value, max_length)
    if problem is None:
        return None
    return {
        UrlProblem.TOO_LONG: f"must be at most {max_length:,} characters",
        UrlProblem.SPACES: "must not contain spaces or control characters",
        UrlProblem.MALFORMED: f"is not a valid URL: {_short(value)}",
        UrlProblem.NOT_HTTP: f"must be an absolute http:// or https:// URL, not {_short(value)}",
        UrlProblem.CREDENTIALS: "must not hold a user name or password (it would be shown)",
    }[problem]


# The range of article times feeds can carry; see Checker.time.
EARLIEST_TIME = datetime(1990, 1, 1, tzinfo=UTC)
TIME_AHEAD = timedelta(minutes=5)


def parse_time(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time with an offset into UTC; None if it is not one."""
    match = _RFC3339.match(value)
    if not match:
        return None
    text = value.upper().replace("Z", "+00:00")
    fraction = match.group(7)
    if fraction and len(fraction) > 7:  # keep microseconds, drop finer digits
        text = text.replace(fraction, fraction[:7], 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # e.g. February 30th, hour 24, leap second 60
        return None
    if not 1970 <= moment.year <= 9998:
        return None
    return moment.astimezone(UTC)
