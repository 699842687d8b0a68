"""Admin users and API tokens: creating, checking passwords, issuing and revoking tokens.

Shared by the CLI and the web admin. Passwords are hashed with argon2id
(argon2-cffi's defaults); tokens are ``fs_`` + 43 random URL-safe characters,
shown once and stored only as their SHA-256 (``ApiToken.hash``) with a short
prefix to recognise them in lists. Functions flush; the caller commits —
also after a failed :func:`authenticate`, which records the failure.

Errors: ``Unprocessable`` (bad name, password or label, with ``fields``),
``Conflict`` (name taken), ``NotFound`` (no such user or token).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedserver.content.validation import text_problem
from feedserver.errors import Conflict, NotFound, Unprocessable
from feedserver.models import ApiToken, User, utcnow
from feedserver.web import valid_id

MIN_PASSWORD_LENGTH = 8
# Hashing is deliberately slow; an unbounded password would make it a lever.
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 150
MAX_LABEL_LENGTH = 150
TOKEN_PREFIX = "fs_"  # noqa: S105 - a visible marker, not a secret
TOKEN_SHOWN = 10  # characters kept in clear to recognise a token ("fs_AbCdEfG")
# After this many wrong passwords in a row the account rests for LOCK_TIME;
# short enough that an attacker cannot lock an admin out for long.
MAX_FAILED_LOGINS = 10
LOCK_TIME = timedelta(minutes=15)
FRESH_TRIES_WHILE_LOCKED = 3  # checked passwords from new addresses during a lock

hasher = PasswordHasher()
_dummy_hash: str | None = None


def check_name(name: object) -> str:
    """Return a valid user name or raise Unprocessable."""
    if not isinstance(name, str):
        raise Unprocessable("The user name must be text.", fields={"name": "must be a string"})
    problem = text_problem(name, multiline=False)
    if problem is None and not 1 <= len(name) <= MAX_NAME_LENGTH:
        problem = f"must be 1 to {MAX_NAME_LENGTH} characters"
    if problem is None and name != name.strip():
        problem = "must not start or end with spaces"
    if problem:
        raise Unprocessable(f"The user name {problem}.", fields={"name": problem})
    return name


def check_password(password: object) -> str:
    """Return an acceptable password or raise Unprocessable."""
    problem = None
    if not isinstance(password, str):
        problem = "must be a string"
    elif len(password) < MIN_PASSWORD_LENGTH:
        problem = f"must be at least {MIN_PASSWORD_LENGTH} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"must be at most {MAX_PASSWORD_LENGTH} characters"
    elif "\x00" in password:
        problem = "contains a NUL character"
    else:
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:
            problem = "contains characters that are not valid Unicode"
    if problem:
        raise Unprocessable(f"The password {problem}.", fields={"password": problem})
    assert isinstance(password, str)
    return password


def find_user(session: Session, name: str) -> User | None:
    """Return the user with this exact name, or None."""
    return session.scalar(select(User).where(User.name == name))


def get_user(session: Session, name: str) -> User:
    """Return the user with this name or raise NotFound."""
    user = find_user(session, name) if isinstance(name, str) and len(name) <= 150 else None
    if user is None:
        raise NotFound(f"No user called {name!r}.")
    return user


def create_user(session: Session, name: str, password: str) -> User:
    """Create an admin user with an argon2 password hash."""
    name = check_name(name)
    password = check_password(password)
    if find_user(session, name) is not None:
        raise Conflict(f"A user called {name!r} already exists.", fields={"name": "taken"})
    user = User(name=name, password_hash=hasher.hash(password), failed_logins=0)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # created by someone else in the meantime
        session.rollback()
        raise Conflict(
            f"A user called {name!r} already exists.", fields={"name": "taken"}
        ) from None
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password (and lift any lock)."""
    user.password_hash = hasher.hash(check_password(password))
    user.failed_logins = 0
    user.locked_until = None
    session.flush()


