"""Per-scope versions: the validators of every feed, kept in the same transaction.

A feed's bytes depend only on its scope's rows, so each scope (``site``,
``section:<id>``, ``author:<id>``, ``source:<id>``, ``comments:<article id>``)
has a row with a version counter, the time of its newest change and its item
count (for RFC 5005 ``last`` links without a COUNT over a million rows). The
``global`` row changes when a section, author or source is deleted (its
articles' rows change behind the ORM's back) and is read together with the
scope's row. A rename bumps the scopes that show the name: its own, and
those of the articles that carry it (:func:`_named_scopes`).

A session hook bumps exactly the scopes a flush touches, whichever code path
(API, admin, poller) made the change. Bulk SQL that bypasses the ORM must call
:func:`bump_scopes` with the scopes it changed (in the same transaction), or
:func:`recount_scopes` after a bulk load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, overload

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    bindparam,
    event,
    func,
    inspect,
    select,
    true,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from feedserver.models.base import Base, upsert_insert, utcnow
from feedserver.models.comments import Comment
from feedserver.models.content import Article, ArticleAuthor, Author, Section, Source

# The scope keys: written here only. Every other module builds them with the
# functions below (scopewatch reads GLOBAL beside each key, too).
GLOBAL = "global"
SITE = "site"
COMMENTS = "comments"
SCOPE_KINDS = ("section", "author", "source")  # a scope of its own per row

# Columns whose change alters what feeds show.
ARTICLE_FEED_COLUMNS = (
    "slug", "title", "summary", "body_html", "section_id", "source_id",
    "original_url", "published_at", "updated_at", "comments_open", "comment_count",
)  # fmt: skip
NAMED_COLUMNS = {
    Section: ("slug", "name", "description"),
    Author: ("slug", "name", "bio", "url"),
    Source: ("slug", "name", "home_url", "feed_url", "upstream_id", "upstream_title"),
}
# Of those, what other scopes' feeds show of their articles: a section's
# name and slug (the category), an author's (the byline), a source's
# attribution and its name in story credits. A section's description and an
# author's bio and URL appear in no feed of another scope.
SHOWN_COLUMNS = {
    Section: ("slug", "name"),
    Author: ("slug", "name"),
    Source: ("slug", "name", "home_url", "feed_url", "upstream_id", "upstream_title"),
}
# What a scope's own feed shows of its row (title, description, links).
OWN_COLUMNS = {
    Section: ("slug", "name", "description"),
    Author: ("slug", "name"),
    Source: SHOWN_COLUMNS[Source],
}
_ARTICLES: Table = Article.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
_BYLINES: Table = ArticleAuthor.__table__  # type: ignore[assignment]
ARTICLE_CONTENT_COLUMNS = ("title", "summary", "body_html", "original_url", "section_id")


class ScopeVersion(Base):
    """The version, newest change and item count of one feed scope."""

    __tablename__ = "scope_versions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    item_count: Mapped[int] = mapped_column(Integer, default=0)


def scope_key(kind: str, ident: int | None = None) -> str:
    """The scope_versions key of the site (``site``) or of one row's scope (``section:3``)."""
    if kind == "site":
        return SITE
    if kind not in SCOPE_KINDS and kind != COMMENTS:
        raise ValueError(f"scope key: unknown kind {kind!r}")
    return f"{kind}:{ident}"


@overload
def section_key(section_id: int) -> str: ...
@overload
def section_key(section_id: None) -> None: ...
def section_key(section_id: int | None) -> str | None:
    return scope_key("section", section_id) if section_id is not None else None


@overload
def source_key(source_id: int) -> str: ...
@overload
def source_key(source_id: None) -> None: ...
def source_key(source_id: int | None) -> str | None:
    return scope_key("source", source_id) if source_id is not None else None


@overload
def author_key(author_id: int) -> str: ...
@overload
def author_key(author_id: None) -> None: ...
def author_key(author_id: int | None) -> str | None:
    return scope_key("author", author_id) if author_id is not None else None


