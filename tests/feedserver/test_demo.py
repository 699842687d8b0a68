"""The demo content: loads once, is safe and well-formed, and every feed of it parses."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
from sqlalchemy import func, select

from feeds.sanitize import ATTRIBUTES, GLOBAL_ATTRIBUTES, TAGS, clean_html
from feedserver.demo import AUTHORS, SECTIONS, SOURCES, load_demo
from feedserver.demo.articles import ARTICLES, COMMENTS
from feedserver.models import Article, Author, Section, Source
from tests.factories import make_article, make_section

TRAM = "tram-line-4-extension-opens-in-eastmoor"


class Markup(HTMLParser):
    """Collect the start tags of an HTML fragment (minus rel, which the sanitizer adds)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(a for a in attrs if a[0] != "rel"))))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def markup(html: str) -> Markup:
    parser = Markup()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
def demo(db):
    with db.session() as s:
        assert load_demo(s) is True
    return db


def test_demo_loads_once(db):
    with db.session() as s:
        assert load_demo(s) is True
    with db.session() as s:
        assert load_demo(s) is False
        assert s.scalar(select(func.count(Article.id))) == len(ARTICLES) == 12
        assert s.scalar(select(func.count(Section.id))) == len(SECTIONS) >= 4
        assert s.scalar(select(func.count(Author.id))) == len(AUTHORS) >= 4
        assert s.scalar(select(func.count(Source.id))) == len(SOURCES) >= 2


def test_demo_is_skipped_when_articles_exist(db, client):
    with db.session() as s:
        make_article(s, slug="mine", title="Our own first story")
    with db.session() as s:
        assert load_demo(s) is False
        assert s.scalar(select(func.count(Article.id))) == 1
    assert "Our own first story" in client.get("/").get_data(as_text=True)


def test_demo_reuses_a_section_an_admin_already_made(db):
    with db.session() as s:
        make_section(s, slug="city", name="Our Town")
    with db.session() as s:
        assert load_demo(s) is True
    with db.session() as s:
        city = s.scalar(select(Section).where(Section.slug == "city"))
        assert city.name == "Our Town"
        assert s.scalar(select(func.count(Article.id)).where(Article.section_id == city.id)) >= 2


def test_demo_articles_have_what_the_brief_promises(demo):
    with demo.session() as s:
        articles = list(s.scalars(select(Article)))
        assert any("&" in a.title for a in articles)
        assert any("Café" in a.title for a in articles)
        assert any(not a.title.isascii() for a in articles)
        assert any("\U0001f36b" in a.body_html for a in articles)  # an emoji in a body
        assert sum(len(a.bylines) > 1 for a in articles) >= 2  # co-authored
        attributed = [a for a in articles if a.source_id and a.original_url]
        assert len(attributed) >= 3
        assert all(a.summary and a.section_id and a.bylines for a in articles)
        for instants in ([a.published_at for a in articles], [a.updated_at for a in articles]):
            assert len(set(instants)) == len(articles)
            assert all(t.microsecond for t in instants)
        assert any(a.updated_at > a.published_at for a in articles)  # one was corrected
        newest, oldest = (
            max(a.published_at for a in articles),
            min(a.published_at for a in articles),
        )
        assert (newest - oldest).days >= 14  # spread over recent weeks
        for author in s.scalars(select(Author)):
            assert len(author.bio) > 80, author.name


@pytest.mark.parametrize("item", ARTICLES, ids=lambda a: a.slug)
def test_demo_bodies_are_safe_html_with_absolute_links(item):
    parsed = markup(item.body)
    paragraphs = [tag for tag, _ in parsed.tags if tag == "p"]
    assert 3 <= len(paragraphs) <= 6
    for tag, attrs in parsed.tags:
        assert tag in TAGS, tag
        for name, value in attrs:
            assert name in ATTRIBUTES.get(tag, set()) | GLOBAL_ATTRIBUTES, (tag, name)
            if name in ("href", "src", "cite"):
                parts = urlsplit(value or "")
                assert parts.scheme == "https" and parts.hostname, value
                # Reserved names only: no real organisation is linked.
                assert parts.hostname.endswith((".example", ".example.org")), value
    # The sanitizer would change nothing but add rel to links.
    assert markup(clean_html(item.body)).tags == parsed.tags


