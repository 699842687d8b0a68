"""Do two articles report the same story? Pure functions over titles and text.

No database and no Flask here: :func:`document` turns an article's title and
text into a :class:`Document` (normalized terms, names, numbers), and
:func:`similarity` scores two of them from 0 to 1; :data:`THRESHOLD` is the
score from which grouping calls them one story. The weights and the
threshold were chosen on the training half of ``tests/data/stories/pairs.jsonl``
and are measured on its held-out half by ``bench/story_quality.py``.

Why these features. Rewrites of one story share few title words ("Strong
quake hits northern Chile" / "Earthquake strikes Chile's north") but share
what the story is about: its names and its figures. Hard negatives share the
words of a kind of event ("Earthquake strikes southern Peru") or a place
("Lyon approves tram line" / "Floods close Lyon schools"), but not both the
names and the figures. So the score adds word overlap (fuzzy, through
rapidfuzz, so "quake" meets "earthquake" and "minister's" meets "minister")
to name and number agreement, and takes off for names or figures that clash.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say nothing about which story it is.
STOPWORDS = _words(
    """
    a about after against ahead all also amid an and any are as at be been before being
    between both but by can could did do does down during each else for from further
    had has have having he her here hers him his how i if in into is it its itself just
    least less may me might more most much must my near new news no nor not now of off
    on once only or other our out over own per report reported reports said say says
    she should since so some such than that the their them then there these they this
    those through to too under until up upon us very via was we were what when where
    which while who whom why will with within would yet you your latest live update
    updates breaking today yesterday tonight week weeks year years day days
    """
)

# Capitalized, but they date a story rather than name what it is about.
CALENDAR = _words(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march
    april june july august september october november december
    """
)

# "northern Chile" and "Chile's north" name the same place.
COMPASS = {"northern": "north", "southern": "south", "eastern": "east", "western": "west"}