def comments_key(article_id: int) -> str:
    return scope_key(COMMENTS, article_id)


def is_comments_key(key: str) -> bool:
    return key.startswith(COMMENTS + ":")


def _old_new(obj: Any, attr: str) -> tuple[Any, Any]:
    """Return (value before this flush, value now) of one attribute."""
    hist = inspect(obj).attrs[attr].history
    now = getattr(obj, attr)
    old = hist.deleted[0] if hist.deleted else now
    return old, now


def _changed(obj: Any, attrs: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in attrs)


class _Changes:
    """Scope bumps and count deltas gathered from one flush."""

    def __init__(self) -> None:
        self.bumped: set[str] = set()
        self.delta: Counter[str] = Counter()
        self.authors: set[int] = set()  # recounted exactly, not by delta

    def bump(self, key: str | None, delta: int = 0) -> None:
        if key is None:
            return
        self.bumped.add(key)
        if delta:
            self.delta[key] += delta

    def merge(self, other: _Changes) -> None:
        self.bumped |= other.bumped
        self.delta.update(other.delta)
        self.authors |= other.authors

    def article(self, art: Article, delta: int = 0) -> None:
        # A story's folded members are not counted in the site and section
        # listings (feedserver.models.stories); they still change the scope.
        self.bump(SITE, 0 if art.story_hidden else delta)
        self.bump(section_key(art.section_id), 0 if art.story_section_hidden else delta)
        self.bump(source_key(art.source_id), delta)
        self.authors.update(link.author_id for link in art.bylines)


_ORPHANS = "feedserver_scope_orphans"  # Session.info: a deleted source leaves articles


def _keeps_articles(session: Session, source: Source) -> bool:
    """Whether articles stay attributed to ``source`` past this flush (not deleted, not moved)."""
    leaving = {obj.id for obj in session.deleted if isinstance(obj, Article)}
    leaving |= {
        obj.id
        for obj in session.dirty
        if isinstance(obj, Article) and obj.source_id != source.id and obj.id is not None
    }
    rows = session.connection().execute(
        select(_ARTICLES.c.id).where(_ARTICLES.c.source_id == source.id)
    )
    return any(ident not in leaving for ident in rows.scalars())


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    """Keep derived columns in step before the rows are written."""
    now = utcnow()
    # Bylines removed in this flush vanish from the session's view by
    # after_flush (orphans, cascades), so note their authors now.
    touched: set[int] = session.info.setdefault("feedserver_authors", set())
    for obj in session.deleted:
        if isinstance(obj, Article):
            touched.update(link.author_id for link in obj.bylines)
        elif isinstance(obj, ArticleAuthor):
            touched.add(obj.author_id)
    for obj in session.dirty:
        if isinstance(obj, Article):
            hist = inspect(obj).attrs.bylines.history
            touched.update(link.author_id for link in hist.deleted if link.author_id)
    for obj in session.deleted:
        if isinstance(obj, Source) and _keeps_articles(session, obj):
            # Its articles lose it behind the ORM's back (ON DELETE SET NULL).
            session.info[_ORPHANS] = True
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Article):
            if obj in session.dirty and session.is_modified(obj):
                if _changed(obj, ARTICLE_CONTENT_COLUMNS) and not _changed(obj, ("updated_at",)):
                    obj.updated_at = now
                if _changed(obj, ("published_at",)):
                    for link in obj.bylines:
                        link.published_at = obj.published_at
        elif isinstance(obj, ArticleAuthor) and obj.published_at is None and obj.article:
            obj.published_at = obj.article.published_at
        elif (
            isinstance(obj, Source)
            and obj in session.dirty
            and _changed(obj, NAMED_COLUMNS[Source])
            and not _changed(obj, ("updated_at",))
        ):
            obj.updated_at = now


