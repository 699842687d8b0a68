"""Sign-in and sign-out, with a lock-out per account and a slow-down per address.

After :data:`MAX_FAILURES` wrong passwords in a row an account is locked for
:data:`LOCK_MINUTES` — to every address that has failed lately; the right
password from an address with no recent failure still signs in, so no one
can lock the admin out from afar; each further failure from one client address within
:data:`IP_WINDOW` seconds beyond :data:`IP_FREE_FAILURES` doubles the wait it
must sit out. Both are kept in the database, so every web process (and
machine) shares them: the account's counter is incremented by one atomic
UPDATE, and each failure from an address is one inserted row keyed by a
salted hash of the address (the address itself is never stored). Every refusal says the same words, so the page
never tells whether a user of that name exists.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, has_app_context, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, func, select
from werkzeug.wrappers import Response

from feedserver import accounts
from feedserver.admin import SignedInUser, bp
from feedserver.admin.forms import LoginForm, render_form
from feedserver.db import db_session
from feedserver.models import SignInFailure, User, utcnow

REFUSED = "Sign-in failed: the name or password is wrong, or the account is locked for a while."
IP_WINDOW = 15 * 60
IP_FREE_FAILURES = 10
IP_MAX_WAIT = 15 * 60


def address_hash(address: str) -> str:
    """A keyed hash of a client address: countable, not reversible without the key."""
    key = hashlib.sha256(b"feedserver sign-in address\x00" + _secret()).digest()
    return hmac.new(key, client_key(address).encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def client_key(address: str) -> str:
    """The client an address stands for: an IPv6 address's /64 (one subscriber's).

    One home or host gets a whole /64 and can change address within it at
    will: counted per address, each try could come from a new one.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def _failures(address: str) -> tuple[int, Any]:
    """This address's failures within the window, and the time of its last one."""
    now = utcnow()
    count, last = (
        db_session()
        .execute(
            select(func.count(), func.max(SignInFailure.at)).where(
                SignInFailure.address_hash == address_hash(address),
                SignInFailure.at > now - timedelta(seconds=IP_WINDOW),
            )
        )
        .one()
    )
    return int(count), last


def _wait_for(count: int, last: Any) -> int:
    """Return how many seconds an address with these failures must still wait."""
    now = utcnow()
    if count < IP_FREE_FAILURES or last is None:
        return 0
    if last.tzinfo is None:  # SQLite through an aggregate: no type processing
        last = last.replace(tzinfo=UTC)
    wait = min(2 ** min(count - IP_FREE_FAILURES, 30), IP_MAX_WAIT)
    return max(0, int((last - now).total_seconds() + wait) + 1)


def _note_failure(address: str) -> None:
    """Record one failure (a row: concurrent failures never overwrite each other)."""
    session = db_session()
    now = utcnow()
    session.add(SignInFailure(address_hash=address_hash(address), at=now))
    # Forget what is past every window, so the table stays small.
    session.execute(
        delete(SignInFailure).where(SignInFailure.at < now - timedelta(seconds=IP_WINDOW))
    )
    session.commit()


def reset_failures() -> None:
    """Forget every address's failures (tests; outside an app there is nothing to forget)."""
    if not has_app_context():
        return
    session = db_session()
    session.execute(delete(SignInFailure))
    session.commit()


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirect)."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith(("//", "/\\")) or any(ord(c) < 33 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | Response:
    """Show the sign-in form and sign the user in."""
    target = safe_next(request.args.get("next")) or url_for("admin.dashboard")
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        failures, last = _failures(address)
        wait = _wait_for(failures, last)
        if wait:
            form.form_errors.append(
                f"Too many failed sign-ins from your address; try again in {wait} seconds."
            )
            page, _ = render_form("admin/login.html", form)
            return page, 429, {"Retry-After": str(wait)}  # type: ignore[return-value]  # Flask accepts (body, status, headers) tuples
        db = db_session()
        user = accounts.authenticate(
            db, form.name.data or "", form.password.data or "", clean_address=not failures
        )
        db.commit()  # a failure is counted towards the account's lock-out
        if user is None:
            _note_failure(address)
            form.form_errors.append(REFUSED)
            form.password.data = ""
            return render_form("admin/login.html", form)
        session.clear()  # nothing from before the sign-in carries over
        login_user(SignedInUser(user))
        flash(f"Welcome, {user.name}. You are signed in.", "success")
        return redirect(target)
    return render_form("admin/login.html", form)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with a CSRF token, so no page can sign a user out).

    Every session of the user ends, copies of this cookie included: the
    session epoch in their fingerprint moves on (admin.session_id).
    """
    if current_user.is_authenticated:
        db = db_session()
        user = db.get(User, current_user.id)
        if user is not None:
            user.session_epoch = (user.session_epoch or 0) + 1
            db.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("admin.login"))
