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


XXE_POST = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Sec</title>'
    b"<item><title>XXE explained</title><description><![CDATA[<pre>"
    b'<!ENTITY xxe SYSTEM "file:///etc/passwd">&xxe;</pre>]]></description></item>'
    b"<item><title>Escaped</title><description>&lt;!ENTITY x SYSTEM 'f'&gt;</description></item>"
    b"</channel></rss>"
)


def test_a_declaration_quoted_in_a_cdata_section_is_text() -> None:
    # A security blog's post about XXE: the feed declares nothing.
    assert verdict(XXE_POST) is True
    assert verdict(XXE_POST.decode().encode("utf-16")) is True


@pytest.mark.parametrize(
    "doctype",
    [
        # a real declaration still refused, CDATA sections elsewhere or not
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        BILLION_LAUGHS,
        # a "section" inside entity values must not hide the declaration between
        '<!DOCTYPE r [<!ENTITY a "<![CDATA["><!ENTITY x SYSTEM "file:///x"><!ENTITY b "]]>">]>',
        # an unterminated section hides nothing
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///x">]><![CDATA[',
    ],
)
def test_real_declarations_are_refused_beside_cdata(doctype: str) -> None:
    body = b'<?xml version="1.0"?>' + doctype.encode() + XXE_POST.split(b"?>", 1)[1]
    assert verdict(body) is False


def test_cdata_markers_in_comments_hide_no_declaration() -> None:
    # A "<![CDATA[" in a DTD comment and a "]]>" in a later one must not hide
    # the declarations between them (found by a black-box audit).
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [ <!-- <![CDATA[ -->\n'
        b'<!ENTITY ext SYSTEM "file:///etc/passwd">\n<!-- ]]> --> ]>\n'
        b"<rss version='2.0'><channel><title>&ext;</title></channel></rss>"
    )
    assert verdict(body) is False
    hidden = body.replace(b"<!DOCTYPE", b"<!-- <![CDATA[ --><!DOCTYPE", 1)
    assert verdict(hidden) is False


_PARTS = ["<![CDATA[", "]]>", "<!--", "-->", "<?p ", "?>", "<!ENTITY x SYSTEM 'f'>", "a", "<"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PARTS), max_size=25))
def test_a_doctype_met_first_is_always_checked_strictly(parts: list[str]) -> None:
    # Whatever follows, a DOCTYPE that opens the document (after the XML
    # declaration) is checked whole: nothing after it can hide a declaration.
    text = "<!DOCTYPE r [" + "".join(parts) + "]><r/>"
    body = ('<?xml version="1.0"?>' + text).encode()
    assert verdict(body) is ("<!ENTITY x SYSTEM 'f'>" not in text)


def test_a_stray_declaration_that_feedparser_would_strip_hides_nothing() -> None:
    # feedparser deletes an ENTITY declaration that starts a line before expat
    # reads the document: a "<!--" in one must not make the DOCTYPE after it
    # look like a comment (found by a black-box audit; it was expanded).
    body = (
        b'<?xml version="1.0"?>\n<!ENTITY z <!-- >\n<?pi?><!DOCTYPE rss [ <!ENTITY l0 "lol">'
        b' <!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;"> ]>\n<!-- -->\n'
        b"<rss version='2.0'><channel><title>t</title><item><description>&l1;</description>"
        b"</item></channel></rss>"
    )
    assert verdict(body) is False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*_PARTS, "<!DOCTYPE r [", "]>", "\n"]), max_size=25))
def test_with_a_doctype_anywhere_every_unsafe_declaration_counts(parts: list[str]) -> None:
    text = "".join(parts)
    body = ('<?xml version="1.0"?>' + text + "<r/>").encode()
    unsafe = "<!ENTITY x SYSTEM 'f'>" in text and "<!DOCTYPE" in text
    assert verdict(body) is not unsafe