def _after_flush(session: Session, _ctx: Any) -> None:
    """Bump the versions of exactly the scopes this flush changed."""
    changes = _Changes()
    changes.authors.update(session.info.pop("feedserver_authors", ()))
    # Per article: how many approved comments came or went (a pending one
    # rejected changes no feed, so its article is not named).
    comment_delta: Counter[int] = Counter()
    for obj in session.new:
        if isinstance(obj, Article):
            changes.article(obj, +1)
        elif isinstance(obj, ArticleAuthor):
            changes.authors.add(obj.author_id)
        elif isinstance(obj, Comment) and obj.status == "approved":
            comment_delta[obj.article_id] += 1
    for obj in session.deleted:
        if isinstance(obj, Article):
            old = {
                a: _old_new(obj, a)[0]
                for a in ("section_id", "source_id", "story_hidden", "story_section_hidden")
            }
            changes.bump(SITE, 0 if old["story_hidden"] else -1)
            changes.bump(section_key(old["section_id"]), 0 if old["story_section_hidden"] else -1)
            changes.bump(source_key(old["source_id"]), -1)
            # Its comment feed now answers 410 Gone: the kept answers must go.
            changes.bump(comments_key(obj.id))
        elif isinstance(obj, Comment):
            if _old_new(obj, "status")[0] == "approved":
                comment_delta[obj.article_id] -= 1
        elif isinstance(obj, Section | Author | Source):
            # Its own feed goes (404). Articles keep no section or author that
            # is deleted (the foreign keys refuse it), nor a deleted source
            # unless the removal left some behind: only then every feed.
            kind = {Section: "section", Author: "author", Source: "source"}[type(obj)]
            changes.bump(scope_key(kind, obj.id))
            if session.info.pop(_ORPHANS, False):
                changes.bump(GLOBAL)
    for obj in session.dirty:
        if not session.is_modified(obj):
            continue
        if isinstance(obj, Article) and obj not in session.deleted:
            if not _changed(obj, ARTICLE_FEED_COLUMNS) and not _changed(obj, ("bylines",)):
                continue
            for attr in ("section_id", "source_id"):
                old, new = _old_new(obj, attr)
                key = section_key if attr == "section_id" else source_key
                # A folded story member moves without changing any count.
                counted = attr == "source_id" or not obj.story_section_hidden
                if old != new and counted:
                    changes.bump(key(old), -1)
                    changes.bump(key(new), +1)
                elif old != new:
                    changes.bump(key(old))
                    changes.bump(key(new))
            changes.article(obj)
            # The comment feed shows the article's title and links its slug.
            if _changed(obj, ("title", "slug")):
                changes.bump(comments_key(obj.id))
        elif isinstance(obj, Comment):
            old, new = _old_new(obj, "status")
            if old != new and "approved" in (old, new):
                # One approved and one withdrawn in a flush: no count change,
                # but the feed changed, so the article is named all the same.
                comment_delta[obj.article_id] += (new == "approved") - (old == "approved")
            elif new == "approved" and _changed(obj, ("body", "author_name", "author_url")):
                changes.bump(comments_key(obj.article_id))
        elif type(obj) in NAMED_COLUMNS and _changed(obj, NAMED_COLUMNS[type(obj)]):
            _named_scopes(session, obj, changes)
    for article_id, delta in comment_delta.items():
        changes.bump(comments_key(article_id), delta)
        if delta:
            session.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(comment_count=Article.comment_count + delta)
                .execution_options(synchronize_session=False)
            )
            article = session.get(Article, article_id)
            if article is not None:
                changes.article(article)
                session.expire(article, ["comment_count"])
    if changes.bumped or changes.authors:
        _queue(session, changes)


