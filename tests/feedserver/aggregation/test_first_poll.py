"""A first poll prepares its entries with the parse: the same rows, fewer steps under the lock."""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from feedserver.aggregation import entries as upstream_entries
from feedserver.aggregation import store
from feedserver.aggregation.entries import parse, parse_prepared, prepare
from feedserver.aggregation.poller import GC_YOUNG, claim, poll_once, quiet_gc
from feedserver.aggregation.store import articles as store_articles
from feedserver.models import Article, Source
from feedserver.stories.similarity import document_of, index_terms
from tests.factories import make_source
from tests.feedserver.aggregation_support import Item, articles_of, rss, settings_for

RSS = "application/rss+xml"
FEED = "https://upstream.example/feed.xml"

fragments = st.sampled_from(
    [
        "plain words ", "<p>para</p>", '<a href="/rel/x">rel</a>', '<a href="javascript:x()">js</a>',
        "<script>bad()</script>", "&amp; &lt;b&gt; ", '<img src="i.png" onerror="x">', "<b>bold",
        "<!-- note -->", "<table><td>cell</table>", "é ☃ ", "\n\t ",
    ]
)  # fmt: skip
texts = st.lists(fragments, max_size=12).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(texts, texts, st.sampled_from([None, "Ann", "Bo"]), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([None, "https://home.example/", "https://home.example/a/b"]),
)
def test_prepared_with_the_parse_is_what_the_store_would_prepare(cases, home):
    items = [
        Item(
            guid=f"id-{i}",
            title=title or None,
            description=body,
            author=author,
            link=f"/story/{i}" if relative else f"https://upstream.example/story/{i}",
        )
        for i, (title, body, author, relative) in enumerate(cases)
    ]
    body = rss(items, link="https://upstream.example/")
    parsed = parse_prepared(body, FEED, RSS, home, FEED)
    # The base the store uses after taking the feed's identity: its <link>.
    assert parsed.prepared_base == "https://upstream.example/"
    todo = list(enumerate(parsed.entries))
    assert parsed.rows(todo, "https://upstream.example/") == prepare(todo, parsed.prepared_base)
    assert [e.key for e in parse(body, FEED, RSS).entries] == [e.key for e in parsed.entries]
    # What grouping compares, worked out with the parse as it would be from the stored text.
    assert parsed.prepared is not None
    for row in parsed.prepared:
        assert row.story_doc == document_of(row.title, row.summary, row.body_html)
        assert row.story_terms == tuple(index_terms(row.story_doc))  # the words it is filed under


def test_prepared_rows_are_used_only_while_base_and_entries_hold():
    body = rss([Item(guid=f"g{i}", title=f"T {i}") for i in range(3)], link="")
    parsed = parse_prepared(body, FEED, RSS, None, FEED)
    assert parsed.prepared_base == FEED  # no home page anywhere: the feed's URL
    todo = list(enumerate(parsed.entries))
    assert parsed.rows(todo, FEED) is not None
    assert parsed.rows(todo, "https://elsewhere.example/") is None
    # Tombstones took an entry out: positions moved, so nothing prepared is reused.
    fewer = replace(parsed, entries=parsed.entries[1:])
    assert fewer.rows(list(enumerate(fewer.entries)), FEED) is None
    assert parse(body, FEED, RSS).rows(todo, FEED) is None  # never prepared


def test_a_prepare_failure_in_the_parse_step_leaves_the_entries_unprepared(monkeypatch):
    def broken(items, base):
        raise RecursionError("deep")

    monkeypatch.setattr(upstream_entries, "prepare", broken)
    parsed = parse_prepared(rss([Item(guid="a")]), FEED, RSS, None, FEED)
    assert parsed.prepared is None and len(parsed.entries) == 1


def test_claim_marks_only_sources_never_fetched_successfully(db):
    with db.session() as s:
        new = make_source(s, feed_url="https://a.example/feed").id
        old = make_source(s, feed_url="https://b.example/feed").id
        s.execute(update(Source).where(Source.id == old).values(last_success_at=datetime.now(UTC)))
    jobs = {job.id: job for job in claim(db, 10, 300)}
    assert jobs[new].first is True
    assert jobs[old].first is False


def test_a_first_poll_stores_what_a_later_poll_stores(db, httpserver):
    """One feed, two sources: one on its first poll (prepared with the parse), one not."""
    items = [
        Item(
            guid=f"s-{i}",
            title=f"Story {i} &amp; more",
            link=f"/s/{i}",
            description=f'<p onclick="x()">Body {i} <a href="/rel/{i}">link</a></p><script>x</script>',
            author="Ann Writer",
            pub_date=datetime(2026, 3, 1, 12, i, tzinfo=UTC),
        )
        for i in range(5)
    ]
    httpserver.expect_request("/feed").respond_with_data(rss(items), content_type=RSS)
    with db.session() as s:
        first = make_source(s, feed_url=httpserver.url_for("/feed")).id
        later = make_source(s, feed_url=httpserver.url_for("/feed?again")).id
        s.execute(
            update(Source).where(Source.id == later).values(last_success_at=datetime.now(UTC))
        )
    httpserver.expect_request("/feed", query_string="again").respond_with_data(
        rss(items), content_type=RSS
    )
    stats = poll_once(db, settings_for(httpserver.port))
    assert stats.errors == 0 and stats.added == 10

    def stored(source_id):
        return [
            # (the sub-second part of a date is a hash of source and key)
            (
                a.upstream_key,
                a.title,
                a.summary,
                a.body_html,
                a.original_url,
                a.published_at.replace(microsecond=0),
            )
            for a in articles_of(db, source_id)
        ]

    assert stored(first) == stored(later)
    body = stored(first)[0][3]
    assert "onclick" not in body and "<script" not in body
    assert f'href="{httpserver.url_for("/rel/0")}"' in body  # against the entry's link
    with db.session() as s:
        authors = s.scalars(select(Article).where(Article.source_id == first)).first()
        assert authors is not None and [a.name for a in authors.authors] == ["Ann Writer"]


def test_quiet_gc_relaxes_the_collector_and_puts_it_back():
    before = gc.get_threshold()
    with quiet_gc():
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG)
        assert gc.get_freeze_count() > 0
        with quiet_gc():  # nested: harmless
            pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_on_postgresql_a_polled_refresh_commits_without_waiting_for_the_wal(
    db, httpserver, monkeypatch
):
    """Redoable (the lease brings the source back), so no flush wait; the setting stays local."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit")
    seen = []

    def hook(session, source, parsed, stored):
        seen.append(session.execute(text("SHOW synchronous_commit")).scalar())

    monkeypatch.setattr(store, "POST_STORE", [])
    monkeypatch.setattr(store_articles, "POST_STORE", store.POST_STORE)
    store.add_post_store_hook(hook)
    httpserver.expect_request("/feed").respond_with_data(rss([Item(guid="a")]), content_type=RSS)
    with db.session() as s:
        make_source(s, feed_url=httpserver.url_for("/feed"))
    assert poll_once(db, settings_for(httpserver.port)).added == 1
    assert seen == ["off"]
    with db.session() as s:  # SET LOCAL: the next transaction is durable again
        assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"
