"""The WebSub hub in the admin: subscribers and delivery failures per feed."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from sqlalchemy import case, func, select

from feedserver.admin import bp
from feedserver.db import db_session
from feedserver.models import HubDelivery, HubSubscription

FAILING_SHOWN = 50


@bp.get("/websub/")
def websub() -> str:
    """List every feed with subscribers at our hub: counts, failures, last delivery."""
    session = db_session()
    sub = HubSubscription

    def count_state(state: str) -> Any:
        return func.sum(case((sub.state == state, 1), else_=0))

    feeds = session.execute(
        select(
            sub.path,
            count_state("active").label("active"),
            count_state("pending").label("pending"),
            count_state("ended").label("ended"),
            func.sum(case(((sub.state == "active") & (sub.failures > 0), 1), else_=0)).label(
                "failing"
            ),
            func.coalesce(func.sum(sub.failures), 0).label("failures"),
            func.max(sub.last_delivery_at).label("last_delivery_at"),
        )
        .group_by(sub.path)
        .order_by(count_state("active").desc(), sub.path)
    ).all()
    failing = session.scalars(
        select(sub)
        .where(sub.state == "active", sub.failures > 0)
        .order_by(sub.failures.desc(), sub.id)
        .limit(FAILING_SHOWN)
    ).all()
    queued = session.scalar(select(func.count(HubDelivery.id))) or 0
    return render_template(
        "admin/websub.html",
        feeds=feeds,
        failing=failing,
        queued=queued,
        external_hub=current_app.config["WEBSUB_HUB"],
    )