def _named_scopes(session: Session, obj: Section | Author | Source, changes: _Changes) -> None:
    """Bump the feeds that show an edited section's, author's or source's row.

    Its own feed when its title, description or links changed; and when a
    name other feeds carry changed, every scope of its articles (the site,
    and their sections, sources and every author of their bylines), plus, for a source, the
    sections whose stories credit it. Not the whole site: an edited bio
    changes no feed, and a renamed section no feed it has no article in.
    """
    kind = {Section: "section", Author: "author", Source: "source"}[type(obj)]
    if _changed(obj, OWN_COLUMNS[type(obj)]):
        changes.bump(scope_key(kind, obj.id))
    if not _changed(obj, SHOWN_COLUMNS[type(obj)]):
        return
    conn = session.connection()
    art = _ARTICLES.c
    where: ColumnElement[bool]
    if kind == "author":
        mine = select(_BYLINES.c.article_id).where(_BYLINES.c.author_id == obj.id)
        where = art.id.in_(mine)
    else:
        where = (art.section_id if kind == "section" else art.source_id) == obj.id
    rows = conn.execute(select(art.section_id, art.source_id).where(where).distinct()).all()
    if not rows:
        return
    changes.bump(SITE)
    for section_id, source_id in rows:
        changes.bump(section_key(section_id))
        changes.bump(source_key(source_id))
    # Bylines: an author's co-authors' feeds show its name too.
    authors = select(_BYLINES.c.author_id).join(_ARTICLES, art.id == _BYLINES.c.article_id)
    changes.authors.update(conn.execute(authors.where(where).distinct()).scalars())
    if kind == "source":  # story credits name the source in its stories' site and section feeds
        stories = select(art.story_id).where(where, art.story_id.is_not(None))
        credited = select(art.section_id).where(art.story_id.in_(stories)).distinct()
        for section_id in conn.execute(credited).scalars():
            changes.bump(section_key(section_id))


_PENDING = "feedserver_scope_changes"  # Session.info: this transaction's bumps, not yet written
_WRITING = "feedserver_scope_writing"  # Session.info: past before_commit, bumps go straight in


def _queue(session: Session, changes: _Changes) -> None:
    """Keep a transaction's bumps until its commit, or write them now if it is committing.

    Every writer bumps the ``site`` row, so on PostgreSQL two transactions
    that bumped rows at different moments (a flush, then story grouping,
    then the poller's bulk insert) could each hold a row the other wanted
    next: a deadlock. Written once, just before the commit, in key order,
    the rows are locked in one order by every transaction and held for the
    commit alone.
    """
    if session.info.get(_WRITING):
        _write(session, changes)
    else:
        session.info.setdefault(_PENDING, _Changes()).merge(changes)


def _before_commit(session: Session) -> None:
    session.flush()  # the ORM's own writes first (their hook queues more bumps)
    changes = session.info.pop(_PENDING, None)
    session.info[_WRITING] = True  # a flush later in this commit writes its bumps at once
    if changes is not None:
        _write(session, changes)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # committed or rolled back: nothing carries over
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITING, None)
        session.info.pop(_ORPHANS, None)


def _write(session: Session, changes: _Changes) -> None:
    """Upsert the scope rows of ``changes``: two executemany statements, in key order.

    Author scopes are recounted exactly; every ``author:`` key sorts before
    the other kinds, so the authors' statement then the others' lock rows
    in one global key order.
    """
    authors = set(changes.authors)
    deltas: list[tuple[str, int]] = []
    for key in sorted(changes.bumped):
        kind, _, ident = key.partition(":")
        if kind == "author" and ident.isdigit():
            authors.add(int(ident))
        else:
            deltas.append((key, changes.delta.get(key, 0)))
    if not deltas and not authors:
        return
    now = utcnow()
    by_author, by_delta = _bump_statements(session.get_bind().dialect.name)
    conn = session.connection()  # Core statements: no ORM bulk persistence, no autoflush
    if authors:
        conn.execute(
            by_author,
            [
                {"key": key, "author_id": ident, "now": now}
                for key, ident in sorted((scope_key("author", i), i) for i in authors)
            ],
        )
    if deltas:
        conn.execute(
            by_delta,
            [{"key": k, "first": max(d, 0), "delta": d, "now": now} for k, d in deltas],
        )


