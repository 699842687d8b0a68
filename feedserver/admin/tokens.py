"""API tokens of the signed-in user: create (shown once), list, revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from feedserver import accounts
from feedserver.admin import bp, once
from feedserver.admin.forms import ConfirmForm, TokenForm, attach_errors
from feedserver.content import editing
from feedserver.db import db_session
from feedserver.errors import Conflict, NotFound, Unprocessable
from feedserver.models import User

SENT_AGAIN = (
    "This form had already been sent, and its token was made then: a token's secret is"
    " shown only once. If you did not copy it, revoke that token and create another."
)


def _user() -> User:
    user = db_session().get(User, current_user.id)
    if user is None:  # deleted while signed in
        raise NotFound("Your account no longer exists.")
    return user


@bp.route("/tokens/", methods=["GET", "POST"])
def tokens() -> str | tuple[str, int] | Response:
    """List the user's API tokens and create a new one."""
    session = db_session()
    user = _user()
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        if (done := once.sent_before(session, form, message=SENT_AGAIN)) is not None:
            return done
        try:
            with editing.saving(session):
                new_token = accounts.create_token(session, user, form.label.data or "")
                once.remember(session, form, url_for("admin.tokens"))
        except (Unprocessable, Conflict) as exc:
            new_token = None
            if (done := once.sent_before(session, form, message=SENT_AGAIN)) is not None:
                return done
            attach_errors(form, exc.message, exc.details.get("fields"))
        else:
            flash(
                f"The token “{form.label.data}” was created. Copy it now: it is shown only once.",
                "success",
            )
            form = TokenForm(formdata=None)
    page = render_template(
        "admin/tokens.html",
        form=form,
        rows=accounts.list_tokens(session, user),
        new_token=new_token,
        revoke_form=ConfirmForm(),
    )
    return (page, 422) if form.errors else page


@bp.post("/tokens/<int:ident>/revoke")
def token_revoke(ident: int) -> Response:
    """Revoke one of the user's tokens."""
    session = db_session()
    token = accounts.revoke_token(session, ident, user=_user())
    session.commit()
    flash(
        f"The token “{token.label or token.prefix}” was revoked; it no longer opens the API.",
        "success",
    )
    return redirect(url_for("admin.tokens"))
