"""A story's leads and listing counts stay exact however its members arrive.

A newcomer refreshes only the current leads and itself (not every member), so
these tests check the result against the definition: the earliest article
leads the site, the earliest in each section leads that section, and the
scope counts equal a recount from scratch.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from feedserver.models import Article, ScopeVersion
from feedserver.models.scopes import SITE, bump_scopes, section_key, source_key
from feedserver.stories.grouping import group_new
from feedserver.stories.leads import refresh
from tests.factories import make_section, make_source
from tests.feedserver.stories.stories_support import QUAKE, T0

MEMBERS = 14


def _arrange(db) -> tuple[list[int], list[int]]:
    with db.session() as s:
        sections = [make_section(s, slug=f"sec-{i}", name=f"Section {i}") for i in range(2)]
        sources = [make_source(s, slug=f"wire-{i}", name=f"Wire {i}") for i in range(MEMBERS)]
        s.flush()
        return [x.id for x in sections], [x.id for x in sources]


def _store(db, source: int, section: int, offset: float, n: int) -> int:
    """Insert one article as the poller does (Core, scopes bumped, then group_new)."""
    title, summary = QUAKE[n % len(QUAKE)]
    with db.session() as s:
        ident = s.execute(
            insert(Article).returning(Article.id),
            [
                {
                    "slug": f"member-{n}",
                    "uid": f"00000000-0000-4000-8000-{n:012d}",
                    "title": title,
                    "summary": summary,
                    "body_html": "",
                    "section_id": section,
                    "source_id": source,
                    "published_at": T0 + timedelta(minutes=offset),
                    "updated_at": T0,
                    "created_at": T0,
                }
            ],
        ).scalar_one()
        bump_scopes(s, {SITE: 1, section_key(section): 1, source_key(source): 1})
        group_new(s, [ident])
        return int(ident)


def _expected(rows) -> dict[int, tuple[bool, bool]]:
    ordered = sorted(rows, key=lambda r: (r.published_at, r.id))
    section_leads: dict[int, int] = {}
    for r in ordered:
        section_leads.setdefault(r.section_id, r.id)
    return {r.id: (r.id != ordered[0].id, section_leads[r.section_id] != r.id) for r in rows}


def _counts(db) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(ScopeVersion.key, ScopeVersion.item_count)).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_members_arriving_in_any_order_keep_exact_leads_and_counts(db, seed):
    rng = random.Random(seed)
    sections, sources = _arrange(db)
    # Published within a few hours, stored in a shuffled order: some newcomers
    # are back-dated and take the lead, in the site or in their section.
    plan = [(sources[i], rng.choice(sections), rng.uniform(0, 300)) for i in range(MEMBERS)]
    rng.shuffle(plan)
    ids = []
    for n, (source, section, offset) in enumerate(plan):
        ids.append(_store(db, source, section, offset, n))
        with db.session() as s:
            rows = s.execute(
                select(
                    Article.id,
                    Article.story_id,
                    Article.section_id,
                    Article.published_at,
                    Article.story_hidden,
                    Article.story_section_hidden,
                ).where(Article.id.in_(ids))
            ).all()
        assert len({r.story_id for r in rows}) == 1 and (n == 0 or rows[0].story_id)
        if n:
            flags = {r.id: (r.story_hidden, r.story_section_hidden) for r in rows}
            assert flags == _expected(rows)
    before = _counts(db)
    assert before[SITE] == 1
    assert all(before[section_key(x)] == 1 for x in sections if section_key(x) in before)
    # A full refresh finds nothing to correct.
    with db.session() as s:
        refresh(s, {rows[0].story_id})
    assert _counts(db) == before
