"""Forms that make something are made once, however often they are sent.

A double click on "Publish", a reload of the page that answered it, or the
same form sent from a second tab used to make two articles (authors,
sections, tokens). Each such form carries a random one-time key
(``OnceForm.once``). The key is written, with the page that shows what the
form made, in the transaction that makes it (``remember``). The same key sent
again finds that row before anything is made (``sent_before``), or, when the
two arrived together, loses the race on the key's primary key: the loser's
transaction is rolled back and it is shown what the winner made.

A form posted without a key (a script, an older page) gets a fresh one, so
it behaves as before: each post makes a thing.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import flash, redirect
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import delete
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms.validators import Length, Optional, Regexp

from feedserver.models import FormSubmission, utcnow

KEEP = timedelta(days=2)
SENT_AGAIN = (
    "This form had already been sent: what it made is shown here, and nothing was made"
    " again. To make another, open a new form."
)


def new_key() -> str:
    return secrets.token_urlsafe(18)


class OnceForm(FlaskForm):
    """A form whose submission makes something: it carries a one-time key."""

    once = HiddenField(
        default=new_key,
        validators=[
            Optional(),
            Length(max=64, message="This form is damaged; open it again."),
            Regexp(r"[A-Za-z0-9_-]+\Z", message="This form is damaged; open it again."),
        ],
    )


def sent_before(session: Session, form: OnceForm, *, message: str = SENT_AGAIN) -> Response | None:
    """Where to send a form whose key already made something; None for a new key."""
    key = form.once.data
    if not key:
        return None
    row = session.get(FormSubmission, key)
    if row is None or row.user_id != current_user.id:
        return None
    flash(message, "info")
    return redirect(row.target)


def remember(session: Session, form: OnceForm, target: str) -> None:
    """Record, in the caller's transaction, that this form's key made what ``target`` shows."""
    if not form.once.data:
        return
    session.execute(delete(FormSubmission).where(FormSubmission.created_at < utcnow() - KEEP))
    session.add(FormSubmission(key=form.once.data, user_id=current_user.id, target=target))
    session.flush()
