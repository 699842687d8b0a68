"""A reader's comment as text: checking the submitted fields and showing the body.

Pure functions, no Flask and no database, so every rule is testable with
strings in and strings out. A comment is stored as the plain text the reader
typed (stripped, line ends normalised) and becomes HTML only when shown:
escaped first, then paragraphs and links are added around the escaped pieces.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from feeds.sanitize import NOT_A_CHARACTER
from feedserver.content.validation import (
    INVISIBLE,
    bidi_problem,
    email_problem,
    markup_problem,
)
from feedserver.urls import UrlProblem, http_url_problem

NAME_MAX = 100
EMAIL_MAX = 254
WEBSITE_MAX = 500
BODY_MAX = 5000

# The form's field names, in the order problems are reported.
FIELDS = ("name", "email", "website", "comment")

# A deliberately loose shape check (RFC 5321 allows far more than any regex
# here should judge): one "@", no spaces, a dot in the domain.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
# Bare http(s) URLs in a comment body. Quotes and angle brackets end a URL so
# that `"http://a"` or `<http://a>` links only the address itself.
_URL = re.compile(r"""\bhttps?://[^\s<>"'`]+""", re.IGNORECASE)
# Punctuation that usually ends the sentence around a URL rather than the URL.
_TRAILING = ".,;:!?)]}*"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


@dataclass(slots=True)
class Submission:
    """The cleaned fields of a comment form and the problem with each, if any."""

    name: str = ""
    email: str = ""
    website: str = ""
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _has_control(value: str, allow_newlines: bool = False) -> bool:
    """Tell whether ``value`` holds control characters (Unicode category Cc) or no character at all.

    A lone surrogate or a noncharacter (U+FFFE, U+FDD0…) is no text: the
    feeds drop it, and a page showed it.
    """
    allowed = "\n\t" if allow_newlines else ""
    if NOT_A_CHARACTER.search(value):
        return True
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def normalise_body(raw: str) -> str:
    """Unify line ends and strip the comment body (CR LF and CR become LF)."""
    return raw.replace("\r\n", "\n").replace("\r", "\n").strip()


def check_website(value: str) -> str | None:
    """Return what is wrong with a commenter's website URL, or None."""
    problem = http_url_problem(value, WEBSITE_MAX)
    if problem is UrlProblem.TOO_LONG:
        return f"Website must be at most {WEBSITE_MAX} characters (it has {len(value)})."
    return _WEBSITE_PROBLEMS[problem] if problem else None


# The reader-facing wording of each reason (feedserver.urls owns the rule).
_WEBSITE_PROBLEMS = {
    UrlProblem.SPACES: "Website must be a single web address without spaces.",
    UrlProblem.MALFORMED: "Website is not a valid web address.",
    UrlProblem.NOT_HTTP: "Website must be a web address starting with http:// or https://.",
    UrlProblem.CREDENTIALS: "Website must not hold a user name or password: it is shown to everyone.",
}


def _web_host(url: str) -> str | None:
    """The host of an http(s) URL, or None if the URL is malformed in any way.

    ``urlsplit`` raises ValueError on an unclosed IPv6 bracket ("http://[::1")
    and ``.port`` on a port out of range ("http://a:99999999"); a comment that
    merely mentions such a string must not take its page down, so every
    failure here means "not a link".
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in ("http", "https"):
        return None
    return host


def check_submission(form: dict[str, str]) -> Submission:
    """Strip and check the name, email, website and comment fields of a form."""
    sub = Submission(
        name=form.get("name", "").translate(INVISIBLE).strip(),
        email=form.get("email", "").strip(),
        website=form.get("website", "").strip(),
        comment=normalise_body(form.get("comment", "")),
    )
    errors = sub.errors
    if not sub.name:
        errors["name"] = "Name is required."
    elif len(sub.name) > NAME_MAX:
        errors["name"] = f"Name must be at most {NAME_MAX} characters (it has {len(sub.name)})."
    elif _has_control(sub.name):
        errors["name"] = "Name contains control characters."
    elif problem := bidi_problem(sub.name):
        errors["name"] = f"Name {problem}."
    elif problem := markup_problem(sub.name) or email_problem(sub.name):
        # The name is the comment feeds' <author><name>, plain text by definition,
        # and published: an address belongs in the e-mail field, which is not.
        errors["name"] = f"Name {problem}."

    if not sub.email:
        errors["email"] = "Email is required."
    elif len(sub.email) > EMAIL_MAX:
        errors["email"] = f"Email must be at most {EMAIL_MAX} characters (it has {len(sub.email)})."
    elif _has_control(sub.email) or not _EMAIL.fullmatch(sub.email):
        errors["email"] = "Email must look like name@example.com."

    if sub.website:
        problem = check_website(sub.website)
        if problem:
            errors["website"] = problem

    if not sub.comment:
        errors["comment"] = "Comment is required."
    elif len(sub.comment) > BODY_MAX:
        errors["comment"] = (
            f"Comment must be at most {BODY_MAX:,} characters (it has {len(sub.comment):,})."
        )
    elif _has_control(sub.comment, allow_newlines=True):
        errors["comment"] = "Comment contains control characters."
    return sub


def content_hash(name: str, email: str, body: str) -> str:
    """Fingerprint of who said what, to recognise a resubmitted comment."""
    data = "\x1f".join((name.casefold(), email.casefold(), body))
    return hashlib.sha256(data.encode()).hexdigest()


def ip_hash(address: str, secret: str) -> str:
    """Salted hash of a client address: lets us count a client's comments, not find it."""
    key = hashlib.sha256(b"feedserver comment ip\x00" + secret.encode()).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()


def _link(url: str) -> str:
    href = escape(url)
    return f'<a href="{href}" rel="nofollow ugc noopener">{href}</a>'


def _linkify(text: str) -> str:
    """Escape a piece of plain text, turning bare http(s) URLs into links."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trimmed = url.rstrip(_TRAILING)
        # Keep a closing parenthesis that belongs to the URL ("…/Foo_(bar)").
        while url[len(trimmed) :].startswith(")") and trimmed.count("(") > trimmed.count(")"):
            trimmed += ")"
        if _web_host(trimmed) is None:
            continue
        out.append(str(escape(text[pos : match.start()])))
        out.append(_link(trimmed))
        pos = match.start() + len(trimmed)
    out.append(str(escape(text[pos:])))
    return "".join(out)


def body_html(body: str) -> Markup:
    """Show a plain-text comment as HTML: a blank line starts a <p>, a newline is <br>.

    Every character of ``body`` passes through ``escape`` before any markup is
    added, so nothing the reader typed can become a tag or an attribute.
    """
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(normalise_body(body))]
    html = "".join(
        "<p>" + "<br>\n".join(_linkify(line) for line in p.split("\n")) + "</p>\n"
        for p in paragraphs
        if p
    )
    return Markup(html)  # noqa: S704 - built only from escaped pieces above
