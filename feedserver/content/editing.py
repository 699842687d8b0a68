"""Create and change articles; create, change and delete sections and authors.

Articles are deleted by :mod:`feedserver.content.deletion` (with a tombstone).

The JSON API and the web admin both call these. Each operation takes a
mapping of JSON-typed field values (str, int, bool, list, None; a datetime is
also accepted for ``published_at``), checks all of it, changes the ORM rows
and flushes — the session hook then keeps every feed's validators in step.
The caller commits, preferably inside :func:`saving`, so a failure anywhere
rolls everything back.

Errors: ``Unprocessable`` (422) with ``fields={name: reason}`` for bad values,
``Conflict`` (409) for a taken slug or a section/author that still has articles.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from feeds.sanitize import clean_html
from feedserver import urls
from feedserver.config import SETTINGS
from feedserver.content.slugs import unique_slug
from feedserver.content.validation import Fields
from feedserver.errors import Conflict, Unprocessable
from feedserver.models import Article, ArticleAuthor, Author, Section, Source, utcnow

Named = TypeVar("Named", Section, Author)  # the rows with a name, a slug and a bio or description

log = logging.getLogger(__name__)

TITLE_MAX = 500
SUMMARY_MAX = 5_000
BODY_MAX = 1_000_000
NAME_MAX = 200
DESCRIPTION_MAX = 5_000
BIO_MAX = 10_000
URL_MAX = 2_000
AUTHORS_MAX = 50

ARTICLE_FIELDS = frozenset(
    {"title", "slug", "summary", "body_html", "section", "authors", "source",
     "original_url", "published_at", "comments_open"}
)  # fmt: skip
SECTION_FIELDS = frozenset({"name", "slug", "description"})
AUTHOR_FIELDS = frozenset({"name", "slug", "bio", "url"})


@contextmanager
def saving(session: Session) -> Iterator[Session]:
    """Commit what the block changes, or roll all of it back and re-raise."""
    try:
        yield session
        session.commit()
    except (IntegrityError, StaleDataError) as exc:
        # The checks below ran first, so this is a race with a concurrent change
        # (a unique index, or rows another request rewrote or removed meanwhile).
        session.rollback()
        log.info("%s, answered 409: %s", type(exc).__name__, getattr(exc, "orig", exc))
        raise Conflict(
            "That change conflicts with another one made at the same time "
            "(a slug just taken, or a row just used or removed); try again."
        ) from None
    except DataError as exc:
        session.rollback()
        log.warning("data error, answered 422: %s", exc.orig)
        raise Unprocessable("A value does not fit what the database can store.") from None
    except BaseException:
        session.rollback()
        raise


def sanitize_body(html: str, base_url: str) -> str:
    """Clean article HTML with the project's one allowlist (feeds.sanitize)."""
    return clean_html(html, base_url)


def _stored_body(html: str, base_url: str) -> str:
    """The body as stored: cleaned, and still within BODY_MAX (422 otherwise).

    Cleaning escapes what it keeps as text ("&" becomes "&amp;"), so a body
    within the limit as sent could be stored, and answered, five times longer.
    """
    cleaned = sanitize_body(html, base_url)
    if len(cleaned) > BODY_MAX:
        raise Unprocessable(
            f"body_html: {len(cleaned):,} characters once cleaned (markup escaped as text),"
            f" more than the {BODY_MAX:,} an article holds.",
            fields={"body_html": f"at most {BODY_MAX:,} characters once cleaned"},
        )
    return cleaned


def _check_slug_free(session: Session, model: Any, slug: str, own_id: int | None) -> None:
    query = select(model.id).where(model.slug == slug)
    if own_id is not None:
        query = query.where(model.id != own_id)
    if session.scalar(query) is not None:
        kind = model.__name__.lower()
        raise Conflict(
            f"The slug {slug!r} is already taken by another {kind}.", fields={"slug": "taken"}
        )
    if model is Article:
        # A deleted article's page answers 410 Gone while its tombstone is kept
        # (INTERFACE §8), and feeds' deleted-entry links point at it.
        # Here, not at the top: the lean app of `feedserver poll` loads no publishing.
        from feedserver.publishing.tombstones import live_tombstone

        kept = live_tombstone(session, utcnow(), _tombstone_days(), slug=slug)
        if kept is not None:
            expires = kept.deleted_at + timedelta(days=_tombstone_days())
            raise Conflict(
                f"The slug {slug!r} belongs to a deleted article: its page answers 410 Gone "
                f"until its tombstone expires ({expires:%Y-%m-%d}).",
                fields={"slug": "taken"},
            )


