"""comment_text: the field checks and the escaped, paragraphed, linkified body."""

from __future__ import annotations

import pytest

from feedserver.comments.text import (
    body_html,
    check_submission,
    check_website,
    content_hash,
    ip_hash,
)

GOOD = {"name": "Ada", "email": "ada@example.net", "website": "", "comment": "Hi"}


def test_fields_are_stripped_and_line_ends_unified():
    sub = check_submission(
        {
            "name": "  Ada ",
            "email": " ada@example.net\t",
            "website": " https://ada.example/ ",
            "comment": "\r\n one\r\ntwo\r\n\r\nthree \r\n",
        }
    )
    assert sub.ok, sub.errors
    assert (sub.name, sub.email, sub.website) == ("Ada", "ada@example.net", "https://ada.example/")
    assert sub.comment == "one\ntwo\n\nthree"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Name is required."),
        ("name", "x" * 101, "at most 100"),
        ("name", "Ada\x00", "control characters"),
        ("name", "Ada\nLovelace", "control characters"),
        ("name", "Ada\u202e.moc.live", "bidirectional control character (U+202E)"),
        ("name", "\u2067Ada", "bidirectional control character (U+2067)"),
        ("name", "\u200b\u2060", "Name is required."),  # invisible only: empty
        ("email", "", "Email is required."),
        ("email", "no-at-sign.example", "look like"),
        ("email", "two@@example.net", "look like"),
        ("email", "nodot@localhost", "look like"),
        ("email", "a b@example.net", "look like"),
        ("email", "a@example.net\x07", "look like"),
        ("email", "a" * 64 + "@" + "b" * 186 + ".com", "at most 254"),
        ("website", "javascript:alert(1)", "http:// or https://"),
        ("website", "ftp://example.org/", "http:// or https://"),
        ("website", "https://", "http:// or https://"),
        ("website", "https://exa mple.org/", "without spaces"),
        ("website", "https://example.org/" + "a" * 481, "at most 500"),
        ("comment", "\n \n", "Comment is required."),
        ("comment", "x" * 5001, "at most 5,000"),
        ("comment", "bell\x07", "control characters"),
        ("comment", "escape\x1b[31m", "control characters"),
    ],
)
def test_each_problem_is_named(field, value, message):
    sub = check_submission(dict(GOOD, **{field: value}))
    assert set(sub.errors) == {field}
    assert message in sub.errors[field]


def test_invisible_characters_leave_a_name():
    sub = check_submission(dict(GOOD, name="Ada\u200b Lovelace\ufeff"))
    assert sub.ok and sub.name == "Ada Lovelace"


def test_limits_are_inclusive():
    sub = check_submission(
        {
            "name": "n" * 100,
            "email": "a" * 64 + "@" + "b" * 185 + ".com",
            "website": "https://example.org/" + "a" * 480,
            "comment": "c" * 5000,
        }
    )
    assert sub.ok, sub.errors


def test_tabs_and_newlines_are_fine_in_a_comment():
    assert check_submission(dict(GOOD, comment="a\tb\nc")).ok


def test_website_accepts_http_and_https_only():
    assert check_website("http://example.org") is None
    assert check_website("HTTPS://Example.org/path?q=1") is None
    assert check_website("data:text/html,hi") is not None


def test_body_paragraphs_and_line_breaks():
    assert str(body_html("one\ntwo\n\n\nthree")) == "<p>one<br>\ntwo</p>\n<p>three</p>\n"


def test_body_is_escaped_before_anything_else():
    html = str(body_html("<script>alert(\"x\")</script> & 'quotes'"))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quotes&#39;" in html


def test_bare_urls_become_safe_links():
    html = str(body_html("See https://example.org/a?b=1&c=2. Or (http://example.net/x)!"))
    assert (
        '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow ugc noopener">'
        "https://example.org/a?b=1&amp;c=2</a>." in html
    )
    assert '(<a href="http://example.net/x" rel="nofollow ugc noopener">' in html


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        '<a href="javascript:alert(1)">x</a>',
        'https://example.org/"onmouseover="alert(1)',
        "https://example.org/'><script>alert(1)</script>",
        "javascript:https://example.org/",
    ],
)
def test_no_markup_or_script_link_can_be_smuggled(text):
    html = str(body_html(text))
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert 'onmouseover="' not in html
    # Every tag in the output is one we wrote.
    import re

    tags = re.findall(r"<(/?[a-z]+)", html)
    assert set(tags) <= {"p", "/p", "a", "/a", "br"}


def test_hashes_are_stable_and_salted():
    assert content_hash("Ada", "A@x.org", "hi") == content_hash("ada", "a@x.org", "hi")
    assert content_hash("Ada", "a@x.org", "hi") != content_hash("Ada", "a@x.org", "hi!")
    one = ip_hash("203.0.113.7", "secret-1")
    assert one == ip_hash("203.0.113.7", "secret-1")
    assert one != ip_hash("203.0.113.7", "secret-2")
    assert len(one) == 64 and "203" not in one
