import time, threading, re, statistics
from collections import Counter
import pytest
from feedserver.aggregation.poller import poll_once
from feedserver.aggregation.store import articles as store
from feedserver.db import Database
from tests.factories import make_source
from tests.feedserver.aggregation_support import numbered, rss, settings_for
from feedserver.stories import grouping, leads, index

@pytest.fixture
def db_backend() -> str:
    return "postgresql"

def test_prof(db, database_url, httpserver, monkeypatch):
    from collections import defaultdict
    times = defaultdict(list)
    def wrap(mod, name, key):
        orig = getattr(mod, name)
        def w(*a, **k):
            t = time.perf_counter()
            try: return orig(*a, **k)
            finally: times[key].append(time.perf_counter() - t)
        monkeypatch.setattr(mod, name, w)
    wrap(store, "group_new", "group_new")
    wrap(leads, "refresh", "refresh")
    wrap(index, "candidates", "cand")
    wrap(leads, "lock", "lock")
    wrap(index, "read", "read")
    wrap(index, "file", "file")
    wrap(grouping, "_join", "_join")
    wrap(grouping, "_stories_with_source", "sources")
    wrap(leads, "move", "move")
    wrap(leads, "bump_scopes", "bump(refresh)")
    wrap(grouping, "similarity", "similarity")
    wrap(leads, "new_story", "new_story")
    body = rss(numbered(2))
    httpserver.expect_request(re.compile(r"^/feeds/\d+$")).respond_with_data(body, content_type="application/rss+xml")
    with db.session() as s:
        for i in range(200):
            make_source(s, feed_url=httpserver.url_for(f"/feeds/{i}"), slug=f"upstream-{i}")
    settings = settings_for(httpserver.port, concurrency=8, per_host=8)
    start = threading.Barrier(2)
    results = []
    def work():
        mine = Database.from_url(database_url)
        start.wait()
        results.append(poll_once(mine, settings))
        mine.engine.dispose()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads: t.start()
    for t in threads: t.join(60)
    print("wall", time.perf_counter() - t0)
    for k, v in list(times.items()):
        if v:
            print(k, len(v), "total %.2f" % sum(v), "first50 med %.1fms" % (statistics.median(v[:50])*1000), "last50 med %.1fms" % (statistics.median(v[-50:])*1000))
    assert sum(r.added for r in results) == 400