TEXT_CHARS = 600  # how much of the summary/body a document reads: the lede carries the story
BODY_CHARS = 2000  # of a body read to find that text, when an article has no summary
MAX_INDEX_TERMS = 12

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def stem(word: str) -> str:
    """Fold a lower-case word to a crude stem: plurals, -ing, -ed, possessives."""
    word = word.replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    if word in COMPASS:
        return COMPASS[word]
    if len(word) <= 4 or word[0].isdigit():
        return word
    for suffix, replacement in (
        ("ies", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + replacement
    return word


def normalize(text: str) -> str:
    """Unicode-fold (NFKC) and case-fold ``text``."""
    return unicodedata.normalize("NFKC", text).casefold()


def terms(text: str) -> list[str]:
    """The significant words of ``text``, stemmed, in order (repeats kept)."""
    found = []
    for word in _WORD.findall(normalize(text)):
        term = _TERMS.get(word)
        if term is None:
            term = _term(word)
            if len(word) <= MEMO_WORD:
                if len(_TERMS) >= TERM_MEMO:
                    _TERMS.clear()  # start again: the words in use now come back
                _TERMS[word] = term
        if term:
            found.append(term)
    return found


# A word's term (or "" for none) is worked out once: words repeat a lot, and
# a first poll reads tens of thousands of articles (bounded: ~10 MB at most).
TERM_MEMO = 100_000
MEMO_WORD = 40  # longer words are worked out each time (a hostile feed's junk)
_TERMS: dict[str, str] = {}


def _term(word: str) -> str:
    """What :func:`terms` keeps of one normalized word: its stem, or "" (a stopword)."""
    if word[0].isdigit():
        return word.replace(",", "")
    if len(word) < 2 or word in STOPWORDS:
        return ""
    stemmed = stem(word)
    return "" if stemmed in STOPWORDS else stemmed


def names(text: str) -> set[str]:
    """Capitalized words not opening a sentence (places, people, bodies), stemmed.

    Title Case headlines capitalize every word, so callers pass only text
    written in sentence case (the summary or body).
    """
    found: set[str] = set()
    text = unicodedata.normalize("NFKC", text)
    previous_end = 0
    for match in _WORD.finditer(text):
        word = match.group()
        start, end = match.span()
        if not word[0].isupper():
            previous_end = end
            continue
        # Opening a sentence: first, or after an end mark (one space: not).
        gap = text[previous_end:start]
        opening = previous_end == 0 or (gap != " " and bool(_SENTENCE_END.search(gap)))
        previous_end = end
        if opening:
            continue
        lowered = word.casefold()
        if lowered in STOPWORDS or lowered in CALENDAR:
            continue
        found.add(stem(lowered))
    return found


@dataclass(frozen=True, slots=True)
class Document:
    """What the similarity of one article is computed from."""

    title_terms: frozenset[str]
    terms: frozenset[str]  # title and text
    names: frozenset[str]
    numbers: frozenset[str]


# The title an upstream entry without one is stored under
# (aggregation.entries): shared by unrelated articles, it says nothing.
UNTITLED = "Untitled"


def document(title: str, text: str) -> Document:
    """Read an article's title and plain text (summary, else body text)."""
    if title == UNTITLED:
        title = ""
    text = text[:TEXT_CHARS]
    title_terms = terms(title)
    all_terms = title_terms + terms(text)
    return Document(
        title_terms=frozenset(title_terms),
        terms=frozenset(all_terms),
        names=frozenset(names(text)),
        numbers=frozenset(t for t in all_terms if t[0].isdigit()),
    )


def _rounds_to(rounded: str, exact: str) -> bool:
    """Whether ``rounded`` ("2500") is ``exact`` ("2531") rounded to its trailing zeros."""
    if not (rounded.isdigit() and exact.isdigit()):
        return False
    zeros = len(rounded) - len(rounded.rstrip("0"))
    if zeros < 2 or zeros >= len(rounded):  # "2,500", not "150"
        return False
    unit: int = 10**zeros
    return bool(round(int(exact) / unit) * unit == int(rounded))


def numbers_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two sets of figures share one, allowing rounding ("2,500" / "2,531")."""
    if a & b:
        return True
    return any(_rounds_to(x, y) or _rounds_to(y, x) for x in a for y in b)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient of two word sets, exact words only."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def _closest(word: str, choices: list[str]) -> str | None:
    """The first of ``choices`` closest to ``word``: a typo apart, else containing it.

    What ``rapidfuzz.process.extractOne`` answers with these cut-offs (the
    best score, the first on a tie), cheaper: words whose lengths differ too
    much for a ratio of 88 are not scored, and a partial ratio of 100 is the
    shorter word inside the longer one. A window's candidates make thousands
    of these calls.
    """
    best: str | None = None
    best_score = 0.0
    size = len(word)
    for choice in choices:
        # Indel distance >= the length difference: 100·d > 12·(sum) rules out 88.
        if 25 * abs(size - len(choice)) > 3 * (size + len(choice)):
            continue
        score = fuzz.ratio(word, choice, score_cutoff=88)
        if score > best_score:
            best, best_score = choice, score
    if best is not None or size < 4:
        return best
    for choice in choices:
        if len(choice) >= 4 and (choice in word or word in choice):
            return choice
    return None


def soft_overlap(a: Iterable[str], b: Iterable[str]) -> float:
    """Dice coefficient of two word sets where close words count as shared.

    Close: one word inside the other ("quake" / "earthquake", rapidfuzz's
    partial ratio of 100, for words of four letters or more), or a typo
    apart (normalized Indel similarity ≥ 88). Figures only match exactly.
    """
    left, right = set(a), set(b)
    if not left or not right:
        return 0.0
    exact = left & right
    rest_right = sorted(w for w in right - exact if not w[0].isdigit())
    fuzzy = 0
    for word in sorted(w for w in left - exact if not w[0].isdigit()):
        if not rest_right:
            break
        best = _closest(word, rest_right)
        if best is not None:
            fuzzy += 1
            rest_right.remove(best)
    shared = len(exact) + fuzzy
    return 2 * shared / (len(left) + len(right))


# Tuned on the training half of the labelled pairs (bench/story_quality.py).
W_TERMS = 0.55
W_TITLE = 0.35
W_NAMES = 0.30
W_NUMBERS = 0.15
P_NAMES = 0.30  # both name places/people, none in common
P_NUMBERS = 0.25  # both give figures, none in common
THRESHOLD = 0.33


# Evidence beyond a headline both share: a name or a figure in common, or this
# many shared words, outside the words of both titles. A stock headline ("Letters
# to the editor", "Top 10 things to do this weekend", "Brackwater weather
# forecast") over different texts has none, and scored as one story.
MIN_SHARED_TERMS = 2


def similarity(a: Document, b: Document) -> float:
    """Score from 0 (unrelated) to 1 (same story) of two documents."""
    # Fuzzy matching on titles (short, where rewrites change words), exact on all text.
    score = W_TERMS * overlap(a.terms, b.terms)
    score += W_TITLE * soft_overlap(a.title_terms, b.title_terms)
    in_both_titles = a.title_terms & b.title_terms
    corroborated = len(a.terms & b.terms - in_both_titles) >= MIN_SHARED_TERMS
    if a.names and b.names:
        shared = soft_overlap(a.names, b.names)
        if shared:
            score += W_NAMES * shared
            corroborated = corroborated or bool(
                soft_overlap(a.names - in_both_titles, b.names - in_both_titles)
            )
        elif min(len(a.names), len(b.names)) >= 2:
            score -= P_NAMES
    if a.numbers and b.numbers:
        words_a, words_b = a.terms - a.numbers, b.terms - b.numbers
        if a.numbers != b.numbers and (words_a <= words_b or words_b <= words_a):
            # The same words with other figures: instalments of a series
            # ("Results, 9pm" / "Results, 10pm", "Part 2" / "Part 3"), not rewrites.
            return 0.0
        if numbers_agree(a.numbers, b.numbers):
            score += W_NUMBERS
            own_a, own_b = a.numbers - in_both_titles, b.numbers - in_both_titles
            corroborated = corroborated or bool(own_a and own_b and numbers_agree(own_a, own_b))
        else:
            score -= P_NUMBERS
    if not corroborated:
        # Nothing in common beyond a shared headline: however alike, not enough
        # to call it one story (found by audits: short and stock headlines were
        # grouped, and all but one of them left the site's feeds).
        score = min(score, THRESHOLD - 0.01)
    return max(0.0, min(1.0, score))


def same_story(a: Document, b: Document, threshold: float = THRESHOLD) -> bool:
    """Whether the two documents report the same story."""
    return similarity(a, b) >= threshold


def index_terms(doc: Document) -> list[str]:
    """The words under which an article is filed in the candidate index.

    Its title words and names first (a rewrite keeps those), then the
    longest other words (long words are the rare ones), at most
    :data:`MAX_INDEX_TERMS`, cut to the column's width.
    """
    known = _RECENT_TERMS.get(doc)
    if known is not None:
        return list(known)
    return _index_terms(doc)


def _index_terms(doc: Document) -> list[str]:
    chosen: list[str] = []
    for group in (
        sorted(doc.title_terms),
        sorted((doc.names | doc.numbers) - doc.title_terms),
        # longest first, then alphabetical (a stable sort by length of the sorted words)
        sorted(
            sorted(doc.terms - doc.title_terms - doc.names - doc.numbers), key=len, reverse=True
        ),
    ):
        for term in (t[:40] for t in group):
            if term not in chosen:
                chosen.append(term)
            if len(chosen) >= MAX_INDEX_TERMS:
                return chosen
    return chosen


FEATURES_VERSION = "1"


def encode(doc: Document) -> str:
    """``doc`` as one line of text, for ``story_entries.features`` (see :func:`decode`).

    Terms and names hold no white space (they are runs of letters or
    figures), so tabs separate the fields and spaces the words.
    """
    return "\t".join(
        (
            FEATURES_VERSION,
            " ".join(sorted(doc.title_terms)),
            " ".join(sorted(doc.terms - doc.title_terms)),
            " ".join(sorted(doc.names)),
        )
    )


# What was filed lately (see remember): a first poll's grouping reads back
# the articles it just stored, and their neighbours are candidates of the
# next ones; decoding their features again was a tenth of its work. Bounded:
# about 10 kB an article.
RECENT = 2048
_RECENT_DOCS: dict[str, Document] = {}  # features → the document they encode
_RECENT_TERMS: dict[Document, tuple[str, ...]] = {}  # document → its index words
_RECENT_LOCK = threading.Lock()


def remember(features: str, doc: Document, terms: Iterable[str]) -> None:
    """Note an article just filed: ``features`` is ``encode(doc)``, ``terms`` its index words.

    :func:`decode` and :func:`index_terms` then answer for it without the
    work; what they answer is what they would have worked out, since
    ``decode(encode(doc)) == doc`` and the words are a function of the document.
    """
    with _RECENT_LOCK:
        _RECENT_DOCS[features] = doc
        _RECENT_TERMS[doc] = tuple(terms)
        _bound(_RECENT_DOCS)
        _bound(_RECENT_TERMS)


def _bound(memo: dict[Any, Any]) -> None:
    while len(memo) > RECENT:
        del memo[next(iter(memo))]  # the oldest


def decode(features: str | None) -> Document | None:
    """The document :func:`encode` wrote; None when missing or of another version."""
    if not features:
        return None
    known = _RECENT_DOCS.get(features)
    if known is not None:
        return known
    parts = features.split("\t")
    if len(parts) != 4 or parts[0] != FEATURES_VERSION:
        return None
    title_terms = frozenset(parts[1].split())
    all_terms = title_terms | frozenset(parts[2].split())
    return Document(
        title_terms=title_terms,
        terms=all_terms,
        names=frozenset(parts[3].split()),
        numbers=frozenset(t for t in all_terms if t[0].isdigit()),
    )


_TAG = re.compile(r"<[^>]*>")


def plain_text(summary: str | None, body_html: str | None) -> str:
    """The text an article is compared by: its summary, else its body without tags."""
    if summary and summary.strip():
        return summary
    return html.unescape(_TAG.sub(" ", body_html or ""))


def document_of(title: str | None, summary: str | None, body_html: str | None) -> Document:
    """What grouping compares of an article with this text (as stories.index reads it)."""
    return document(title or "", plain_text(summary, (body_html or "")[:BODY_CHARS]))