def install_hooks() -> None:
    """Register the flush hooks on every Session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def recount_scopes(session: Session) -> None:
    """Rebuild every scope row from the articles (after bulk loads)."""
    now = utcnow()
    session.flush()
    # The counts below include every write so far: only the comment feeds'
    # pending bumps (not recounted here) still have to be written.
    pending: _Changes | None = session.info.get(_PENDING)
    if pending is not None:
        kept = {k for k in pending.bumped if is_comments_key(k) or k == GLOBAL}
        pending.delta = Counter({k: d for k, d in pending.delta.items() if k in kept})
        pending.bumped, pending.authors = kept, set()
    # Listings count a story once: its folded members are left out (models.stories).
    counts: dict[str, int] = {
        SITE: session.scalar(select(func.count(Article.id)).where(~Article.story_hidden)) or 0
    }
    for kind, column, shown in (
        ("section", Article.section_id, ~Article.story_section_hidden),
        ("source", Article.source_id, true()),
        ("author", ArticleAuthor.author_id, true()),
    ):
        for ident, n in session.execute(
            select(column, func.count()).where(column.is_not(None), shown).group_by(column)
        ):
            counts[scope_key(kind, ident)] = n
    existing = {sv.key: sv for sv in session.scalars(select(ScopeVersion))}
    for key, sv in existing.items():
        if is_comments_key(key) or key == GLOBAL:
            continue
        sv.item_count = counts.pop(key, 0)
        sv.version += 1
        sv.changed_at = now
    for key, n in counts.items():
        session.add(ScopeVersion(key=key, version=1, changed_at=now, item_count=n))


def bump_scopes(
    session: Session, items: Mapping[str | None, int], authors: Iterable[int] = ()
) -> None:
    """Bump scopes as the flush hook would, for writes that bypass the ORM.

    ``items`` maps each scope key (None is ignored) to the change in its item
    count (0: the scope changed, its count did not); each author in
    ``authors`` is bumped and recounted exactly. Call it in the transaction
    that made the change (bulk inserts of articles and bylines, say): the
    bumps are written with the hook's, just before that transaction commits,
    and a rollback drops them with everything else.
    """
    changes = _Changes()
    for key, delta in items.items():
        changes.bump(key, delta)
    changes.authors.update(authors)
    if changes.bumped or changes.authors:
        _queue(session, changes)


_BUMP_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _bump_statements(dialect: str) -> tuple[Any, Any]:
    """The two executemany upserts of :func:`bump_scopes`, built once per dialect."""
    if dialect not in _BUMP_STATEMENTS:
        insert = upsert_insert(dialect)
        # On the table, not the mapped class: run on the session's connection,
        # an ORM insert goes through bulk persistence, which cost more than the
        # statement itself on every refresh (profile of a first poll: ~5 %).
        scopes: Table = ScopeVersion.__table__  # type: ignore[assignment]  # declarative __table__ is typed as a FromClause
        count = (
            select(func.count())
            .select_from(ArticleAuthor)
            .where(ArticleAuthor.author_id == bindparam("author_id"))
            .scalar_subquery()
        )
        now = bindparam("now", type_=ScopeVersion.changed_at.type)
        by_author = insert(scopes).values(
            key=bindparam("key"), version=1, changed_at=now, item_count=count
        )
        by_author = by_author.on_conflict_do_update(
            index_elements=[scopes.c.key],
            set_={
                "version": scopes.c.version + 1,
                "changed_at": by_author.excluded.changed_at,
                "item_count": by_author.excluded.item_count,
            },
        )
        by_delta = insert(scopes).values(
            key=bindparam("key"), version=1, changed_at=now, item_count=bindparam("first")
        )
        by_delta = by_delta.on_conflict_do_update(
            index_elements=[scopes.c.key],
            set_={
                "version": scopes.c.version + 1,
                "changed_at": by_delta.excluded.changed_at,
                "item_count": scopes.c.item_count + bindparam("delta", type_=Integer),
            },
        )
        _BUMP_STATEMENTS[dialect] = (by_author, by_delta)
    return _BUMP_STATEMENTS[dialect]
