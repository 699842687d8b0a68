"""The one allowlist for upstream HTML (nh3, i.e. Rust's ammonia).

Everything an upstream feed says in HTML passes through :func:`clean_html`
before it is stored or shown; titles and summaries that must be plain text go
through :func:`to_text`. Anything not named here is dropped:

- tags: text structure, lists, tables, quotes, code, images, audio/video;
  no script, style, iframe, object/embed, form controls, svg/math, meta, base,
  link; the content of script, style, svg, math, iframe, noscript, template
  and the like is removed with the tag;
- attributes: a short list per tag; no ``on*`` handlers, ``style``, ``class``,
  ``id``, ``srcset`` (one ``src`` is enough, and a srcset is a comma list of
  URLs we would have to vet one by one);
- URLs (href, src, cite, poster): made absolute against the entry's base and
  kept only if http(s) (or mailto for links): no javascript:, data:, vbscript:;
- links get ``rel="noopener noreferrer nofollow"`` (nofollow because we
  republish other people's links).

The allowlist stays inside what the W3C feed validator accepts in content
(its ``HTMLValidator.acceptable_elements``/``acceptable_attributes``), so our
own feeds republish the result without warnings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar
from html import unescape
from urllib.parse import urljoin, urlsplit, urlunsplit

import nh3

GLOBAL_ATTRIBUTES = frozenset({"lang", "dir", "title"})
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope", "abbr"},
    "col": {"span"},
    "colgroup": {"span"},
    "audio": {"src", "controls"},
    "video": {"src", "poster", "controls", "width", "height"},
    "source": {"src", "type"},
    "*": set(GLOBAL_ATTRIBUTES),
}
TAGS = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "blockquote", "br", "caption", "cite",
        "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt",
        "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby",
        "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul",
        "var", "wbr", "audio", "video", "source",
    }
)  # fmt: skip
# Tags removed together with everything inside them.
CLEAN_CONTENT_TAGS = frozenset(
    {"script", "style", "svg", "math", "iframe", "noscript", "noembed", "noframes",
     "object", "template", "textarea", "select", "title", "xmp", "plaintext"}
)  # fmt: skip
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_EDGES = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
LINK_REL = "noopener noreferrer nofollow"


# A path from the root with nothing urljoin would rewrite: no dot segment
# (every one follows a "/"), no ";" (params: a trailing one is dropped), no
# empty query or fragment, no white space, control character or backslash.
_PLAIN_ROOTED = re.compile(
    r"/(?!/)[^\x00-\x20\x7f\\;?#]*(?:\?[^\x00-\x20\x7f\\#]+)?(?:#[^\x00-\x20\x7f\\]+)?"
)


@functools.lru_cache(maxsize=256)
def _origin(base: str) -> str | None:
    """``scheme://netloc`` of an http(s) base URL with a host, as urljoin keeps them; else None."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc and "@" not in parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None  # (a base with a user name takes the long way, which drops it)


def safe_url(value: str, base: str | None = None, *, mailto: bool = False) -> str | None:
    """Make ``value`` absolute against ``base``; None unless it is http(s) (or mailto)."""
    # Browsers ignore tabs, newlines and edge spaces in URLs ("java\tscript:");
    # so do we, before judging the scheme.
    value = _EDGES.sub("", _TAB_NEWLINE.sub("", value))
    if not value:
        return None
    if base and value[0] == "/" and "/." not in value and _PLAIN_ROOTED.fullmatch(value):
        # Most links in upstream HTML: what urljoin would give, a tenth of its cost.
        origin = _origin(base)
        if origin is not None:
            return origin + value
    try:
        joined = urljoin(base, value) if base else value
        parts = urlsplit(joined)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if "@" in parts.netloc:
            # A user name or password is dropped: shown, it would give a
            # password away, and "https://trusted.example@evil.example/" reads
            # as the wrong host. The API refuses such URLs; an upstream's go too.
            host = parts.netloc.rpartition("@")[2]
            return urlunsplit(parts._replace(netloc=host)) if host else None
        return joined if parts.netloc else None
    if scheme == "mailto" and mailto:
        return joined
    if not scheme and not base and not value.startswith("//") and ":" not in value.split("/")[0]:
        return joined  # relative, and nothing to resolve it against: harmless
    return None


# The base URL of the HTML being cleaned, for the one prebuilt cleaner's
# attribute filter (a context variable: each thread cleans its own HTML).
_BASE: ContextVar[str | None] = ContextVar("feeds_sanitize_base", default=None)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute in URL_ATTRIBUTES:
        return safe_url(value, _BASE.get(), mailto=(tag == "a" and attribute == "href"))
    return value


def _cleaner(**options: object) -> Callable[[str], str]:
    """nh3's clean with these options, its Rust sanitizer built once (nh3 ≥ 0.3 has Cleaner).

    Building it is a quarter of cleaning an entry of 1 kB, so it is not done per call.
    """
    factory = getattr(nh3, "Cleaner", None)
    if factory is not None:
        return factory(**options).clean  # type: ignore[no-any-return]
    return lambda html: nh3.clean(html, **options)  # type: ignore[arg-type]


_CLEAN_HTML = _cleaner(
    tags=set(TAGS),
    clean_content_tags=set(CLEAN_CONTENT_TAGS),
    attributes=ATTRIBUTES,
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel=LINK_REL,
    url_schemes={"http", "https", "mailto"},
)


