"""Admin users and API tokens: hashing, authentication, lockout, issuing and revoking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from feedserver import accounts
from feedserver.errors import Conflict, NotFound, Unprocessable
from feedserver.models import ApiToken, User, utcnow


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    """Argon2 at its cheapest: the tests check behaviour, not cost."""
    monkeypatch.setattr(
        accounts, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(accounts, "_dummy_hash", None)


def test_create_user_stores_an_argon2id_hash(db):
    with db.session() as s:
        user = accounts.create_user(s, "Ada Lovelace", "correct horse")
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
    with db.session() as s:
        assert accounts.find_user(s, "Ada Lovelace") is not None
        assert accounts.find_user(s, "ada lovelace") is None


@pytest.mark.parametrize(
    "name", ["", " ada", "ada ", "a\x00b", "a\nb", "\ud800", "x" * 151, 5, None]
)
def test_bad_names_are_refused(name):
    with pytest.raises(Unprocessable) as caught:
        accounts.check_name(name)
    assert "name" in caught.value.details["fields"]


@pytest.mark.parametrize("password", ["", "short", "1234567", "x" * 1025, "pass\x00word", None])
def test_bad_passwords_are_refused(password):
    with pytest.raises(Unprocessable) as caught:
        accounts.check_password(password)
    assert "password" in caught.value.details["fields"]


def test_create_user_checks_before_storing(db):
    with db.session() as s:
        for name, password in (("", "long enough"), ("ada", "short")):
            with pytest.raises(Unprocessable):
                accounts.create_user(s, name, password)
        assert s.scalar(select(User)) is None


def test_the_minimum_is_accepted_and_names_are_unique(db):
    with db.session() as s:
        accounts.create_user(s, "ada", "x" * accounts.MIN_PASSWORD_LENGTH)
    with db.session() as s, pytest.raises(Conflict, match="already exists"):
        accounts.create_user(s, "ada", "another password")


def test_authenticate(db):
    with db.session() as s:
        accounts.create_user(s, "ada", "correct horse")
    with db.session() as s:
        user = accounts.authenticate(s, "ada", "correct horse")
        assert user is not None and user.last_login_at is not None
        assert accounts.authenticate(s, "ada", "wrong horse") is None
        assert accounts.authenticate(s, "nobody", "correct horse") is None
        assert accounts.authenticate(s, "ada", None) is None  # type: ignore[arg-type]
        assert accounts.authenticate(s, "x" * 10_000, "y" * 10_000) is None


def test_an_unknown_name_still_costs_a_verification(db, monkeypatch):
    calls = []
    real = accounts._verify
    monkeypatch.setattr(accounts, "_verify", lambda h, p: calls.append(h) or real(h, p))
    with db.session() as s:
        assert accounts.authenticate(s, "nobody", "whatever") is None
    assert len(calls) == 1 and calls[0].startswith("$argon2")


def test_repeated_failures_lock_the_account_for_a_while(db):
    with db.session() as s:
        accounts.create_user(s, "ada", "correct horse")
    with db.session() as s:
        for _ in range(accounts.MAX_FAILED_LOGINS):
            assert accounts.authenticate(s, "ada", "guess") is None
        # Locked: even the right password is refused now.
        assert accounts.authenticate(s, "ada", "correct horse") is None
        user = accounts.find_user(s, "ada")
        assert user.locked_until > utcnow()
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lock runs out
    with db.session() as s:
        assert accounts.authenticate(s, "ada", "correct horse") is not None
        assert accounts.find_user(s, "ada").failed_logins == 0


def test_an_outdated_hash_is_upgraded_on_login(db):
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash("correct horse")
    with db.session() as s:
        s.add(User(name="ada", password_hash=old))
    with db.session() as s:
        assert accounts.authenticate(s, "ada", "correct horse") is not None
    with db.session() as s:
        new = accounts.find_user(s, "ada").password_hash
        assert new != old and not accounts.hasher.check_needs_rehash(new)


def test_set_password_replaces_it_and_lifts_the_lock(db):
    with db.session() as s:
        user = accounts.create_user(s, "ada", "first password")
        user.locked_until = utcnow() + timedelta(hours=1)
    with db.session() as s:
        accounts.set_password(s, accounts.get_user(s, "ada"), "second password")
    with db.session() as s:
        assert accounts.authenticate(s, "ada", "first password") is None
        assert accounts.authenticate(s, "ada", "second password") is not None


def test_tokens_are_shown_once_and_stored_hashed(db):
    with db.session() as s:
        user = accounts.create_user(s, "ada", "correct horse")
        token = accounts.create_token(s, user, "laptop")
        other = accounts.create_token(s, user)
    assert token.startswith("fs_") and len(token) == 3 + 43 and token != other
    with db.session() as s:
        rows = accounts.list_tokens(s, accounts.get_user(s, "ada"))
        assert [r.label for r in rows] == ["laptop", ""]
        assert rows[0].token_hash == ApiToken.hash(token)
        assert rows[0].prefix == token[:10]
        assert token not in (rows[0].token_hash, rows[0].prefix)


def test_token_labels_are_checked(db):
    with db.session() as s:
        user = accounts.create_user(s, "ada", "correct horse")
        for label in ("x" * 151, "tab\there", 5):
            with pytest.raises(Unprocessable):
                accounts.create_token(s, user, label)  # type: ignore[arg-type]


def test_revoke_token(db):
    with db.session() as s:
        ada = accounts.create_user(s, "ada", "correct horse")
        bo = accounts.create_user(s, "bo", "correct horse")
        accounts.create_token(s, ada)
        token_id = s.scalar(select(ApiToken.id))
    with db.session() as s:
        with pytest.raises(NotFound):
            accounts.revoke_token(s, token_id, user=accounts.get_user(s, "bo"))
        first = accounts.revoke_token(s, token_id).revoked_at
        assert first is not None
        assert accounts.revoke_token(s, token_id).revoked_at == first  # twice is harmless
        assert accounts.list_tokens(s, accounts.get_user(s, "ada"), include_revoked=False) == []
        for bad in (0, -1, 2**40):
            with pytest.raises(NotFound):
                accounts.revoke_token(s, bad)
    assert bo.name == "bo"


def test_get_user_unknown_is_not_found(db):
    with db.session() as s, pytest.raises(NotFound, match="nobody"):
        accounts.get_user(s, "nobody")
