"""API tokens of the signed-in user: create (shown once), list, revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from feedserver import accounts
from feedserver.admin import bp
from feedserver.admin.forms import ConfirmForm, TokenForm, attach_errors
from feedserver.db import db_session
from feedserver.errors import NotFound, Unprocessable
from feedserver.models import User


def _user() -> User:
    user = db_session().get(User, current_user.id)
    if user is None:  # deleted while signed in
        raise NotFound("Your account no longer exists.")
    return user


@bp.route("/tokens/", methods=["GET", "POST"])
def tokens() -> str | tuple[str, int]:
    """List the user's API tokens and create a new one."""
    session = db_session()
    user = _user()
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            new_token = accounts.create_token(session, user, form.label.data or "")
            session.commit()
        except Unprocessable as exc:
            session.rollback()
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
