"""Reader comments: the "Leave a Reply" form, its checks, and each article's comment feeds.

A submission runs a fixed gauntlet — article exists (404), comments open
(403), honeypot empty (400), fields valid (the article page again, 422), not a
resubmission (same answer as success, nothing stored), under the client's rate
limit (429) — and is stored as ``pending`` for a moderator (see
``feedserver.api.comments``). Clients are recognised by a salted hash of their
address, never by the address itself. Approved comments appear on the article
page (through the ``comment_section`` template global) and in the article's
RSS and Atom comment feeds, whose validators the flush hook in
``models.scopes`` keeps under the ``comments:<article id>`` scope.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, current_app, g, redirect, request
from flask_wtf.csrf import validate_csrf
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers.response import Response as BaseResponse
from wtforms.validators import ValidationError

from feeds import model as fm
from feedserver import urls
from feedserver.comments.text import body_html, check_submission, content_hash, ip_hash
from feedserver.db import db_session, write_first
from feedserver.errors import BadRequest, Forbidden, NotFound, TooManyRequests
from feedserver.models import Article, Comment, utcnow
from feedserver.models.scopes import comments_key
from feedserver.publishing import tombstones
from feedserver.publishing.queries import paging_links, scope_state
from feedserver.publishing.views import respond_feed
from feedserver.security import csrf
from feedserver.web import base_url, page_arg

bp = Blueprint("comments", __name__)

HONEYPOT = "subject"  # a tempting name for bots; hidden from people by comments.css
NOTICE_FLAG = ("comment", "awaiting-moderation")
REPLY_ARG = "replytocom"


@dataclass(slots=True)
class FormState:
    """What the comment form shows: the reader's input and the problems found."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CommentSection:
    """Everything the comments partial of an article page needs."""

    article: Article
    threads: list[tuple[Comment, list[Comment]]]
    count: int
    form: FormState
    reply_to: Comment | None
    notice: bool
    page_url: str  # the article page, for Reply and Cancel links
    action: str  # where the form posts
    feeds: dict[str, str]


# --- submission -------------------------------------------------------------


def _client_hash() -> str:
    return ip_hash(request.remote_addr or "unknown", current_app.config["SECRET_KEY"])


def _reply_target(session: Session, article: Article, raw: str | None) -> Comment | None:
    """Return the approved top-level comment a reply attaches to, or None."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    target = session.get(Comment, int(raw))
    if target is None or target.article_id != article.id or target.status != "approved":
        return None
    # One level of threading: a reply to a reply joins its top-level thread.
    if target.parent_id is not None:
        parent = target.parent
        if parent is None or parent.status != "approved":
            return None
        return parent
    return target


def _retry_after(session: Session, client: str, now: datetime) -> int | None:
    """Seconds until this client may comment again, or None when under every limit."""
    rules = [(int(n), int(s)) for n, s in current_app.config["COMMENT_RATE_LIMITS"]]
    if not rules:
        return None
    longest = max(s for _, s in rules)
    # Counted from the comments themselves (ix_comments_ip_created): no extra state.
    recent = list(
        session.scalars(
            select(Comment.created_at)
            .where(Comment.ip_hash == client, Comment.created_at > now - timedelta(seconds=longest))
            .order_by(Comment.created_at.desc())
            .limit(max(n for n, _ in rules))
        )
    )
    waits = [
        (recent[limit - 1] + timedelta(seconds=window) - now).total_seconds()
        for limit, window in rules
        if len(recent) >= limit and recent[limit - 1] > now - timedelta(seconds=window)
    ]
    return max(1, math.ceil(max(waits))) if waits else None


def _is_duplicate(
    session: Session, article: Article, fingerprint: str, client: str, body: str, now: datetime
) -> bool:
    window = timedelta(seconds=int(current_app.config["COMMENT_DUPLICATE_WINDOW"]))
    found = session.scalar(
        select(Comment.id)
        .where(
            Comment.article_id == article.id,
            Comment.created_at > now - window,
            or_(
                Comment.content_hash == fingerprint,
                and_(Comment.ip_hash == client, Comment.body == body),
            ),
        )
        .limit(1)
    )
    return found is not None


def _form_page(state: FormState, status: int) -> BaseResponse:
    """Answer with the article page again, the form showing the reader's input and problems."""
    g.comment_form = state  # read by comment_section() while the page renders
    # The article page's own view renders it, whatever it needs besides the form.
    adapter = current_app.url_map.bind_to_environ(request.environ)
    endpoint, args = adapter.match(request.path.removesuffix("/comments"), method="GET")
    view: Any = current_app.view_functions[endpoint]  # the article page's view
    response = current_app.make_response(view(**args))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _article_or_404(session: Session, slug: str) -> Article:
    article = session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        # A deleted article's comments (feed, form) are gone with it: 410.
        tombstones.check_gone(session, current_app.config["TOMBSTONE_DAYS"], slug=slug)
        raise NotFound(f"No article called {slug!r}.")
    return article