# XML 1.0 §2.2 (https://www.w3.org/TR/xml/#charsets) excludes C0 controls
# other than TAB/LF/CR, the surrogate block and U+FFFE/U+FFFF. In a Python str
# every surrogate is a lone one (a valid pair decodes to one astral code
# point), and lone surrogates cannot be encoded as UTF-8 either, so the same
# set is dropped for JSON: a title then reads the same in all three formats.
# The C1 controls U+007F-U+009F, which §2.2 discourages, go too: in real text
# they are mis-decoded Windows-1252, and the W3C validator flags them as such.
# So is U+FFFD, the mark a decoder leaves where bytes (or an upstream's "&#0;")
# could not be read: it carries nothing, so it goes as well. And the other
# Unicode noncharacters (U+FDD0-U+FDEF, the last two of every plane), which
# §2.2 discourages and the validator's HTML check calls invalid code points.
NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)
)
NOT_XML_CHAR = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd{NONCHARACTERS}]"
)
# What is no character at all (lone surrogates, noncharacters): refused in
# text people give us, as controls are (feedserver.content, comments).
NOT_A_CHARACTER = re.compile(f"[\ud800-\udfff{NONCHARACTERS}]")


# Elements nested deeper than this are taken out (their text stays): the
# HTML parser's time grows with the square of the depth (20,000 nested divs:
# 2.7 s, 50,000: 25 s; found by an audit), and no article nests 200 deep.
MAX_DEPTH = 200
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*?(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
# Not counted either: the next one ends them when their end tag is left out
# (HTML's optional end tags), so "para<p>para<p>…" nests nothing.
_SELF_ENDING = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option", "rt", "rp"})


def flatten_deep(html: str, max_depth: int = MAX_DEPTH) -> str:
    """``html`` without the tags of elements nested deeper than ``max_depth`` (text kept).

    Counted by start and end tags, as written: a rough depth, enough to bound
    the parser's work; the sanitizer parses what is left properly.
    """
    if html.count("<") <= max_depth:
        return html  # too few tags to nest that deep: the common case, one count
    depth = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal depth
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or name in _SELF_ENDING or self_closing:
            return match.group(0)
        if closing:
            depth = max(depth - 1, 0)
            return match.group(0) if depth < max_depth else ""
        depth += 1
        return match.group(0) if depth <= max_depth else ""

    return _TAG_TOKEN.sub(keep, html)


def clean_html(html: str, base_url: str | None = None) -> str:
    """Sanitize upstream HTML and make its links absolute against ``base_url``."""
    if not html:
        return ""
    token = _BASE.set(base_url)
    try:
        # A character reference is a character: "&#1;" or "&#xfffe;" came out
        # raw, which the raw text's checks refuse (an HTML parse error on the page).
        return NOT_XML_CHAR.sub("", _CLEAN_HTML(flatten_deep(html))).strip()
    finally:
        _BASE.reset(token)


_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table",
     "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure",
     "figcaption", "section", "article", "header", "footer", "summary", "details"}
)  # fmt: skip
_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "head", "title"})
# Keeps block tags (without attributes) only to turn them into spaces.
_BLOCKS_ONLY = _cleaner(
    tags=set(_BLOCKS),
    clean_content_tags=set(_SKIPPED),
    attributes={},
    strip_comments=True,
    link_rel=None,
)


_TAG = re.compile(r"<[^>]*>")
# Raw characters read per character of text kept: markup-heavy titles need
# more than one, but nothing needs a megabyte for 1,000 characters of title.
_RAW_PER_CHAR = 8
_RAW_MIN = 16_384


def to_text(html: str | None, max_length: int | None = 1000) -> str:
    """Reduce HTML (or text with entities) to one line of plain text.

    Tags are dropped (script and style with their content), entities decoded,
    whitespace collapsed, and the result cut at a word boundary with "…" when
    longer than ``max_length`` characters.

    The input is cut to a bound *before* it is read as HTML, and the reading
    is html5ever's (through nh3), which is linear: Python's
    ``html.parser.HTMLParser`` re-scans an unclosed construct from its start
    on every step, so a title of ``<a b='`` repeated took minutes (and some
    inputs made it raise AssertionError).
    """
    if not html:
        return ""
    if max_length is not None:
        html = html[: max(max_length * _RAW_PER_CHAR, _RAW_MIN)]
    if "<" in html or "&" in html:
        html = unescape(_TAG.sub(" ", _BLOCKS_ONLY(html)))
    return clip_text(html, max_length)


# C0 controls that str.split() does not treat as space, DEL, and C1 controls.
# And the lone surrogates and noncharacters, which are no text either (the
# renderers drop them; a page showed them).
_CONTROLS = re.compile(f"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff{NONCHARACTERS}]")


def clip_text(text: str | None, max_length: int | None) -> str:
    """Plain text on one line, cut at a word boundary with "…" when too long.

    Control characters (C0 and C1, which no title or name means and XML 1.0
    cannot even carry) are dropped; runs of white space become one space.
    """
    if not text:
        return ""
    text = " ".join(_CONTROLS.sub("", text).split())
    if max_length is not None and len(text) > max_length:
        cut = text[: max_length - 1]
        space = cut.rfind(" ")
        if space > max_length // 2:
            cut = cut[:space]
        text = cut.rstrip(" ,;:.-–—") + "…"
    return text
