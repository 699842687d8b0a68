"""Demo content: sections, staff, sources, a dozen articles and a few comments.

``feedserver demo`` and ``make run`` call :func:`load_demo` on an empty
database. Everything is invented (see feedserver.demo.articles); hosts are
reserved ``.example`` names, so nothing here points at a real organisation.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedserver.demo.articles import ARTICLES, COMMENTS
from feedserver.models import Article, Author, Comment, Section, Source, utcnow

SECTIONS: dict[str, dict[str, str]] = {
    "city": {
        "name": "City",
        "description": "Brackwater's streets, council chamber, trams and neighbourhoods.",
    },
    "science": {
        "name": "Science",
        "description": "Research from the estuary to the night sky, explained.",
    },
    "culture": {
        "name": "Culture",
        "description": "Stage, page, food and the people who fill the city's evenings.",
    },
    "business": {
        "name": "Business",
        "description": "Work, money and the firms that keep the harbour busy.",
    },
    "sport": {
        "name": "Sport",
        "description": "Results, rivalries and the clubs of the lower leagues.",
    },
}

SOURCES: dict[str, dict[str, str]] = {
    "northgate": {
        "name": "Northgate News Agency",
        "home_url": "https://www.northgate-news.example/",
        "section": "business",
    },
    "halvorsen": {
        "name": "Halvorsen Institute for Coastal Research",
        "home_url": "https://halvorsen-institute.example.org/",
        "section": "science",
    },
    "brackwater-council": {
        "name": "Brackwater City Council",
        "home_url": "https://council.brackwater.example/",
        "section": "city",
    },
}

AUTHORS: dict[str, dict[str, str]] = {
    "maren-solberg": {
        "name": "Maren Solberg",
        "bio": (
            "Maren Solberg covers transport and city hall. Before joining the paper she "
            "spent six years on a regional daily's night desk, and she still rides the "
            "number 4 tram to work most mornings. Tips about timetables, potholes and "
            "planning applications are always welcome."
        ),
    },
    "tobias-achterberg": {
        "name": "Tobias Achterberg",
        "bio": (
            "Tobias Achterberg is the science correspondent. He trained as a marine "
            "biologist and spent three winters counting wading birds on the mudflats "
            "before turning to journalism; he writes about research you can see from "
            "your own window, from the estuary to the weather to the night sky."
        ),
    },
    "priya-ramanathan": {
        "name": "Priya Ramanathan",
        "bio": (
            "Priya Ramanathan edits the culture pages and reviews theatre. She grew up "
            "above her parents' print shop on Chandler Row, which she blames for a "
            "lifelong weakness for posters, programmes and anything set in a good typeface."
        ),
    },
    "dele-okonkwo": {
        "name": "Dele Okonkwo",
        "bio": (
            "Dele Okonkwo reports on business and the local economy, from the container "
            "terminal to the corner shop. He spent eight years as an auditor before "
            "becoming a reporter, which is why he reads the footnotes first."
        ),
    },
    "ines-carvalho": {
        "name": "Ines Carvalho",
        "bio": (
            "Ines Carvalho writes about sport and runs the small data desk. She has kept "
            "a spreadsheet of every Brackwater Rovers result since 1998 and is rarely "
            "more than one question away from a chart."
        ),
    },
    "arvid-lindqvist": {
        "name": "Arvid Lindqvist",
        "source": "northgate",
        "bio": (
            "Arvid Lindqvist is a correspondent for the Northgate News Agency, covering "
            "energy and industry along the northern coast. His reports appear here "
            "under the agency's syndication agreement."
        ),
    },
}

Named = TypeVar("Named", Section, Author, Source)


def _reuse_or_add(session: Session, model: type[Named], slug: str, **fields: Any) -> Named:
    """Return the row with this slug, adding it if missing.

    An admin may have created a section or author before loading the demo; its
    slug is unique, so the demo uses that row rather than failing.
    """
    row = session.scalar(select(model).where(model.slug == slug))
    if row is None:
        row = model(slug=slug, **fields)
        session.add(row)
    return row


def _html(body: str) -> str:
    return textwrap.dedent(body).strip()


def load_demo(session: Session, now: datetime | None = None) -> bool:
    """Load the demo content into a site without articles; return whether it did.

    Only flushes: the caller's transaction commits (``with db.session() as s``).
    Rows are created through the ORM so the flush hook keeps every feed scope's
    version and count.
    """
    if session.scalar(select(Article.id).limit(1)) is not None:
        return False
    sections = {
        slug: _reuse_or_add(session, Section, slug, **fields) for slug, fields in SECTIONS.items()
    }
    sources = {
        slug: _reuse_or_add(
            session,
            Source,
            slug,
            name=fields["name"],
            home_url=fields["home_url"],
            section=sections[fields["section"]],
        )
        for slug, fields in SOURCES.items()
    }
    authors = {
        slug: _reuse_or_add(
            session,
            Author,
            slug,
            name=fields["name"],
            bio=fields["bio"],
            source=sources[fields["source"]] if "source" in fields else None,
        )
        for slug, fields in AUTHORS.items()
    }
    session.flush()

    # Whole hours keep the dates tidy; distinct microseconds keep every
    # published/updated instant unique (feed validators warn on ties).
    anchor = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    articles: dict[str, Article] = {}
    for index, item in enumerate(ARTICLES):
        published = anchor - item.age + timedelta(microseconds=104_729 + 7_919 * index)
        updated = published + item.edited_after if item.edited_after else published
        article = Article(
            slug=item.slug,
            title=item.title,
            summary=item.summary,
            body_html=_html(item.body),
            section=sections[item.section],
            source=sources[item.source] if item.source else None,
            original_url=item.original_url,
            published_at=published,
            updated_at=updated,
        )
        session.add(article)
        article.set_authors([authors[slug] for slug in item.authors])
        articles[item.slug] = article
    _add_comments(session, articles)
    session.flush()
    return True


def _add_comments(session: Session, articles: dict[str, Article]) -> None:
    """Add the demo's approved reader comments (the flush hook counts them)."""
    added: list[Comment] = []
    for index, item in enumerate(COMMENTS):
        article = articles[item.article]
        posted = article.published_at + item.after + timedelta(microseconds=31_337 + 613 * index)
        comment = Comment(
            article=article,
            parent=added[item.reply_to] if item.reply_to is not None else None,
            author_name=item.name,
            author_email=item.email,
            author_url=item.url,
            body=item.body,
            status="approved",
            created_at=posted,
            updated_at=posted,
        )
        session.add(comment)
        added.append(comment)
