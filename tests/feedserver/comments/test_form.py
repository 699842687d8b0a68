"""The "Leave a Reply" form: what it shows, what it accepts, and what it refuses."""

from __future__ import annotations

import html
import io

import pytest

from feedserver.comments.views import CSRF_REFUSED
from tests.factories import make_article, make_comment
from tests.feedserver.comments_support import (
    FORM,
    comments,
    csrf_token,
    post_comment,
    set_status,
)


@pytest.fixture
def story(db):
    with db.session() as s:
        article = make_article(s, slug="story", title="A story")
        return article.id


def page(client, path="/articles/story"):
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- the form --------------------------------------------------------------------


def test_article_page_carries_the_form(client, story):
    body = page(client)
    assert '<h3 id="reply-title" class="comment-reply-title">Leave a Reply</h3>' in body
    assert 'action="/articles/story/comments" aria-labelledby' in body
    assert 'method="post"' in body
    assert "Your email address will not be published." in body
    for name, label in [("comment", "Comment"), ("name", "Name"), ("email", "Email")]:
        assert (
            f'<label for="comment-{name}">{label} <span class="required" aria-hidden="true">*</span></label>'
            in body
        )
        assert f'name="{name}"' in body
    assert body.count(" required aria-required") == 3  # website is optional
    assert '<label for="comment-website">Website</label>' in body
    assert 'name="csrf_token"' in body
    trap = body[body.index('class="comment-field-trap"') :][:400]
    assert 'name="subject"' in trap and 'tabindex="-1"' in trap and 'autocomplete="off"' in trap
    assert 'href="/static/comments.css"' in body
    assert "style=" not in body.split('id="comments"')[1]  # the CSP forbids inline styles
    css = client.get("/static/comments.css")
    assert css.status_code == 200 and b".comment-field-trap" in css.data


