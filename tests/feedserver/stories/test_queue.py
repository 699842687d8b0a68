"""The story queue: the poller files new articles at once and groups them in batches.

A batch bigger than grouping.SMALL_BATCH finds its candidates in one read of
the index (index.Window) instead of one statement per article; both must
find the same candidates and so form the same stories.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from feedserver.aggregation import poller as poller_module
from feedserver.aggregation.poller import poll_once
from feedserver.models import Article, StoryQueue
from feedserver.stories import grouping, index
from feedserver.stories.similarity import index_terms
from tests.factories import make_source
from tests.feedserver.aggregation_support import Item, rss, settings_for
from tests.feedserver.stories.stories_support import QUAKE, newsroom, story_of, write
from tests.feedserver.stories.test_grouping import _core_articles

RSS = "application/rss+xml"

# Words for stories that several sources tell in their own order, and for
# filler that shares some of their words (so candidates compete).
COMMON = [
    "government",
    "minister",
    "council",
    "budget",
    "report",
    "city",
    "police",
    "court",
    "election",
    "market",
    "storm",
    "rail",
    "strike",
    "school",
    "hospital",
    "river",
    "bridge",
    "festival",
    "vote",
    "price",
]
NAMES = [
    "Antofagasta",
    "Valparaiso",
    "Kilimanjaro",
    "Reykjavik",
    "Tasmania",
    "Patagonia",
    "Hokkaido",
    "Yukon",
    "Andalusia",
    "Transylvania",
    "Zanzibar",
    "Okinawa",
]


def corpus(seed: int, stories: int = 8, tellers: int = 4, filler: int = 60):
    """Rows for _core_articles: (slug, (title, summary), source, hours) in random order."""
    rnd = random.Random(seed)
    rows = []
    for k in range(stories):
        name, figure = NAMES[k % len(NAMES)], 100 + 17 * k
        core = rnd.sample(COMMON, 5)
        for t in range(rnd.randint(2, tellers)):
            words = core + rnd.sample(COMMON, 2)
            rnd.shuffle(words)
            title = f"{name} {' '.join(words[:4])} {figure}"
            summary = f"{' '.join(words)} in {name}, {figure} said."
            rows.append((f"s{k}-{t}", (title, summary), "abc"[t % 3], k * 20 + rnd.random() * 10))
    for n in range(filler):
        words = rnd.sample(COMMON, 6)
        title = " ".join(words[:4]) + f" {n}"
        rows.append((f"f{n}", (title, " ".join(words)), "abc"[n % 3], rnd.random() * 200))
    rnd.shuffle(rows)
    # Distinct times: the statement breaks ties in time arbitrarily, the window by id.
    return [(slug, text, src, hours + i / 3600) for i, (slug, text, src, hours) in enumerate(rows)]


@pytest.fixture
def tight(monkeypatch):
    """Small cuts, so they matter in a corpus of a hundred articles."""
    monkeypatch.setattr(index, "PER_TERM", 6)
    monkeypatch.setattr(index, "CANDIDATES", 5)
    index._candidates_statement.cache_clear()
    yield
    index._candidates_statement.cache_clear()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_window_finds_what_the_statement_finds(db, tight, seed):
    ids = newsroom(db)
    with db.session() as s:
        new = _core_articles(s, ids, corpus(seed))
        filed = [(e, index_terms(e.doc)) for e in index.read(s, new)]
        index.file_new(s, filed)
        window = index.Window(s, filed)
        compared = 0
        for n, (entry, terms) in enumerate(filed):
            skip = {e.id for e, _ in filed[n + 1 :]} | {
                e.id for e, _ in filed if e.source_id == entry.source_id
            }
            # The statement's rows come in no particular order (grouping sorts by score).
            expected = sorted(c.id for c in index.candidates(s, entry, terms, skip))
            assert sorted(window.ids(entry, terms, skip)) == expected, entry.id
            everyone = sorted(c.id for c in index.candidates(s, entry, terms))
            assert sorted(window.ids(entry, terms)) == everyone, entry.id
            compared += len(everyone) == index.CANDIDATES  # cut: the counts decided
        assert compared > len(filed) // 2  # the corpus does give candidates
        s.rollback()


def partition(db) -> set[frozenset[int]]:
    with db.session() as s:
        rows = s.execute(select(Article.story_id, Article.id).where(Article.story_id.is_not(None)))
        stories: dict[int, set[int]] = {}
        for story_id, article_id in rows:
            stories.setdefault(story_id, set()).add(article_id)
    return {frozenset(members) for members in stories.values()}


@pytest.mark.parametrize("seed", [4, 5])
def test_a_queued_batch_forms_the_stories_one_at_a_time_would(db, monkeypatch, seed):
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        new = _core_articles(s, ids, corpus(seed))
        assert grouping.store_new(s, new) == set()  # filed and queued, not grouped
    assert partition(db) == set()
    with db.sessions() as s:  # one statement per article, then undone
        monkeypatch.setattr(grouping, "SMALL_BATCH", 10**6)
        count, _ = grouping.group_queued(s)
        assert count == len(new)
        one_by_one = partition_in(s)
        s.rollback()
    monkeypatch.setattr(grouping, "SMALL_BATCH", 0)
    monkeypatch.setattr(grouping, "DETAILS_BATCH", 7)  # candidates read in many chunks
    with db.session() as s:
        assert grouping.queued(s)
        count, changed = grouping.group_queued(s)
    assert count == len(new) and changed
    assert partition(db) == one_by_one
    assert len(one_by_one) >= 4  # the corpus's stories did form
    with db.session() as s:
        assert not grouping.queued(s)


def partition_in(s) -> set[frozenset[int]]:
    stories: dict[int, set[int]] = {}
    for story_id, article_id in s.execute(
        select(Article.story_id, Article.id).where(Article.story_id.is_not(None))
    ):
        stories.setdefault(story_id, set()).add(article_id)
    return {frozenset(members) for members in stories.values()}


def quake_feeds(httpserver, filler: int = 12):
    """Three upstreams telling the quake story among their own filler items."""
    when = datetime.now(UTC) - timedelta(hours=1)
    for n, (title, summary) in enumerate(QUAKE):
        items = [
            Item(guid=f"q{n}", title=title, description=summary, link=f"https://u{n}.example/q",
                 pub_date=when + timedelta(minutes=n))
        ] + [
            Item(guid=f"f{n}-{i}", title=f"Local {COMMON[i % len(COMMON)]} notes {n} {i}",
                 description=f"Nothing about {NAMES[(n + i) % len(NAMES)]} today {i}.",
                 link=f"https://u{n}.example/{i}", pub_date=when - timedelta(hours=i + n))
            for i in range(filler)
        ]  # fmt: skip
        httpserver.expect_request(f"/u{n}").respond_with_data(rss(items), content_type=RSS)


def quake_story_ids(db) -> set[int | None]:
    with db.session() as s:
        return set(
            s.scalars(select(Article.story_id).where(Article.title.in_([t for t, _ in QUAKE])))
        )


def test_a_poll_pass_groups_what_it_queued(db, httpserver):
    quake_feeds(httpserver)
    with db.session() as s:
        for n in range(3):
            make_source(s, feed_url=httpserver.url_for(f"/u{n}"))
    stats = poll_once(db, settings_for(httpserver.port))
    assert stats.added == 3 * 13 and stats.errors == 0
    stories = quake_story_ids(db)
    assert len(stories) == 1 and None not in stories
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StoryQueue)) == 0


@pytest.fixture
def threaded_upstream():
    """An upstream server that answers requests at once (a slow one blocks no other)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_the_queue_is_grouped_while_a_long_pass_still_runs(db, threaded_upstream, monkeypatch):
    """Stored articles do not wait for a slow upstream: grouped within GROUP_EVERY."""
    monkeypatch.setattr(poller_module, "GROUP_EVERY", 0.2)
    upstream = threaded_upstream
    quake_feeds(upstream, filler=2)
    seen: list[set[int | None]] = []

    def slow(_request):
        from werkzeug import Response

        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            stories = quake_story_ids(db)
            if len(stories) == 1 and None not in stories:
                break
            time.sleep(0.05)
        seen.append(stories)
        return Response(rss([Item(guid="late", title="Late")]), content_type=RSS)

    upstream.expect_request("/slow").respond_with_handler(slow)
    with db.session() as s:
        make_source(s, feed_url=upstream.url_for("/slow"))  # claimed first
        for n in range(3):
            make_source(s, feed_url=upstream.url_for(f"/u{n}"))
    started = time.monotonic()
    stats = poll_once(db, settings_for(upstream.port, concurrency=4))
    assert stats.errors == 0 and stats.added == 3 * 3 + 1
    assert len(seen) == 1 and len(seen[0]) == 1 and None not in seen[0]
    assert time.monotonic() - started < 4  # the slow feed stopped waiting: it saw the story


