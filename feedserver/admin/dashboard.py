"""The dashboard: article counts, sources by health, the latest errors."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from sqlalchemy import ColumnElement, func, select

from feedserver.admin import bp
from feedserver.admin.health import HEALTH_LABELS, health_expression
from feedserver.db import db_session
from feedserver.models import Article, Comment, Source, utcnow


@bp.get("/")
def dashboard() -> str:
    """Show what the site holds and how its sources are doing."""
    session = db_session()
    now = utcnow()

    def count_articles(*where: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count(Article.id)).where(*where)) or 0

    articles = {
        "total": count_articles(),
        "aggregated": count_articles(Article.source_id.is_not(None)),
        "day": count_articles(Article.published_at >= now - timedelta(days=1)),
        "week": count_articles(Article.published_at >= now - timedelta(days=7)),
    }
    health = health_expression()
    by_health: dict[str, int] = {
        name: n
        for name, n in session.execute(select(health, func.count(Source.id)).group_by(health))
    }
    errors = session.scalars(
        select(Source)
        .where(Source.last_error.is_not(None), Source.last_error != "")
        .order_by(Source.last_fetch_at.desc().nulls_last(), Source.id)
        .limit(10)
    ).all()
    pending_comments = (
        session.scalar(select(func.count(Comment.id)).where(Comment.status == "pending")) or 0
    )
    latest = session.scalars(
        select(Article).order_by(Article.published_at.desc(), Article.id.desc()).limit(5)
    ).all()
    return render_template(
        "admin/dashboard.html",
        articles=articles,
        by_health=by_health,
        health_labels=HEALTH_LABELS,
        errors=errors,
        pending_comments=pending_comments,
        latest=latest,
    )