def test_a_comment_waits_for_moderation(client, db, story):
    response = post_comment(
        client, name="  Ada Reader ", website=" https://ada.example/ ", comment=" Hi!\r\n"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/articles/story?comment=awaiting-moderation#comments"
    [row] = comments(db)
    assert row.status == "pending"
    assert (row.author_name, row.author_email, row.author_url, row.body) == (
        "Ada Reader", "ada.reader@example.net", "https://ada.example/", "Hi!"
    )  # fmt: skip
    assert row.parent_id is None
    # Only a salted hash of the address is kept.
    assert len(row.ip_hash) == 64 and "203.0.113.7" not in row.ip_hash
    body = page(client, "/articles/story?comment=awaiting-moderation")
    assert "Your comment is awaiting moderation" in body
    assert "Hi!" not in body  # not shown before it is approved
    assert "Your comment is awaiting moderation" not in page(client)


@pytest.mark.parametrize("missing", ["name", "email", "comment"])
def test_each_missing_field_is_named_and_input_kept(client, db, story, missing):
    data = dict(FORM, website="https://kept.example/", comment="Keep <this> text")
    data[missing] = ""
    response = post_comment(client, **data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f"{missing.capitalize()} is required." in body
    assert 'aria-invalid="true"' in body
    for field in ("name", "email", "website", "comment"):
        if field != missing:
            assert html.escape(data[field], quote=True).replace("&#x27;", "&#39;") in body
    assert "Keep &lt;this&gt; text" in body or missing == "comment"
    assert comments(db) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "n" * 101, "Name must be at most 100 characters (it has 101)."),
        ("email", "e" * 64 + "@" + "x" * 187 + ".com", "Email must be at most 254 characters"),
        ("website", "https://example.org/" + "w" * 481, "Website must be at most 500 characters"),
        ("comment", "c" * 5001, "Comment must be at most 5,000 characters (it has 5,001)."),
    ],
)
def test_each_oversized_field_is_refused(client, db, story, field, value, message):
    response = post_comment(client, **{field: value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert comments(db) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("website", "javascript:alert(1)", "starting with http:// or https://"),
        ("email", "not-an-address", "Email must look like name@example.com."),
        ("name", "Ada\x1b[2J", "Name contains control characters."),
        ("comment", "beep\x07", "Comment contains control characters."),
    ],
)
def test_malformed_fields_are_refused(client, db, story, field, value, message):
    response = post_comment(client, **{field: value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert comments(db) == []


def test_oversized_request_is_a_clean_413(client, db, story):
    response = post_comment(client, comment="x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "413" in response.get_data(as_text=True)
    assert comments(db) == []


def test_unknown_article_is_404(client, db, story):
    response = post_comment(client, slug="no-such-story")
    assert response.status_code == 404
    assert "no-such-story" in response.get_data(as_text=True)
    assert comments(db) == []


def test_closed_article_refuses_comments(client, db):
    with db.session() as s:
        article = make_article(s, slug="closed", comments_open=False)
        make_comment(s, article, body="An old approved remark.")
    response = post_comment(client, slug="closed")
    assert response.status_code == 403
    assert "Comments are closed on this article" in response.get_data(as_text=True)
    assert len(comments(db)) == 1
    body = page(client, "/articles/closed")
    assert "Comments are closed." in body
    assert "An old approved remark." in body
    assert "<form" not in body.split('id="comments"')[1]
    assert "replytocom" not in body


def test_honeypot_refuses_and_stores_nothing(client, db, story):
    response = post_comment(client, subject="Buy cheap watches")
    assert response.status_code == 400
    assert "refused as automated" in response.get_data(as_text=True)
    assert comments(db) == []


@pytest.fixture
def app_config(app_config):
    app_config["COMMENT_RATE_LIMITS"] = [[3, 60], [5, 3600]]
    return app_config


def test_flood_is_limited_per_client(client, db, story):
    for n in range(3):
        assert post_comment(client, comment=f"Remark {n}").status_code == 303
    response = post_comment(client, comment="Remark 3")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "too many comments" in response.get_data(as_text=True)
    assert len(comments(db)) == 3
    # Another client is not affected.
    assert post_comment(client, ip="198.51.100.9", comment="Elsewhere").status_code == 303
    assert len(comments(db)) == 4


def test_hourly_limit_counts_older_comments(client, db, story):
    from datetime import timedelta

    from feedserver.comments.text import ip_hash
    from feedserver.models import Article, utcnow

    client_hash = ip_hash("203.0.113.7", "test-secret-key")
    with db.session() as s:
        article = s.get(Article, story)
        for n in range(5):
            make_comment(
                s,
                article,
                ip_hash=client_hash,
                status="pending",
                created_at=utcnow() - timedelta(minutes=10 + n),
            )
    response = post_comment(client, comment="One too many this hour")
    assert response.status_code == 429
    assert 60 < int(response.headers["Retry-After"]) <= 3600 - 13 * 60
    assert len(comments(db)) == 5


def test_duplicates_are_ignored_quietly(client, db, story):
    first = post_comment(client, comment="Same words")
    again = post_comment(client, comment="Same words")
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    # The same body from the same client under another name is a duplicate too.
    assert post_comment(client, name="Someone Else", comment="Same words").status_code == 303
    assert len(comments(db)) == 1
    # The same words from someone else elsewhere are a comment of their own.
    post_comment(client, ip="198.51.100.9", name="Bo", email="bo@example.net", comment="Same words")
    assert len(comments(db)) == 2


def test_csrf_is_enforced_when_enabled(app, db, story):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = post_comment(client)
    assert response.status_code == 400
    assert CSRF_REFUSED.split(",")[0] in response.get_data(as_text=True)
    response = post_comment(client, csrf_token="forged-token")
    assert response.status_code == 400
    assert comments(db) == []
    token = csrf_token(page(client))
    too_big = post_comment(client, csrf_token=token, comment="x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413 and "413" in too_big.get_data(as_text=True)
    assert comments(db) == []
    assert post_comment(client, csrf_token=token).status_code == 303
    assert len(comments(db)) == 1


def test_an_oversized_chunked_form_is_413_and_stores_nothing(app, db, story):
    """Sent chunked (no Content-Length), a form cut at the limit was read and stored."""
    from urllib.parse import urlencode

    from tests.feedserver.comments_support import FORM

    client = app.test_client()
    limit = app.config["MAX_CONTENT_LENGTH"]

    def chunked(body: bytes):
        return client.post(
            "/articles/story/comments",
            input_stream=io.BytesIO(body),
            headers={
                "Transfer-Encoding": "chunked",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            environ_overrides={"wsgi.input_terminated": True},  # as granian and gunicorn set it
            environ_base={"REMOTE_ADDR": "203.0.113.7"},
        )

    too_big = chunked(urlencode(FORM).encode() + b"&pad=" + b"a" * (3 * limit))
    assert too_big.status_code == 413 and "1,048,576 bytes" in too_big.get_data(as_text=True)
    assert comments(db) == []
    fine = chunked(urlencode(FORM).encode())  # within the limit, chunked is read as usual
    assert fine.status_code == 303
    assert [c.body for c in comments(db)] == [FORM["comment"]]


# --- replies and rendering ---------------------------------------------------------


@pytest.fixture
def thread(db, story):
    with db.session() as s:
        from feedserver.models import Article

        article = s.get(Article, story)
        top = make_comment(s, article, author_name="Top Poster", body="First!")
        reply = make_comment(s, article, author_name="Replier", body="Answer", parent=top)
        hidden = make_comment(s, article, author_name="Held", body="Held back", status="pending")
        return {"top": top.id, "reply": reply.id, "pending": hidden.id}


def test_reply_link_fills_parent_id(client, thread):
    body = page(client)
    assert f'href="/articles/story?replytocom={thread["top"]}#respond"' in body
    form = page(client, f"/articles/story?replytocom={thread['top']}")
    assert f'<input type="hidden" name="parent_id" value="{thread["top"]}">' in form
    assert "Reply to Top Poster" in form and "Cancel reply" in form
    # Replying to a reply joins the top-level thread.
    form = page(client, f"/articles/story?replytocom={thread['reply']}")
    assert f'name="parent_id" value="{thread["top"]}"' in form
    # A comment not shown cannot be replied to.
    form = page(client, f"/articles/story?replytocom={thread['pending']}")
    assert 'name="parent_id"' not in form


def test_replies_attach_one_level_deep(client, db, thread):
    assert (
        post_comment(client, comment="To the top", parent_id=str(thread["top"])).status_code == 303
    )
    assert (
        post_comment(client, comment="To the reply", parent_id=str(thread["reply"])).status_code
        == 303
    )
    new = comments(db)[-2:]
    assert [c.parent_id for c in new] == [thread["top"], thread["top"]]


@pytest.mark.parametrize("parent", ["pending", "bogus", "unknown"])
def test_reply_to_unavailable_comment_is_refused(client, db, thread, parent):
    target = {"pending": str(thread["pending"]), "bogus": "12abc", "unknown": "999999"}[parent]
    response = post_comment(client, comment="Hello?", parent_id=target)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "The comment you are replying to is not available." in body
    assert "Hello?" in body
    assert len(comments(db)) == 3


def test_approved_comments_are_threaded_on_the_page(client, db, thread):
    body = page(client)
    assert "2 comments on “A story”" in body
    top = body.index(f'id="comment-{thread["top"]}"')
    replies = body.index('<ol class="comment-replies">')
    reply = body.index(f'id="comment-{thread["reply"]}"')
    assert top < replies < reply
    assert "Held back" not in body
    set_status(db, thread["pending"], "approved")
    assert "Held back" in page(client)
    set_status(db, thread["top"], "spam")
    body = page(client)
    assert "First!" not in body
    assert "Answer" in body and '<ol class="comment-replies">' not in body  # stands alone now


def test_only_web_addresses_become_name_links(client, db, story):
    with db.session() as s:
        from feedserver.models import Article

        make_comment(s, s.get(Article, story), author_name="Sly", author_url="javascript:alert(1)")
    body = page(client)
    assert "Sly" in body and "javascript:" not in body


def test_body_paragraphs_links_and_website(client, db, story):
    with db.session() as s:
        from feedserver.models import Article

        make_comment(
            s, s.get(Article, story), author_name="Linker", author_url="https://linker.example/",
            body="Para one\nline two\n\nPara two with https://example.org/x?a=1&b=2.",
        )  # fmt: skip
    body = page(client)
    assert (
        '<a href="https://linker.example/" rel="nofollow ugc noopener"><bdi>Linker</bdi></a>'
        in body
    )
    assert "<p>Para one<br>\nline two</p>" in body
    assert (
        '<p>Para two with <a href="https://example.org/x?a=1&amp;b=2" rel="nofollow ugc noopener">'
        "https://example.org/x?a=1&amp;b=2</a>.</p>"
    ) in body


HOSTILE = {
    "name": 'Eve "<script" & Co',
    "email": "x@example.net",
    "website": "https://evil.example/'onmouseover='alert(1)",  # ' is allowed in a URL, " is not
    "comment": '<img src=x onerror=alert(1)> javascript:alert(2) http://evil.example/"><script>alert(3)</script>',
}


def test_markup_in_every_field_is_escaped_on_the_page(client, db, story):
    assert post_comment(client, **HOSTILE).status_code == 303
    [row] = comments(db)
    set_status(db, row.id, "approved")
    body = page(client)
    section = body.split('id="comments"')[1]
    assert "<script>alert" not in section and "<img" not in section
    assert "Eve &#34;&lt;script&#34; &amp; Co" in section
    assert 'href="https://evil.example/&#39;onmouseover=&#39;alert(1)"' in section
    assert "&lt;img src=x onerror=alert(1)&gt; javascript:alert(2)" in section
    assert 'href="javascript' not in section
    assert '<a href="http://evil.example/" rel="nofollow ugc noopener">' in section


@pytest.mark.parametrize(
    "name",
    [
        '<script>alert("name")</script>',
        "<b>Eve</b>",
        "Eve </em>",
        "Tom &amp; Jerry",
        "it&#8217;s me",
    ],
)
def test_a_name_written_as_markup_is_refused(client, db, story, name):
    # The name is the comment feeds' Atom <name>, plain text: as "</b>" or
    # "&amp;" it drew the W3C validator's "name should not contain HTML".
    response = post_comment(client, name=name)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Name must be plain text" in body
    assert "<script>alert" not in body
    assert comments(db) == []


@pytest.mark.parametrize("name", ["Mallory <mal@example.com>", "mal@example.com"])
def test_a_name_holding_an_e_mail_address_is_refused(client, db, story, name):
    # The name is published; the address belongs in the e-mail field, which is
    # not (and as a feed's <author><name> it drew the validator's ContainsEmail).
    response = post_comment(client, name=name)
    assert response.status_code == 422
    assert "Name must not contain an e-mail address" in response.get_data(as_text=True)
    assert comments(db) == []


def test_error_page_escapes_the_input_it_keeps(client, db, story):
    response = post_comment(client, **dict(HOSTILE, email="bad"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and "<img" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert comments(db) == []


@pytest.mark.parametrize(
    "website", ['https://evil.example/"onmouseover="x', "https://a:b@evil.example\\@good.example/"]
)
def test_a_website_no_url_could_hold_is_refused(client, db, story, website):
    """Quotes, backslashes and credentials: browsers and parsers read such links differently."""
    response = post_comment(client, website=website)
    assert response.status_code == 422
    assert comments(db) == []


def _at_once(app, n: int, **fields_of) -> list[int]:
    """Post ``n`` comments from one client address at the same moment; their statuses."""
    from tests.races import at_once

    def send(i: int):
        client = app.test_client()
        fields = {k: (v(i) if callable(v) else v) for k, v in fields_of.items()}
        return lambda: post_comment(client, **fields).status_code

    return sorted(at_once(*(send(i) for i in range(n))))


def test_a_double_click_stores_one_comment(app, db, story):
    # Posted at once, the duplicate check of each must see the others' insert.
    for attempt in range(3):
        statuses = _at_once(app, 6, comment=f"Clicked twice {attempt}")
        assert statuses == [303] * 6
    assert [c.body for c in comments(db)] == [f"Clicked twice {n}" for n in range(3)]


def test_a_flood_sent_at_once_is_limited_all_the_same(app, db, story):
    statuses = _at_once(app, 8, comment=lambda i: f"Flood {i}")
    assert statuses == [303] * 3 + [429] * 5
    assert len(comments(db)) == 3


def test_a_form_of_too_many_parts_is_refused_for_that_not_its_size(client, db, story):
    fields = dict(FORM, **{f"extra{n}": "x" for n in range(1500)})
    response = client.post(
        "/articles/story/comments",
        data=fields,
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "more fields or parts" in text and "larger than" not in text
    assert comments(db) == []


def test_a_refused_token_shows_the_form_again_with_the_readers_text(app, db, story):
    # A session that ended while the reader wrote (or a browser that keeps no
    # cookie) got a bare 400 page, and the comment they typed was lost.
    app.config["WTF_CSRF_ENABLED"] = True
    token = csrf_token(page(app.test_client()))
    cookieless = app.test_client(use_cookies=False)
    words = "A long comment about the harbour <b>that took a while</b> to write."
    refused = post_comment(cookieless, csrf_token=token, comment=words, name="Rae")
    assert refused.status_code == 400 and refused.headers["Cache-Control"] == "no-store"
    html = refused.get_data(as_text=True)
    assert CSRF_REFUSED.split(",")[0] in html
    assert "A long comment about the harbour &lt;b&gt;that took a while&lt;/b&gt; to write." in html
    assert 'value="Rae"' in html
    assert comments(db) == []
    # Sent again from a browser that keeps the cookie, with the page's new token, it goes in.
    client = app.test_client()
    again = post_comment(client, csrf_token=csrf_token(page(client)), comment=words)
    assert again.status_code == 303 and len(comments(db)) == 1


def test_a_reply_refused_for_its_token_is_still_a_reply_when_sent_again(app, db, thread):
    app.config["WTF_CSRF_ENABLED"] = True
    refused = post_comment(
        app.test_client(use_cookies=False), csrf_token="stale", parent_id=str(thread["top"])
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert f'<input type="hidden" name="parent_id" value="{thread["top"]}">' in html
    assert "Reply to Top Poster" in html
