"""Properties of this session's URL and text boundaries: never raise, settle at once."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feeds.sanitize import clean_html, flatten_deep
from feedserver.publishing.queries import _shown_label
from feedserver.publishing.websub.endpoint import same_callback
from feedserver.urls import without_empty_query

pytestmark = pytest.mark.fuzz

URL_CHARS = st.sampled_from(list("ab/?#%:@.-_~cZ09") + ["%63", "%2f", "%FF", "??", "é", "а"])
urls = st.builds(
    lambda scheme, host, tail: f"{scheme}://{host}{tail}",
    st.sampled_from(["http", "HTTP", "https"]),
    st.sampled_from(["h.example", "H.Example:81", "127.0.0.1", "[::1]:8080"]),
    st.lists(URL_CHARS, max_size=20).map("".join),
)


@given(urls)
@example("http://h.example/%a%63")  # became "%ac", another escape, and did not settle
def test_a_callbacks_one_spelling_is_its_own_one_spelling(url: str) -> None:
    once = same_callback(url)
    assert same_callback(once) == once
    assert once.split("://", 1)[0] == url.split("://", 1)[0].lower()


@given(urls)
def test_dropping_an_empty_query_settles_and_keeps_any_other(url: str) -> None:
    once = without_empty_query(url)
    assert without_empty_query(once) == once
    assert once == url or (url.startswith(once) and set(url[len(once) :]) == {"?"})


@given(st.text(max_size=40))
def test_a_host_label_is_always_shown_as_something(label: str) -> None:
    shown = _shown_label(label)
    assert isinstance(shown, str)
    assert all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") for ch in shown)


@given(
    st.lists(
        st.sampled_from(["<div>", "</div>", "<p>", "<b>", "</b>", "<br>", "w", " "]), max_size=600
    )
)
def test_flattening_deep_markup_keeps_every_word(pieces: list[str]) -> None:
    html = "".join(pieces)
    assert flatten_deep(html, 5).count("w") == html.count("w")
    assert clean_html(html).count("w") == html.count("w")
