"""Sign-in and sign-out, with a lock-out per account and a slow-down per address.

After :data:`MAX_FAILURES` wrong passwords in a row an account is locked for
:data:`LOCK_MINUTES`; each further failure from one client address within
:data:`IP_WINDOW` seconds beyond :data:`IP_FREE_FAILURES` doubles the wait it
must sit out (kept in this process's memory: a worker restart forgets it, the
per-account lock does not). Every refusal says the same words, so the page
never tells whether a user of that name exists.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from feedserver import accounts
from feedserver.admin import SignedInUser, bp
from feedserver.admin.forms import LoginForm, render_form
from feedserver.db import db_session

REFUSED = "Sign-in failed: the name or password is wrong, or the account is locked for a while."
IP_WINDOW = 15 * 60
IP_FREE_FAILURES = 10
IP_MAX_WAIT = 15 * 60

_failures: dict[str, deque[float]] = {}
_failures_lock = threading.Lock()


def _wait_for(address: str) -> int:
    """Return how many seconds this address must still wait before trying again."""
    now = time.monotonic()
    with _failures_lock:
        times = _failures.get(address)
        if not times:
            return 0
        while times and times[0] < now - IP_WINDOW:
            times.popleft()
        if len(times) < IP_FREE_FAILURES:
            return 0
        wait = min(2 ** (len(times) - IP_FREE_FAILURES), IP_MAX_WAIT)
        return max(0, int(times[-1] + wait - now) + 1)


def _note_failure(address: str) -> None:
    with _failures_lock:
        if len(_failures) > 10_000:  # a bound on memory under a spray of addresses
            _failures.clear()
        times = _failures.setdefault(address, deque(maxlen=64))
        times.append(time.monotonic())


def reset_failures() -> None:
    """Forget every address's failures (tests)."""
    with _failures_lock:
        _failures.clear()


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
        wait = _wait_for(address)
        if wait:
            form.form_errors.append(
                f"Too many failed sign-ins from your address; try again in {wait} seconds."
            )
            page, _ = render_form("admin/login.html", form)
            return page, 429, {"Retry-After": str(wait)}  # type: ignore[return-value]  # Flask accepts (body, status, headers) tuples
        db = db_session()
        user = accounts.authenticate(db, form.name.data or "", form.password.data or "")
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
    """Sign out (a POST with a CSRF token, so no page can sign a user out)."""
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("admin.login"))