def test_demo_hosts_are_reserved_names():
    urls = [s["home_url"] for s in SOURCES.values()]
    urls += [a.original_url for a in ARTICLES if a.original_url]
    for url in urls:
        host = urlsplit(url).hostname or ""
        assert host.endswith((".example", ".example.org")), url


def demo_feed_paths(db) -> list[str]:
    paths = ["/feed"]
    with db.session() as s:
        for kind, model in (("sections", Section), ("authors", Author), ("sources", Source)):
            paths += [f"/{kind}/{slug}/feed" for slug in s.scalars(select(model.slug))]
    return paths


def test_every_demo_feed_parses(client, demo):
    paths = demo_feed_paths(demo)
    assert len(paths) == 1 + len(SECTIONS) + len(AUTHORS) + len(SOURCES)
    for path in paths:
        for fmt in ("rss", "atom"):
            response = client.get(f"{path}.{fmt}")
            assert response.status_code == 200, path
            parsed = feedparser.parse(response.data)
            assert not parsed.bozo, (path, fmt, parsed.get("bozo_exception"))
            assert parsed.entries, (path, fmt)
            for entry in parsed.entries:
                assert entry.title and entry.link and entry.get("content")
        doc = json.loads(client.get(f"{path}.json").data)
        assert doc["version"] == "https://jsonfeed.org/version/1.1" and doc["items"], path


def test_demo_feed_keeps_titles_and_bodies_intact(client, demo):
    parsed = feedparser.parse(client.get("/feed.atom").data)
    titles = {e.title for e in parsed.entries}
    assert "Council approves night-bus trial & longer ferry hours" in titles
    assert any(t.startswith("Café Mirabelle") for t in titles)
    assert any("\U0001f36b" in e.content[0].value for e in parsed.entries)


def test_demo_pages_render(client, demo):
    home = lxml.html.fromstring(client.get("/").data)
    assert len(home.xpath('//*[contains(@class, "teaser-title")]')) == 10  # PAGE_ITEMS
    for item in ARTICLES:
        response = client.get(f"/articles/{item.slug}")
        assert response.status_code == 200, item.slug
        doc = lxml.html.fromstring(response.data)
        assert " ".join(doc.xpath("//h1")[0].text_content().split()) == item.title
        credit = doc.xpath('//*[@class="original-source"]')
        assert bool(credit) == bool(item.original_url or item.source)
        assert len(doc.xpath('//*[@class="author-box"]')) == len(item.authors)
    for path in ("/sections/city", "/authors/maren-solberg", "/sources/northgate"):
        assert client.get(path).status_code == 200


def test_demo_comments_show_without_their_emails(client, demo):
    with demo.session() as s:
        tram = s.scalar(select(Article).where(Article.slug == TRAM))
        assert tram.comment_count == 3
    html = client.get(f"/articles/{TRAM}").get_data(as_text=True)
    doc = lxml.html.fromstring(html)
    comments = " ".join(doc.xpath('//*[@id="comments"]')[0].text_content().split())
    assert "Jonas Feld" in comments and "sideways" in comments
    assert "We have asked the council" in comments  # the reply
    for item in COMMENTS:
        assert item.email not in html
        assert item.email.split("@")[0] + "@" not in html
    listing = lxml.html.fromstring(client.get("/").data)
    assert listing.xpath(f'//a[@class="comment-count" and @href="/articles/{TRAM}#comments"]')


def test_demo_comment_feeds_parse(client, demo):
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(client.get(f"/articles/{TRAM}/comments.{fmt}").data)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert len(parsed.entries) == 3
        assert not any("@mail.example" in str(e) for e in parsed.entries)