def test_articles_a_stopped_poller_left_queued_are_grouped_by_the_next_pass(db):
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        new = _core_articles(s, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1)])
        grouping.store_new(s, new)
    assert partition(db) == set()
    stats = poll_once(db, settings_for(1))  # no source is due: only the queue
    assert stats.sources == 0
    assert partition(db) == {frozenset(new)}


def test_a_deleted_article_leaves_the_queue(db):
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        (new,) = _core_articles(s, ids, [("qa", QUAKE[0], "a", 0)])
        grouping.store_new(s, [new])
    with db.session() as s:
        s.delete(s.get(Article, new))
    with db.session() as s:
        assert not grouping.queued(s)
        assert grouping.group_queued(s) == (0, set())


def test_with_grouping_off_nothing_is_queued(db):
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        s.info[grouping.INFO_KEY] = False
        new = _core_articles(s, ids, [("qa", QUAKE[0], "a", 0)])
        grouping.store_new(s, new)
        assert not grouping.queued(s)


def test_concurrent_queue_groupers_take_turns(db):
    """Two transactions grouping the queue at once: each article is grouped once."""
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        new = _core_articles(
            s, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1), ("qc", QUAKE[2], "c", 2)]
        )
        grouping.store_new(s, new)
    counts: list[int] = []

    def group():
        with db.write_lock(), db.session() as s:
            counts.append(grouping.group_queued(s)[0])

    threads = [threading.Thread(target=group) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(counts) == [0, 3]
    assert partition(db) == {frozenset(new)}


def test_a_document_worked_out_with_the_parse_is_the_one_read_back(db):
    """store_new takes the first poll's documents instead of reading the text back: the same."""
    from feedserver.stories.similarity import document_of

    ids = newsroom(db)
    body = "<p>" + " ".join(f"Antofagasta&amp;word{i} <b>bold</b>" for i in range(400)) + "</p>"
    with db.session() as s:
        (new,) = _core_articles(s, ids, [("long", ("A long one about Chile", ""), "a", 0)])
        s.get(Article, new).body_html = body
        s.flush()
        (entry,) = index.read(s, [new], fresh=True)
        assert entry.doc == document_of("A long one about Chile", "", body)
        assert entry.doc.names  # the body was read (past the tags and entities)


def test_index_rows_filed_through_the_driver_read_back_as_the_orm_writes_them(db):
    from feedserver.models import StoryTerm

    ids = newsroom(db)
    with db.session() as s:
        new = _core_articles(s, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 30.5)])
        filed = [(e, index_terms(e.doc)) for e in index.read(s, new)]
        index.file_new(s, filed)
    with db.session() as s:
        for entry, terms in filed:
            rows = s.execute(
                select(StoryTerm.term, StoryTerm.published_at).where(
                    StoryTerm.article_id == entry.id
                )
            ).all()
            assert sorted(rows) == sorted((t, entry.published_at) for t in terms)
            assert entry.published_at.tzinfo is not None


