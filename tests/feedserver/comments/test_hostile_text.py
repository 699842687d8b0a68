"""One approved comment with a malformed URL-like string cannot take a page down."""

from __future__ import annotations

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedserver.comments.text import body_html, check_website
from tests.factories import make_article, make_comment

MALFORMED = [
    "http://[::1",
    "https://[",
    "http://[::1]x/",
    "http://a:99999999",
    "http://a:-1/",
    "http://[v1.x]/",
    "https://]/",
    "http://[fe80::1%25eth0]/",
    "see http://[::1 and http://ok.example/",
    "(http://a:999999)",
    "http://\u0663/",
    "http://a\u3002b/",
    "http://%zz/",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_body_html_never_raises_on_malformed_urls(text: str) -> None:
    html = str(body_html(text))
    assert "<script" not in html
    assert html.startswith("<p>")


@pytest.mark.parametrize("text", MALFORMED)
def test_check_website_refuses_malformed_urls_without_raising(text: str) -> None:
    problem = check_website(text)
    if text in ("http://[::1", "https://[", "http://a:99999999", "http://a:-1/"):
        assert problem is not None


@pytest.mark.fuzz
@given(st.text(alphabet=st.sampled_from(list("http:/[]@%.:-9a ()\n<>&\"'\u0663")), max_size=60))
def test_body_html_fuzz(text: str) -> None:
    html = str(body_html(text))
    assert "<script" not in html and "javascript:" not in html.lower()


@pytest.mark.fuzz
@given(st.text(max_size=80).map(lambda t: "http://" + t))
def test_body_html_fuzz_after_scheme(text: str) -> None:
    body_html(text)
    check_website(text)


@pytest.mark.parametrize("text", MALFORMED[:5])
def test_article_page_and_comment_feeds_survive(client, db, text: str) -> None:
    with db.session() as s:
        article = make_article(s, slug="story", title="A story")
        make_comment(
            s, article, author_name="Reader", author_email="r@example.net", body=f"look {text}"
        )
        make_comment(
            s,
            article,
            author_name="Other",
            author_email="o@example.net",
            author_url=text,
            body="fine",
        )
    page = client.get("/articles/story")
    assert page.status_code == 200
    assert "look" in page.get_data(as_text=True)
    for fmt in ("atom", "rss"):
        response = client.get(f"/articles/story/comments.{fmt}")
        assert response.status_code == 200, response.data[:300]
        parsed = feedparser.parse(response.data)
        assert len(parsed.entries) == 2


@pytest.mark.parametrize("field", ["name", "comment"])
@pytest.mark.parametrize("char", ["\ufffe", "\ufdd0", "\U0001ffff"])
def test_a_noncharacter_is_refused_like_a_control(field: str, char: str) -> None:
    from feedserver.comments.text import check_submission

    form = {"name": "Ada", "email": "ada@example.net", "comment": "Fine words.", field: f"a{char}b"}
    assert field in check_submission(form).errors
