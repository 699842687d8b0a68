"""Three sources telling one story, and helpers to write and read articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from feedserver.models import Article, Section, Source
from tests.factories import make_article, make_author, make_section, make_source

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

QUAKE = [
    (
        "Strong earthquake hits northern Chile, killing 12",
        "A magnitude 7.1 earthquake struck near Antofagasta on Tuesday, killing at least 12 "
        "people, Chile's emergency office said.",
    ),
    (
        "Quake of magnitude 7.1 strikes Chile's north",
        "At least twelve people died when the quake shook Antofagasta region late on Tuesday; "
        "ONEMI reported widespread blackouts.",
    ),
    (
        "Twelve dead as 7.1 tremor shakes Antofagasta",
        "Rescuers in Chile searched collapsed buildings in Antofagasta after the 7.1 "
        "earthquake, which left 12 dead.",
    ),
]
PERU = (
    "Earthquake hits southern Peru, no casualties reported",
    "A magnitude 6.2 earthquake struck near Arequipa on Tuesday, Peru's geophysical "
    "institute said, with no reports of deaths.",
)


def newsroom(db: Any) -> dict[str, int]:
    """Sections world/science, sources a/b/c, author ada: name → id."""
    with db.session() as s:
        rows = {
            "world": make_section(s, slug="world", name="World"),
            "science": make_section(s, slug="science", name="Science"),
            "a": make_source(
                s, slug="agency", name="Agency Wire", home_url="https://agency.example/"
            ),
            "b": make_source(
                s, slug="herald", name="Daily Herald", home_url="https://herald.example/"
            ),
            "c": make_source(
                s, slug="gazette", name="Gazette", home_url="https://gazette.example/"
            ),
            "ada": make_author(s, slug="ada", name="Ada Lovelace"),
        }
        s.flush()
        return {name: row.id for name, row in rows.items()}


def write(
    db: Any,
    ids: dict[str, int],
    slug: str,
    text: tuple[str, str],
    source: str | None,
    hours: float = 0,
    section: str = "world",
    original: bool = True,
) -> int:
    """Store one article through the ORM (as the API and admin do); return its id."""
    with db.session() as s:
        from feedserver.models import Author

        article = make_article(
            s,
            slug=slug,
            title=text[0],
            summary=text[1],
            section=s.get(Section, ids[section]),
            source=s.get(Source, ids[source]) if source else None,
            original_url=f"https://{source}.example/{slug}" if source and original else None,
            published_at=T0 + timedelta(hours=hours),
            authors=[s.get(Author, ids["ada"])],
        )
        return article.id


def story_of(db: Any, article_id: int) -> int | None:
    with db.session() as s:
        return s.scalar(select(Article.story_id).where(Article.id == article_id))


def quake_story(db: Any, ids: dict[str, int]) -> list[int]:
    """The quake told by sources a, b and c, one hour apart."""
    return [
        write(db, ids, f"quake-{n}", QUAKE[n], source, hours=n)
        for n, source in enumerate(("a", "b", "c"))
    ]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