def authenticate(
    session: Session, name: str, password: str, *, clean_address: bool = False
) -> User | None:
    """Return the user if the name and password match, else None.

    An unknown name costs one argon2 verification too, so the answer's timing
    does not tell which names exist. A locked account answers None whatever the
    password — except to a client whose address has no recent failures
    (``clean_address``), for :data:`FRESH_TRIES_WHILE_LOCKED` tries: anyone
    could otherwise lock the admin out for good, ten wrong passwords every
    quarter of an hour, from anywhere; and an attacker who changes address
    every try still gets no more than a few guesses per lock. Commit afterwards either way: failures are counted.
    """
    user = find_user(session, name) if isinstance(name, str) and len(name) <= 150 else None
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        password = ""
    if user is None:
        _verify(_dummy(), password)
        return None
    now = utcnow()
    locked = user.locked_until is not None and user.locked_until > now
    # While locked, a few checked guesses from addresses that never failed:
    # enough for the owner to get in, too few for an attacker who changes
    # address every try (failed_logins counts again from the lock).
    if locked and (not clean_address or (user.failed_logins or 0) >= FRESH_TRIES_WHILE_LOCKED):
        _verify(_dummy(), password)
        return None
    if not _verify(user.password_hash, password):
        _count_failure(session, user, now)
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


def _count_failure(session: Session, user: User, now: datetime) -> None:
    """Count one failure in the database itself, atomically.

    ``failed_logins = failed_logins + 1`` is one UPDATE, so concurrent wrong
    passwords (threads, processes, machines) each count; reading the number
    into Python and writing it back lost updates. The lock is set by a
    second conditional UPDATE, which only the request that reached the limit
    (and not one that raced past a reset) can match.
    """
    no_sync = {"synchronize_session": False}  # the attributes are expired below
    # A lock that has ended starts the count again: its failures (the fresh
    # addresses' tries during it) do not shorten the next one.
    ended = and_(User.locked_until.is_not(None), User.locked_until <= now)
    count = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            failed_logins=case((ended, 1), else_=func.coalesce(User.failed_logins, 0) + 1),
            locked_until=case((ended, None), else_=User.locked_until),
        )
        .returning(User.failed_logins),
        execution_options=no_sync,
    ).scalar_one()
    if count >= MAX_FAILED_LOGINS:
        session.execute(
            update(User)
            .where(User.id == user.id, User.failed_logins >= MAX_FAILED_LOGINS)
            .values(locked_until=now + LOCK_TIME, failed_logins=0),
            execution_options=no_sync,
        )
    session.expire(user, ["failed_logins", "locked_until"])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


# --- API tokens --------------------------------------------------------------------


def create_token(session: Session, user: User, label: str = "") -> str:
    """Issue a new API token for ``user`` and return it — the only time it is seen."""
    if not isinstance(label, str):
        raise Unprocessable("The label must be text.", fields={"label": "must be a string"})
    problem = text_problem(label, multiline=False)
    if problem is None and len(label) > MAX_LABEL_LENGTH:
        problem = f"must be at most {MAX_LABEL_LENGTH} characters"
    if problem:
        raise Unprocessable(f"The label {problem}.", fields={"label": problem})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user=user,
            label=label.strip(),
            token_hash=ApiToken.hash(token),
            prefix=token[:TOKEN_SHOWN],
        )
    )
    session.flush()
    return token


def list_tokens(session: Session, user: User, *, include_revoked: bool = True) -> list[ApiToken]:
    """Return the user's tokens, oldest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ApiToken.created_at, ApiToken.id)))


def revoke_token(session: Session, token_id: int, *, user: User | None = None) -> ApiToken:
    """Revoke a token by id (only ``user``'s, when given); revoking twice is harmless."""
    token = session.get(ApiToken, token_id) if valid_id(token_id) else None
    if token is None or (user is not None and token.user_id != user.id):
        raise NotFound(f"No API token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token