def _tombstone_days() -> int:
    """FEEDSERVER_TOMBSTONE_DAYS: the app's, or the setting's default outside one."""
    if has_app_context():
        return int(current_app.config["TOMBSTONE_DAYS"])
    return int(SETTINGS["TOMBSTONE_DAYS"][0])


# --- articles -------------------------------------------------------------------


def create_article(session: Session, data: Mapping[str, Any], *, site_url: str) -> Article:
    """Create an article from its fields; title and authors are required."""
    check = Fields(data, ARTICLE_FIELDS)
    if not check.given("title"):
        check.fail("title", "is required")
    if not check.given("authors"):
        check.fail("authors", "is required (a non-empty list of author ids or slugs)")
    values = _article_values(session, check)
    check.done()
    now = utcnow()
    published = values.pop("published_at", None) or now
    slug = values.pop("slug", None)
    if slug is not None:
        _check_slug_free(session, Article, slug, None)
    else:
        slug = unique_slug(session, Article, values["title"], fallback="article")
    authors = values.pop("authors")
    body = values.pop("body_html", "")
    article = Article(
        slug=slug,
        published_at=published,
        # A new article was last changed when it was published (it may be back-dated).
        updated_at=published,
        created_at=now,
        body_html=_stored_body(body, site_url + urls.article(slug)) if body else "",
        **values,
    )
    article.set_authors(authors)
    session.add(article)
    session.flush()
    return article


def update_article(
    session: Session, article: Article, data: Mapping[str, Any], *, site_url: str
) -> Article:
    """Change the fields given (and only those); the slug stays unless given."""
    check = Fields(data, ARTICLE_FIELDS)
    values = _article_values(session, check)
    check.done()
    if "slug" in values and values["slug"] is None:
        del values["slug"]  # a null slug keeps the current one
    if values.get("slug", article.slug) != article.slug:
        _check_slug_free(session, Article, values["slug"], article.id)
    authors = values.pop("authors", None)
    sourced = values["source"] is not None if "source" in values else article.source_id is not None
    if not (authors if authors is not None else article.bylines) and not sourced:
        # An upstream entry that named no author keeps no byline only while it
        # is the source's; the newsroom's own articles name their authors.
        raise Unprocessable(
            "authors: an article that is not a source's names at least one author"
            " (give authors with the change).",
            fields={"authors": "required"},
        )
    if "body_html" in values and values["body_html"]:
        slug = values.get("slug", article.slug)
        values["body_html"] = _stored_body(values["body_html"], site_url + urls.article(slug))
    # published_at first: set_authors copies it into the bylines.
    for name in sorted(values, key=lambda n: n != "published_at"):
        setattr(article, name, values[name])
    if authors is not None:
        article.set_authors(authors)
    session.flush()
    return article


def _article_values(session: Session, check: Fields) -> dict[str, Any]:
    """Check every given article field and return the clean values by attribute."""
    values: dict[str, Any] = {}
    given = check.given
    if given("title"):
        values["title"] = check.text("title", max_length=TITLE_MAX, required=True)
    if given("slug"):
        values["slug"] = check.slug()
    if given("summary"):
        values["summary"] = check.text(
            "summary", max_length=SUMMARY_MAX, multiline=True, default=""
        )
    if given("body_html"):
        values["body_html"] = check.text(
            "body_html", max_length=BODY_MAX, multiline=True, default=""
        )
    if given("section"):
        value = check.data["section"]
        values["section"] = None if value is None else check.ref(session, Section, "section")
    if given("source"):
        value = check.data["source"]
        values["source"] = None if value is None else check.ref(session, Source, "source")
    if given("authors"):
        values["authors"] = check.refs(session, Author, "authors", max_items=AUTHORS_MAX)
    if given("original_url"):
        values["original_url"] = check.url("original_url", max_length=URL_MAX)
    if given("published_at"):
        values["published_at"] = check.time("published_at")
    if given("comments_open"):
        values["comments_open"] = check.boolean("comments_open")
    return values


# --- sections and authors ---------------------------------------------------------


def create_section(session: Session, data: Mapping[str, Any]) -> Section:
    """Create a section; its slug comes from its name unless given. Names are unique (409)."""
    return _create_named(session, Section, data, unique_name=True)


def update_section(session: Session, section: Section, data: Mapping[str, Any]) -> Section:
    """Change a section's name, slug or description (only those given)."""
    return _update_named(session, section, data, unique_name=True)