def test_a_poller_does_not_wait_while_another_groups_the_queue(db):
    """PostgreSQL: a second grouper without ``wait`` gets None at once; then it groups."""
    ids = newsroom(db)
    with db.session() as s, grouping.deferred():
        new = _core_articles(s, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1)])
        grouping.store_new(s, new)
    if db.engine.dialect.name == "postgresql":
        with db.sessions() as first:
            assert grouping.group_queued(first) == (2, {story_of_in(first, new[0])})
            with db.session() as second:
                started = time.monotonic()
                assert grouping.group_queued(second, wait=False) is None
                assert time.monotonic() - started < 2
            first.commit()
        with db.session() as second:
            assert grouping.group_queued(second, wait=False) == (0, set())
    else:  # one writer at a time anyway: it simply groups
        with db.session() as s:
            assert grouping.group_queued(s, wait=False) == (2, {story_of_in(s, new[0])})
    assert partition(db) == {frozenset(new)}


def story_of_in(s, article_id: int) -> int | None:
    return s.scalar(select(Article.story_id).where(Article.id == article_id))


def _queued(db, ids, rows):
    with db.session() as s, grouping.deferred():
        new = _core_articles(s, ids, rows)
        grouping.store_new(s, new)
    return new


def _planned(db):
    with db.session() as s:
        return grouping.plan_queued(s)


def _apply(db, planned):
    with db.write_lock(), db.session() as s:
        return grouping.apply_queued(s, planned)


def test_a_plan_applied_later_joins_the_story_its_match_is_in_by_then(db):
    """Planned outside the write lock, applied under it: where matches are is read anew.

    Between the two, the match qa was put in a story with qb (here by an
    article grouped at once, as the API's are): qc joins that story, it does
    not form a second one with qa.
    """
    ids = newsroom(db)
    qa, qc = _queued(db, ids, [("qa", QUAKE[0], "a", 0), ("qc", QUAKE[2], "c", 2)])
    planned = _planned(db)
    assert planned is not None and planned.matches[qc] == [qa]
    qb = write(db, ids, "qb", QUAKE[1], "b", hours=1)  # meanwhile, through the API: at once
    assert story_of(db, qa) is not None and story_of(db, qa) == story_of(db, qb)
    assert _apply(db, planned)[0] == 2
    assert partition(db) == {frozenset({qa, qb, qc})}


def test_a_plan_applied_after_its_articles_changed_or_went_places_the_rest(db):
    ids = newsroom(db)
    qa, qb, qc = _queued(
        db, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1), ("qc", QUAKE[2], "c", 2)]
    )
    planned = _planned(db)
    with db.session() as s:
        s.delete(s.get(Article, qb))  # a match removed in between
    assert _apply(db, planned)[0] == 3
    assert partition(db) == {frozenset({qa, qc})}
    with db.session() as s:
        assert not grouping.queued(s)


def test_a_plan_another_grouper_applied_first_changes_nothing_twice(db):
    ids = newsroom(db)
    new = _queued(db, ids, [("qa", QUAKE[0], "a", 0), ("qb", QUAKE[1], "b", 1)])
    first, second = _planned(db), _planned(db)
    assert first is not None and second is not None
    assert _apply(db, first)[1]  # formed the story
    assert _apply(db, second)[1] == set()  # its articles left the queue: left alone
    assert partition(db) == {frozenset(new)}
    with db.session() as s:
        assert grouping.plan_queued(s) is None
