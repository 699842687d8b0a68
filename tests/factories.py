"""Factories for rows: sensible defaults, unique slugs, override anything."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from feedserver.models import Article, Author, Comment, Section, Source

_seq = itertools.count(1)
BASE_TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_section(session: Session, **kw: Any) -> Section:
    n = next(_seq)
    kw.setdefault("slug", f"section-{n}")
    kw.setdefault("name", f"Section {n}")
    section = Section(**kw)
    session.add(section)
    session.flush()
    return section


def make_author(session: Session, **kw: Any) -> Author:
    n = next(_seq)
    kw.setdefault("slug", f"author-{n}")
    kw.setdefault("name", f"Author {n}")
    kw.setdefault("bio", f"Author {n} covers things for the tests.")
    author = Author(**kw)
    session.add(author)
    session.flush()
    return author


def make_source(session: Session, **kw: Any) -> Source:
    n = next(_seq)
    kw.setdefault("slug", f"source-{n}")
    kw.setdefault("name", f"Source {n}")
    kw.setdefault("home_url", f"https://source{n}.example.org/")
    source = Source(**kw)
    session.add(source)
    session.flush()
    return source


def made_up_word(n: int, salt: int = 0) -> str:
    """A pronounceable word no other (n, salt) gives: default texts share no word.

    Default articles must never look like one story to the story grouping
    (feedserver.stories), whatever order the tests run in.
    """
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    value, letters = n * 7 + salt, []
    while True:
        value, c = divmod(value, len(consonants))
        value, v = divmod(value, len(vowels))
        letters.append(consonants[c] + vowels[v])
        if not value:
            break
    return "".join(letters).capitalize() + "x"


def make_article(session: Session, *, authors: list[Author] | None = None, **kw: Any) -> Article:
    n = next(_seq)
    kw.setdefault("slug", f"article-{n}")
    kw.setdefault("title", f"{made_up_word(n)} {made_up_word(n, 1)} {n}")
    kw.setdefault("summary", f"{made_up_word(n, 2)} {made_up_word(n, 3)}.")
    kw.setdefault("body_html", f"<p>{made_up_word(n, 4)} {made_up_word(n, 5)}.</p>")
    if "section" not in kw and "section_id" not in kw:
        kw["section"] = make_section(session)
    kw.setdefault("published_at", BASE_TIME + timedelta(minutes=n, microseconds=n))
    kw.setdefault("updated_at", kw["published_at"])
    article = Article(**kw)
    session.add(article)
    article.set_authors(authors if authors is not None else [make_author(session)])
    session.flush()
    return article


def make_comment(session: Session, article: Article, **kw: Any) -> Comment:
    n = next(_seq)
    kw.setdefault("author_name", f"Reader {n}")
    kw.setdefault("author_email", f"reader{n}@example.net")
    kw.setdefault("body", f"Comment {n} on the article.")
    kw.setdefault("status", "approved")
    comment = Comment(article=article, **kw)
    session.add(comment)
    session.flush()
    return comment


def make_desk(session: Session) -> tuple[Section, Section, Author, Author]:
    """The newsroom most tests write in: sections world and science, authors ada and bo."""
    return (
        make_section(session, slug="world", name="World", description="News from abroad."),
        make_section(session, slug="science", name="Science"),
        make_author(session, slug="ada", name="Ada Lovelace", bio="Ada writes about engines."),
        make_author(session, slug="bo", name="Bo Chen", bio="Bo covers the harbour."),
    )