CSRF_REFUSED = (
    "Your comment was not sent: the form had expired, or your browser did not send back"
    " this site's cookie. Your text is below; send it again (cookies must be on for this site)."
)


@bp.post("/articles/<slug>/comments")
def post_comment(slug: str) -> BaseResponse:
    """Take a reader's comment on an article and hold it for moderation."""
    session = db_session()
    article = _article_or_404(session, slug)
    if not article.comments_open:
        raise Forbidden("Comments are closed on this article; no new comments are accepted.")
    form = request.form
    try:
        # Here, not app-wide: a refused token re-shows the form with the
        # reader's text (a session that ended while they wrote, a browser
        # that keeps no cookie) instead of a bare 400 that lost it.
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            validate_csrf(form.get("csrf_token"))
    except ValidationError:
        typed = check_submission(form.to_dict())
        values = {"name": typed.name, "email": typed.email, "website": typed.website,
                  "comment": typed.comment}  # fmt: skip
        if form.get("parent_id", "").strip():  # still a reply when sent again
            values["parent_id"] = form["parent_id"].strip()[:20]
        return _form_page(FormState(values, {"csrf_token": CSRF_REFUSED}), 400)
    if form.get(HONEYPOT, "").strip():
        raise BadRequest(
            "The comment was refused as automated: a field people never see was filled in. "
            "If you are a person, go back, reload the page and send your comment again.",
            code="honeypot",
        )
    sub = check_submission(form.to_dict())
    values = {"name": sub.name, "email": sub.email, "website": sub.website, "comment": sub.comment}
    parent: Comment | None = None
    raw_parent = form.get("parent_id", "").strip()
    if raw_parent:
        values["parent_id"] = raw_parent
        parent = _reply_target(session, article, raw_parent)
        if parent is None:
            sub.errors["parent_id"] = "The comment you are replying to is not available."
    if not sub.ok:
        return _form_page(FormState(values, sub.errors), 422)

    client = _client_hash()
    fingerprint = content_hash(sub.name, sub.email, sub.comment)
    done = redirect(
        f"{urls.article(article.slug)}?{NOTICE_FLAG[0]}={NOTICE_FLAG[1]}#comments", code=303
    )
    # The checks below and the insert are one step: two posts sent at once
    # (a double click, a flood) are judged one after the other.
    write_first(session, Comment.__table__, f"comment-post:{client}")  # type: ignore[arg-type]  # declarative __table__ is typed as a FromClause
    now = utcnow()
    if _is_duplicate(session, article, fingerprint, client, sub.comment, now):
        return done
    wait = _retry_after(session, client, now)
    if wait is not None:
        raise TooManyRequests(
            f"You have sent too many comments in a short time. Please wait {wait} seconds "
            "and try again.",
            retry_after=wait,
        )
    session.add(
        Comment(
            article_id=article.id,
            parent_id=parent.id if parent else None,
            author_name=sub.name,
            author_email=sub.email,
            author_url=sub.website or None,
            body=sub.comment,
            status="pending",
            ip_hash=client,
            content_hash=fingerprint,
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()
    current_app.logger.info("comment received article_id=%s", article.id)
    return done


@bp.get("/articles/<slug>/comments")
def comments_anchor(slug: str) -> BaseResponse:
    """Send a reader who reloads the form's address back to the article's comments."""
    return redirect(f"{urls.article(slug)}#comments", code=303)


def _description(title: str) -> str:
    """The comment feeds' description (RSS) and subtitle (Atom), plain text.

    A title may look like markup ("Why x<y", "</b>"): in a title the W3C
    validator's "contains HTML" warning is allowed (INTERFACE §3), in a
    description it is not, so such a title is left out there.
    """
    if "<" in title or "&" in title:
        return "Readers' comments on this article, newest first."
    return f"Readers' comments on “{title}”, newest first."


# --- the article page's comment section --------------------------------------


def comment_section(article: Article) -> CommentSection:
    """Gather the approved comments (threaded one level) and the form's state."""
    session = db_session()
    approved = list(
        session.scalars(
            select(Comment)
            .where(Comment.article_id == article.id, Comment.status == "approved")
            .order_by(Comment.created_at, Comment.id)
        )
    )
    replies: dict[int, list[Comment]] = {}
    top: list[Comment] = []
    ids = {c.id for c in approved}
    for comment in approved:
        # A reply whose parent is no longer shown stands on its own.
        if comment.parent_id in ids:
            replies.setdefault(comment.parent_id, []).append(comment)
        else:
            top.append(comment)
    state: FormState = g.get("comment_form") or FormState()
    wanted = state.values.get("parent_id") or request.args.get(REPLY_ARG)
    by_id = {c.id: c for c in approved}
    reply_to = None
    if wanted and wanted.isascii() and wanted.isdigit() and int(wanted) in by_id:
        reply_to = by_id[int(wanted)]
        if reply_to.parent_id in by_id:
            reply_to = by_id[reply_to.parent_id]
    return CommentSection(
        article=article,
        threads=[(c, replies.get(c.id, [])) for c in top],
        count=len(approved),
        form=state,
        reply_to=reply_to,
        notice=request.args.get(NOTICE_FLAG[0]) == NOTICE_FLAG[1],
        page_url=urls.article(article.slug),
        action=f"{urls.article(article.slug)}/comments",
        feeds={fmt: urls.comments_feed(article.slug, fmt) for fmt in ("atom", "rss")},
    )


# --- comment feeds ------------------------------------------------------------


def _namespace(article: Article) -> uuid.UUID:
    """The UUID namespace of an article's comment ids: its own permanent uid."""
    try:
        return uuid.UUID(article.uid)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, article.uid)


def comment_id(article: Article, comment: Comment) -> str:
    """The permanent feed id of a comment (RSS guid, Atom id)."""
    return f"urn:uuid:{uuid.uuid5(_namespace(article), f'comment/{comment.id}')}"


def _comment_entry(article: Article, comment: Comment, link: str) -> fm.Entry:
    parent = comment.parent
    title = (
        f"Reply by {comment.author_name} to {parent.author_name}"
        if parent is not None and parent.status == "approved"  # else it is not shown
        else f"Comment by {comment.author_name}"
    )
    return fm.Entry(
        id=comment_id(article, comment),
        title=title,
        link=f"{link}#comment-{comment.id}",
        published=comment.created_at,
        updated=max(comment.created_at, comment.updated_at),
        # The name only: a commenter's e-mail never leaves the admin API.
        authors=(fm.Author(name=comment.author_name),),
        content_html=str(body_html(comment.body)),
    )


@bp.get("/articles/<slug>/comments.<any(rss, atom):fmt>")
def comment_feed(slug: str, fmt: str) -> BaseResponse:
    """Serve an article's approved comments as RSS or Atom, newest first."""
    config = current_app.config
    page = page_arg()
    session = db_session()
    article = _article_or_404(session, slug)
    key = comments_key(article.id)
    state = scope_state(session, key, article.created_at)
    per_page: int = config["FEED_ITEMS"]
    pages = state.pages(per_page)
    if page > pages:
        raise NotFound(f"This feed has {pages} page(s), not {page}.")

    def build() -> fm.Feed:
        base = base_url()
        link = base + urls.article(article.slug)
        comments = session.scalars(
            select(Comment)
            .where(Comment.article_id == article.id, Comment.status == "approved")
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .options(selectinload(Comment.parent))
        )
        feed_url = base + urls.comments_feed(article.slug, fmt)
        title = f"Comments on “{article.title}” — {config['SITE_TITLE']}"
        return fm.Feed(
            id=f"urn:uuid:{uuid.uuid5(_namespace(article), 'comments')}",
            title=title,
            description=_description(article.title),
            link=f"{link}#comments",
            self_url=urls.with_page(feed_url, page),
            updated=state.last_change,
            entries=tuple(_comment_entry(article, c, link) for c in comments),
            paging=paging_links(feed_url, page, pages),
            alternates=tuple(
                (urls.MEDIA_TYPES[other], base + urls.comments_feed(article.slug, other))
                for other in ("atom", "rss")
                if other != fmt
            ),
        )

    # The hook bumps comments:<id> when the article's title or slug changes,
    # so this scope's version covers everything the feed shows.
    return respond_feed(key, state, fmt, page, build)


def init_app(app: Flask) -> None:
    """Register the comment routes and the ``comment_section`` template global."""
    csrf.exempt(post_comment)  # it checks its token itself (see there)
    app.add_template_global(comment_section)
    app.add_template_global(body_html, "comment_html")
    app.register_blueprint(bp)
