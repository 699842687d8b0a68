"""The entity check's shortcut: skipping a wide reading without "<!" never changes a verdict."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ParseError
from feeds.upstream import entities
from feeds.upstream.entities import check_doctype

BILLION_LAUGHS = '<!DOCTYPE r [<!ENTITY a "&#38;b;&#38;b;"><!ENTITY b "xxxxxxxxxxxxxxxxxxxxxxxx">]>'


def verdict(body: bytes) -> bool:
    try:
        check_doctype(body, "https://example.test/feed")
    except ParseError:
        return False
    return True


@pytest.mark.parametrize("codec", entities._WIDE)
def test_an_entity_declared_in_a_wide_encoding_is_refused(codec: str) -> None:
    doc = f'<?xml version="1.0" encoding="utf-8"?>{BILLION_LAUGHS}<rss version="2.0"/>'
    # The declaration is only visible in the wide reading of these bytes.
    head = b'<?xml version="1.0" encoding="utf-8"?>'
    head += b" " * (-len(head) % 4)  # aligned for the UTF-16/32 readings
    body = head + doc.encode(codec)
    assert verdict(body) is False


@pytest.mark.parametrize("codec", entities._WIDE)
def test_the_shortcut_reads_each_wide_codec_by_its_own_bytes(codec: str) -> None:
    assert entities._WIDE_MARKS[codec] == "<!".encode(codec)
    assert codecs.lookup(codec).name  # a real codec


def test_a_plain_utf8_feed_passes() -> None:
    body = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel/></rss>'
    assert verdict(body) is True


pieces = st.sampled_from(
    [b"<!ENTITY a 'x'>", b"<!ENTITY % p SYSTEM 'file:///etc/passwd'>", BILLION_LAUGHS.encode()]
    + [BILLION_LAUGHS.encode(c) for c in entities._WIDE]
    + [m for m in entities._WIDE_MARKS.values()]
    + [
        b"\x00",
        b"\xff\xfe",
        b"\xfe\xff",
        b"<",
        b"!",
        b"LZ",
        b"LO",
        b"<?xml version='1.0' encoding='utf-8'?>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(pieces, st.binary(max_size=12)), max_size=12))
def test_the_shortcut_never_changes_a_verdict(parts: list[bytes]) -> None:
    body = b"".join(parts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(entities, "_WIDE_MARKS", {})
        reference = verdict(body)
    assert verdict(body) is reference
