"""The pure similarity: paraphrases meet, hard negatives and instalments do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from feedserver.stories.similarity import (
    MAX_INDEX_TERMS,
    THRESHOLD,
    W_NAMES,
    W_TITLE,
    _closest,
    decode,
    document,
    encode,
    index_terms,
    names,
    numbers_agree,
    same_story,
    similarity,
    stem,
    terms,
)

PAIRS = Path(__file__).resolve().parents[2] / "data/stories/pairs.jsonl"


def _doc(pair: dict[str, str]):
    return document(pair["title"], pair["text"])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            (
                "Strong earthquake hits northern Chile, killing 12",
                "A magnitude 7.1 earthquake struck near Antofagasta, killing 12, Chile's emergency office said.",
            ),
            (
                "Quake of magnitude 7.1 strikes Chile's north",
                "At least twelve people died when the quake shook Antofagasta region.",
            ),
        ),
        (
            (
                "Norvik recalls 200,000 laptops over battery fires",
                "Electronics maker Norvik is recalling 200,000 Aero laptops.",
            ),
            (
                "Battery fire risk prompts Norvik laptop recall",
                "The recall of 200,000 Aero notebooks follows 31 reports of overheating, Norvik said.",
            ),
        ),
    ],
)
def test_paraphrases_are_one_story(a, b):
    assert same_story(document(*a), document(*b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Same kind of event, another place.
        (
            (
                "Earthquake hits southern Peru",
                "A magnitude 6.2 earthquake struck near Arequipa, Peru's institute said.",
            ),
            (
                "Strong earthquake hits northern Chile",
                "A magnitude 7.1 earthquake struck near Antofagasta, Chile's office said.",
            ),
        ),
        # Same place, another event.
        (
            (
                "Floods close dozens of schools in Lyon",
                "Heavy rain flooded streets in Lyon, and the city closed 34 schools.",
            ),
            (
                "Lyon council approves new tram line",
                "Lyon's council voted 96 to 40 to build the T9 tram line.",
            ),
        ),
        # Instalments: the same words with other figures.
        (
            ("Live: election results, 9pm", "Counting goes on."),
            ("Live: election results, 10pm", "Counting goes on."),
        ),
        # Stock headlines over other texts, and short entries with a word or two
        # in common: no name, no figure, few words shared (found by an audit).
        (
            ("Letters to the editor", "Readers write about the bus lanes and the library hours."),
            (
                "Letters to the editor",
                "Our readers on school lunches, a lost cat and rising rents.",
            ),
        ),
        (
            ("Weather forecast for the weekend", "Sunny skies in the north; light winds."),
            ("Weather forecast for the weekend", "Heavy rain expected across the valley."),
        ),
        (
            ("Podcast: this week in politics", "We discuss the budget and the parking vote."),
            ("Podcast: this week in politics", "The senate race, a new poll and taxes."),
        ),
        (
            ("Item with no title and no guid and no date", "Item with no title, no date"),
            ("Bad date item", "bad"),
        ),
        (
            ("Mislabeled ’quote’ café", "Mislabeled ’quote’ café body"),
            ("Smart “quotes” — café", "Smart “quotes” — café body"),
        ),
        # A figure or a name that is only in the shared headline is no evidence.
        (
            ("Top 10 things to do this weekend", "Visit the market and try the bakery."),
            ("Top 10 things to do this weekend", "Hiking trails and a jazz festival downtown."),
        ),
        (
            ("Brackwater weather forecast for the weekend", "Sunny skies, light winds."),
            ("Brackwater weather forecast for the weekend", "Heavy rain across the valley."),
        ),
        (
            ("Traffic update: A7 closed", "The road is shut after a lorry overturned."),
            ("Traffic update: A7 closed", "Roadworks close the motorway overnight."),
        ),
    ],
)
def test_hard_negatives_are_two_stories(a, b):
    assert not same_story(document(*a), document(*b))


def test_normalization():
    assert terms("The Minister's RESIGNATION, explained!") == ["minister", "resignation", "explain"]
    assert stem("northern") == "north"
    assert names("Rescuers searched Antofagasta on Tuesday. Chile mourned.") == {"antofagasta"}
    assert numbers_agree(frozenset({"2500"}), frozenset({"2531"}))
    assert not numbers_agree(frozenset({"150"}), frozenset({"151"}))


def test_labelled_set_is_large_and_balanced_enough():
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    assert len(rows) >= 200
    assert {r["kind"] for r in rows} == {"paraphrase", "hard", "easy"}
    assert sum(r["same"] for r in rows) >= 100
    assert sum(r["kind"] == "hard" for r in rows) >= 100


def test_quality_on_the_held_out_split():
    """The floor the issue asks for (0.95 / 0.85) on pairs the weights were not tuned on."""
    tp = fp = fn = 0
    for line in PAIRS.read_text().splitlines():
        row = json.loads(line)
        if row["split"] != "test":
            continue
        predicted = similarity(_doc(row["a"]), _doc(row["b"])) >= THRESHOLD
        tp += predicted and row["same"]
        fp += predicted and not row["same"]
        fn += (not predicted) and row["same"]
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.85


text_strategy = st.text(max_size=400)


@given(text_strategy, text_strategy, text_strategy, text_strategy)
def test_similarity_is_a_symmetric_score(t1, s1, t2, s2):
    a, b = document(t1, s1), document(t2, s2)
    score = similarity(a, b)
    assert 0.0 <= score <= 1.0
    # Only the greedy fuzzy matching of titles and names can tell the order apart.
    assert score == pytest.approx(similarity(b, a), abs=W_TITLE + W_NAMES)


@given(text_strategy, text_strategy)
def test_index_terms_are_bounded(title, text):
    chosen = index_terms(document(title, text))
    assert len(chosen) <= MAX_INDEX_TERMS
    assert len(set(chosen)) == len(chosen)
    assert all(0 < len(term) <= 40 for term in chosen)


@given(text_strategy, text_strategy)
def test_stored_features_read_back_as_the_same_document(title, text):
    doc = document(title, text)
    assert decode(encode(doc)) == doc


def test_features_of_another_version_or_missing_are_recomputed():
    doc = document("Earthquake hits southern Peru", "A 6.2 quake struck near Arequipa.")
    assert decode(None) is None and decode("") is None
    assert decode("0" + encode(doc)[1:]) is None  # another version
    assert decode("1\tonly two") is None


word_strategy = st.text(alphabet="abcdeéklmnorstu'", min_size=1, max_size=12)


@given(word_strategy, st.lists(word_strategy, max_size=8))
def test_closest_word_answers_as_rapidfuzz_extract_one(word, choices):
    """The shortcut agrees with the rapidfuzz calls it replaces (first best on ties)."""
    best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=88)
    if best is None and len(word) >= 4:
        best = process.extractOne(
            word,
            [w for w in choices if len(w) >= 4],
            scorer=fuzz.partial_ratio,
            score_cutoff=100,
        )
    assert _closest(word, choices) == (best[0] if best else None)


def test_recently_filed_documents_answer_as_decoding_would(monkeypatch):
    """The memo of what was filed lately gives what decode and index_terms work out, bounded."""
    from feedserver.stories import similarity as sim

    monkeypatch.setattr(sim, "RECENT", 3)
    monkeypatch.setattr(sim, "_RECENT_DOCS", {})
    monkeypatch.setattr(sim, "_RECENT_TERMS", {})
    docs = [
        document(f"Flood reaches {town} overnight", f"Water rose 2 metres in {town} on Monday.")
        for town in ("Arles", "Nîmes", "Avignon", "Orange")
    ]
    for doc in docs:
        sim.remember(encode(doc), doc, sim._index_terms(doc))
    assert len(sim._RECENT_DOCS) == len(sim._RECENT_TERMS) == 3  # the oldest went
    for doc in docs[1:]:
        assert decode(encode(doc)) is doc  # no work: the very document filed
        assert index_terms(doc) == sim._index_terms(doc)
    again = decode(encode(docs[0]))
    assert again == docs[0] and again is not docs[0]  # forgotten: decoded anew, alike
    terms = index_terms(docs[1])
    terms.append("mutated")  # a caller's list is its own
    assert "mutated" not in index_terms(docs[1])


def test_the_placeholder_title_of_untitled_entries_says_nothing():
    """Entries without a title are stored as "Untitled": unrelated ones must not match on it."""
    from feedserver.stories.similarity import UNTITLED

    a = document(UNTITLED, "")
    b = document(UNTITLED, "")
    assert a.title_terms == frozenset() and index_terms(a) == []  # filed under nothing
    assert similarity(a, b) < THRESHOLD
    told = document(UNTITLED, "Harbour cranes stood idle in Rotterdam as dock workers walked out.")
    assert told == document(
        "", "Harbour cranes stood idle in Rotterdam as dock workers walked out."
    )
