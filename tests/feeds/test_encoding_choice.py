"""feeds.conditional.choose_encoding: RFC 9110 §12.5.3's choice among br, gzip, identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.conditional import choose_encoding


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("gzip, br", "br"),  # equals: the smaller
        ("br;q=1, gzip;q=1", "br"),
        ("gzip;q=1, br;q=0.9", "gzip"),  # the client prefers gzip
        ("br;q=0.001, gzip;q=1.000", "gzip"),
        ("br;q=0.5, gzip;q=0.4", "br"),
        ("gzip;q=0, br;q=0", "identity"),
        ("br;q=0, *", "gzip"),
        ("*", "br"),
        ("*;q=0.5, gzip", "gzip"),
        ("identity", "identity"),
        ("x-gzip", "gzip"),  # §8.4.1.3
        ("GZIP;Q=0.8, BR;Q=0.7", "gzip"),
        ("gzip;q=abc, br;q=nan", "identity"),  # unreadable: not acceptable
        ("br;q=7, gzip;q=1", "br"),  # out of range: clamped to 1, then the tie rule
        ("gzip;level=9;q=0.2, br;q=0.1", "gzip"),  # q after another parameter
        ("compress, deflate", "identity"),
        # identity rated above every coding is chosen; an equal rating compresses.
        ("identity;q=1, gzip;q=0.5", "identity"),
        ("gzip;q=0.5, br;q=0.4, identity", "identity"),
        ("identity;q=0.5, gzip", "gzip"),
        ("identity, gzip", "gzip"),
        ("*;q=0.3, identity;q=0.2", "br"),
    ],
)
def test_the_highest_acceptable_quality_wins(header, chosen):
    assert choose_encoding(header) == chosen


@given(st.floats(0.001, 1.0), st.floats(0.001, 1.0))
def test_a_strictly_preferred_coding_is_chosen(q_gzip, q_br):
    header = f"gzip;q={q_gzip:.3f}, br;q={q_br:.3f}"
    expected = "gzip" if round(q_gzip, 3) > round(q_br, 3) else "br"
    assert choose_encoding(header) == expected