def _name_free(session: Session, model: type[Named], name: str, own_id: int | None) -> None:
    """Two sections of one name would be one to readers and to a lookup by name.

    Names are compared as people read them: case aside (``casefold``: "STRASSE"
    is "Straße") and compatibility forms aside (NFKC: fullwidth "ＢＵＳＩＮＥＳＳ"
    is "Business"). The database's own unique index (lower(name)) holds the
    plain case under races.
    """
    query = select(model.slug, model.name)
    if own_id is not None:
        query = query.where(model.id != own_id)
    wanted = _folded(name)
    taken = next((slug for slug, other in session.execute(query) if _folded(other) == wanted), None)
    if taken is not None:
        raise Conflict(
            f"A {model.__name__.lower()} named {name.strip()[:80]!r} exists already "
            f"(slug {taken!r}).",
            code=f"{model.__name__.lower()}_exists",
        )


def _folded(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()


def delete_section(session: Session, section: Section) -> None:
    """Delete a section that has no articles left (409 otherwise)."""
    count = session.scalar(select(func.count()).where(Article.section_id == section.id)) or 0
    if count:
        raise Conflict(
            f"The section {section.slug!r} still has {count:,} article(s); "
            "move them to another section or delete them first."
        )
    session.delete(section)
    session.flush()


def create_author(session: Session, data: Mapping[str, Any], *, url_field: str = "url") -> Author:
    """Create an author; the slug comes from the name unless given.

    ``url_field`` names the field of the author's own web address: the API
    calls it "homepage", because there "url" is always the public page.
    """
    return _create_named(session, Author, data, url_field)


def update_author(
    session: Session, author: Author, data: Mapping[str, Any], *, url_field: str = "url"
) -> Author:
    """Change an author's name, slug, bio or web address (only those given)."""
    return _update_named(session, author, data, url_field)


def delete_author(session: Session, author: Author) -> None:
    """Delete an author who is in no byline (409 otherwise)."""
    count = session.scalar(select(func.count()).where(ArticleAuthor.author_id == author.id)) or 0
    if count:
        raise Conflict(
            f"The author {author.slug!r} is still in the byline of {count:,} article(s); "
            "change those bylines or delete the articles first."
        )
    session.delete(author)
    session.flush()


def _named_values(
    check: Fields, model: type[Section] | type[Author], url_field: str
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if check.given("name"):
        values["name"] = check.text(
            "name", max_length=NAME_MAX, required=True, plain=True, person=model is Author
        )
    if check.given("slug"):
        values["slug"] = check.slug()
    if model is Section and check.given("description"):
        # The section feed's description (RSS) and subtitle (Atom): plain text there.
        values["description"] = check.text(
            "description", max_length=DESCRIPTION_MAX, multiline=True, plain=True, default=""
        )
    if model is Author:
        if check.given("bio"):
            values["bio"] = check.text("bio", max_length=BIO_MAX, multiline=True, default="")
        if check.given(url_field):
            values["url"] = check.url(url_field, max_length=URL_MAX)
    return values


def _fields(model: Any, data: Mapping[str, Any], url_field: str) -> Fields:
    if model is Section:
        return Fields(data, SECTION_FIELDS)
    check = Fields(data, AUTHOR_FIELDS - {"url"} | {url_field})
    if url_field != "url" and "url" in data:
        check.errors["url"] = (
            "is the author's public page and cannot be set; "
            f"give the author's own web address as {url_field}"
        )
    return check


def _create_named(
    session: Session,
    model: type[Named],
    data: Mapping[str, Any],
    url_field: str = "url",
    *,
    unique_name: bool = False,
) -> Named:
    check = _fields(model, data, url_field)
    if not check.given("name"):
        check.fail("name", "is required")
    values = _named_values(check, model, url_field)
    check.done()
    if unique_name:
        _name_free(session, model, values["name"], None)
    if values.get("slug"):
        _check_slug_free(session, model, values["slug"], None)
    else:
        values["slug"] = unique_slug(
            session, model, values["name"], fallback=model.__name__.lower()
        )
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def _update_named(
    session: Session,
    row: Named,
    data: Mapping[str, Any],
    url_field: str = "url",
    *,
    unique_name: bool = False,
) -> Named:
    model = type(row)
    check = _fields(model, data, url_field)
    values = _named_values(check, model, url_field)
    check.done()
    if unique_name and values.get("name"):
        _name_free(session, model, values["name"], row.id)
    if "slug" in values and values["slug"] is None:
        del values["slug"]
    if values.get("slug", row.slug) != row.slug:
        _check_slug_free(session, model, values["slug"], row.id)
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return row
