"""The public pages: what each shows, autodiscovery, feeds of the scope, pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from feedserver.models import Article
from tests.factories import make_article, make_author, make_section, make_source
from tests.feedserver.site_support import (
    HTML_TIME,
    feed_links,
    get_page,
    one,
    text,
)


def test_home_shows_site_identity_and_latest_articles(client, news):
    doc = get_page(client, "/")
    assert text(one(doc, '//*[@class="site-title"]')) == "The Test Gazette"
    assert text(one(doc, '//*[@class="tagline"]')) == "All the news that fits the tests"
    assert doc.findtext(".//title") == "The Test Gazette"
    titles = [text(a) for a in doc.xpath('//*[contains(@class, "teaser-title")]/a')]
    assert titles == [
        "A paper on foxes",
        "Tides and moons",
        "Engines of the future",
        "Harbour reopens",
    ]
    teaser = one(doc, '//article[.//a[@href="/articles/two"]]')
    assert "A look ahead." in text(teaser)
    assert "By Ada Lovelace and Bo Chen" in text(teaser)
    assert teaser.xpath('.//a[@href="/authors/ada"]') and teaser.xpath('.//a[@href="/authors/bo"]')
    assert text(one(teaser, './/*[@class="kicker"]/a[@href="/sections/world"]')) == "World"
    assert text(one(teaser, './/*[@class="via"]')) == "via wire.example.org"
    assert HTML_TIME.match(one(teaser, ".//time").get("datetime"))
    plain = one(doc, '//article[.//a[@href="/articles/one"]]')
    assert "via" not in text(plain) and "comment" not in text(plain)


def test_article_page_shows_the_whole_article(client, news):
    doc = get_page(client, "/articles/two")
    assert doc.findtext(".//title") == "Engines of the future — The Test Gazette"
    assert text(one(doc, "//h1")) == "Engines of the future"
    assert text(one(doc, '//*[@class="standfirst"]')) == "A look ahead."
    body = one(doc, '//*[@class="story-body"]')
    assert text(one(body, ".//strong")) == "everywhere"  # stored HTML, not escaped text
    byline = one(doc, '//*[@class="byline"]')
    assert text(byline) == "By Ada Lovelace and Bo Chen"
    assert [a.get("href") for a in byline.xpath(".//a")] == ["/authors/ada", "/authors/bo"]
    assert text(one(doc, '//*[@class="kicker"]/a[@href="/sections/world"]')) == "World"
    published = one(doc, '//*[@class="dateline"]//time')
    assert HTML_TIME.match(published.get("datetime"))
    assert "Updated" not in text(one(doc, '//*[@class="dateline"]'))


def test_article_page_credits_the_original_source(client, news):
    doc = get_page(client, "/articles/two")
    credit = one(doc, '//*[@class="original-source"]')
    assert text(credit).startswith("Original Source: wire.example.org")
    link = one(credit, './a[@rel="external noopener"]')
    assert (link.get("href"), text(link)) == (
        "https://wire.example.org/story/2",
        "wire.example.org",
    )
    assert one(credit, './/a[@href="/sources/wire"]').text == "The Wire Service"


def test_original_source_falls_back_to_the_source_home(client, news):
    credit = one(get_page(client, "/articles/three"), '//*[@class="original-source"]')
    assert text(credit).startswith("Original Source: wire.example.org")
    assert credit.xpath("./a")[0].get("href") == "https://www.wire.example.org/news"


def test_original_url_without_a_source_is_credited(client, news):
    credit = one(get_page(client, "/articles/four"), '//*[@class="original-source"]')
    assert text(credit) == "Original Source: journal.example.net"
    assert credit.xpath("./a")[0].get("href") == "https://journal.example.net/foxes"


def test_article_of_our_own_has_no_original_source(client, news):
    doc = get_page(client, "/articles/one")
    assert "Original Source" not in text(doc)
    assert doc.xpath('//*[@class="story-body"]//a[@href="https://port.example.org/"]')


def test_author_boxes_for_every_coauthor(client, news):
    doc = get_page(client, "/articles/two")
    boxes = doc.xpath('//*[@class="author-box"]')
    assert [text(one(b, './/*[@class="author-box-name"]')) for b in boxes] == [
        "Ada Lovelace",
        "Bo Chen",
    ]
    assert [text(one(b, './/*[@class="author-box-bio"]')) for b in boxes] == [
        "Ada writes about engines.",
        "Bo covers the harbour.",
    ]
    assert boxes[1].xpath('.//a[@href="/authors/bo"]')
    # The comment section follows the article, where the comment form will go.
    assert doc.xpath('//article[@class="story"]/following-sibling::*[@id="comments"]')


def test_edited_article_shows_when_it_was_updated(client, db, news):
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.slug == "one"))
        article.updated_at = article.published_at + timedelta(hours=2)
    dateline = one(get_page(client, "/articles/one"), '//*[@class="dateline"]')
    assert "Updated" in text(dateline)
    assert len(dateline.xpath(".//time")) == 2


def test_section_page_lists_only_its_articles(client, news):
    doc = get_page(client, "/sections/world")
    assert text(one(doc, "//h1")) == "World"
    assert text(one(doc, '//*[@class="scope-description"]')) == "News from abroad."
    hrefs = [a.get("href") for a in doc.xpath('//*[contains(@class, "teaser-title")]/a')]
    assert hrefs == ["/articles/two", "/articles/one"]
    current = one(doc, '//nav[@aria-label="Sections"]//a[@aria-current]')
    assert current.get("href") == "/sections/world"


def test_author_page_shows_bio_and_articles(client, news):
    doc = get_page(client, "/authors/ada")
    assert text(one(doc, "//h1")) == "Ada Lovelace"
    assert text(one(doc, '//*[@class="author-bio"]')) == "Ada writes about engines."
    hrefs = [a.get("href") for a in doc.xpath('//*[contains(@class, "teaser-title")]/a')]
    assert hrefs == ["/articles/two", "/articles/one"]
    assert "By Ada Lovelace and Bo Chen" in text(doc)  # the co-authored article


def test_source_page_lists_attributed_articles(client, news):
    doc = get_page(client, "/sources/wire")
    assert text(one(doc, "//h1")) == "The Wire Service"
    home = one(doc, '//a[@class="source-home"]')
    assert (home.get("href"), text(home)) == (
        "https://www.wire.example.org/news",
        "wire.example.org",
    )
    hrefs = [a.get("href") for a in doc.xpath('//*[contains(@class, "teaser-title")]/a')]
    assert hrefs == ["/articles/three", "/articles/two"]


SCOPE_PAGES = {
    "/": None,
    "/sections/world": "/sections/world",
    "/authors/ada": "/authors/ada",
    "/sources/wire": "/sources/wire",
}


@pytest.mark.parametrize("path", SCOPE_PAGES)
def test_autodiscovery_of_site_and_scope_feeds(client, news, path):
    links = feed_links(get_page(client, path))
    base = "http://localhost"
    expected = {
        f"{base}/feed.atom": "application/atom+xml",
        f"{base}/feed.rss": "application/rss+xml",
        f"{base}/feed.json": "application/feed+json",
    }
    if SCOPE_PAGES[path]:
        scope = base + SCOPE_PAGES[path]
        expected |= {
            f"{scope}/feed.atom": "application/atom+xml",
            f"{scope}/feed.rss": "application/rss+xml",
            f"{scope}/feed.json": "application/feed+json",
        }
    assert links == expected
    # Every advertised feed is really there.
    for href in links:
        assert client.get(href.removeprefix(base)).status_code == 200


def test_autodiscovery_titles_name_the_scope(client, news):
    doc = get_page(client, "/sections/world")
    titles = {link.get("title") for link in doc.xpath('//head/link[@rel="alternate"]')}
    assert "World — The Test Gazette (RSS)" in titles
    assert "The Test Gazette (Atom)" in titles


def test_article_page_advertises_its_comment_feeds(client, news):
    doc = get_page(client, "/articles/two")
    links = feed_links(doc)
    assert links["http://localhost/articles/two/comments.rss"] == "application/rss+xml"
    assert links["http://localhost/articles/two/comments.atom"] == "application/atom+xml"
    assert not any("comments.json" in href for href in links)
    assert links["http://localhost/sections/world/feed.atom"] == "application/atom+xml"
    assert links["http://localhost/feed.json"] == "application/feed+json"


def test_configured_base_url_makes_head_links_absolute(app_config, request):
    app_config["BASE_URL"] = "https://news.example.com/"
    client = request.getfixturevalue("client")
    request.getfixturevalue("news")
    doc = get_page(client, "/articles/two")
    assert (
        one(doc, '//link[@rel="canonical"]').get("href") == "https://news.example.com/articles/two"
    )
    assert all(href.startswith("https://news.example.com/") for href in feed_links(doc))


def test_canonical_description_and_open_graph(client, news):
    doc = get_page(client, "/articles/two")
    meta = {m.get("property") or m.get("name"): m.get("content") for m in doc.xpath("//head/meta")}
    assert one(doc, '//link[@rel="canonical"]').get("href") == "http://localhost/articles/two"
    assert meta["description"] == "A look ahead."
    assert meta["og:type"] == "article"
    assert meta["og:title"] == "Engines of the future — The Test Gazette"
    assert meta["og:url"] == "http://localhost/articles/two"
    assert meta["og:site_name"] == "The Test Gazette"
    assert HTML_TIME.match(meta["article:published_time"])
    author_meta = one(get_page(client, "/authors/bo"), '//meta[@name="description"]')
    assert author_meta.get("content") == "Bo covers the harbour."


@pytest.fixture
def long_section(db):
    """Seven articles in one section, three per page."""
    with db.session() as s:
        section = make_section(s, slug="long", name="Long")
        author = make_author(s, slug="prolific")
        source = make_source(s, slug="busy")
        for n in range(7):
            make_article(
                s,
                slug=f"long-{n}",
                title=f"Long story {n}",
                section=section,
                authors=[author],
                source=source,
            )
    return ["/", "/sections/long", "/authors/prolific", "/sources/busy"]


@pytest.fixture
def small_pages(app_config):
    app_config["PAGE_ITEMS"] = 3


@pytest.mark.parametrize("path", ["/", "/sections/long", "/authors/prolific", "/sources/busy"])
def test_pagination_walks_every_article_once(small_pages, client, long_section, path):
    seen = []
    for page, (prev, nxt) in enumerate([(None, 2), (1, 3), (2, None)], start=1):
        url = path if page == 1 else f"{path}?page={page}"
        doc = get_page(client, url)
        seen += [text(a) for a in doc.xpath('//*[contains(@class, "teaser-title")]/a')]
        head = {link.get("rel"): link.get("href") for link in doc.xpath("//head/link")}
        pager = one(doc, '//nav[@class="pager"]')
        assert f"Page {page} of 3" in text(pager)
        for rel, target in (("prev", prev), ("next", nxt)):
            if target is None:
                assert rel not in head and not pager.xpath(f'.//a[@rel="{rel}"]')
                continue
            want = path if target == 1 else f"{path}?page={target}"
            assert head[rel] == "http://localhost" + want
            assert one(pager, f'.//a[@rel="{rel}"]').get("href") == want
        canonical = one(doc, '//link[@rel="canonical"]').get("href")
        assert canonical == "http://localhost" + url
    assert seen == [f"Long story {n}" for n in range(6, -1, -1)]


@pytest.mark.parametrize("path", ["/", "/sections/long", "/authors/prolific", "/sources/busy"])
def test_page_past_the_end_is_a_404_page(small_pages, client, long_section, path):
    doc = get_page(client, f"{path}?page=4", status=404)
    assert "no page 4" in text(one(doc, '//*[@class="error-message"]'))


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "9999999", "²"])
def test_bad_page_number_is_a_400_page(client, long_section, page):
    doc = get_page(client, f"/sections/long?page={page}", status=400)
    assert "page must be a whole number" in text(one(doc, '//*[@class="error-message"]'))
    assert text(one(doc, '//*[@class="site-title"]')) == "The Test Gazette"


def test_empty_site_has_a_front_page(client):
    doc = get_page(client, "/")
    assert "Nothing has been published here yet." in text(doc)
    assert not doc.xpath('//link[@rel="next"]') and not doc.xpath('//nav[@class="pager"]')
    get_page(client, "/?page=2", status=404)


def test_article_without_section_or_authors_still_renders(client, db):
    with db.session() as s:
        make_article(s, slug="bare", title="A bare notice", section=None, authors=[])
    doc = get_page(client, "/articles/bare")
    assert text(one(doc, "//h1")) == "A bare notice"
    assert not doc.xpath('//*[@class="byline"] | //*[@class="kicker"] | //*[@class="author-box"]')
    assert "http://localhost/articles/bare/comments.atom" in feed_links(doc)
    teaser = one(get_page(client, "/"), '//article[.//a[@href="/articles/bare"]]')
    assert "By" not in text(teaser)


@pytest.mark.parametrize(
    ("original", "shown"),
    [
        ("https://\u0430pple.com/x", "xn--pple-43d.com"),  # a Cyrillic "а": reads as apple.com
        ("https://xn--pple-43d.com/x", "xn--pple-43d.com"),
        ("https://m\u00fcnchen.example/x", "m\u00fcnchen.example"),  # Latin throughout: as written
        ("https://xn--mnchen-3ya.example/x", "m\u00fcnchen.example"),
        ("https://www.\u043f\u0440\u0438\u043c\u0435\u0440.example/", "xn--e1afmkfd.example"),
    ],
)
def test_the_source_line_never_shows_a_host_that_reads_as_another(client, db, original, shown):
    # Browsers show a host that mixes scripts as its ASCII form; the source
    # line showed "аpple.com", the same as apple.com (found by a browser audit).
    with db.session() as s:
        make_article(
            s, slug="lookalike", section_id=make_section(s).id, authors=[make_author(s)],
            original_url=original,
        )  # fmt: skip
    credit = one(get_page(client, "/articles/lookalike"), '//*[@class="original-source"]')
    assert text(credit) == f"Original Source: {shown}"
