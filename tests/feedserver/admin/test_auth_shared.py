"""The sign-in lock-out and slow-down live in the database: atomic and shared by processes."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from feedserver import accounts, create_app
from feedserver.admin.auth import IP_FREE_FAILURES
from feedserver.db import get_db
from feedserver.models import SignInFailure, User
from tests.feedserver.admin_support import (
    USER,
    make_user,
    sign_in,
)


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_concurrent_failures_are_all_counted(db):
    make_user(db)
    workers = accounts.MAX_FAILED_LOGINS - 1  # stay below the lock, which resets the count
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with db.session() as s:
                barrier.wait(10)
                assert accounts.authenticate(s, USER, "wrong") is None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        assert user.failed_logins == workers


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_concurrent_failures_past_the_limit_lock_the_account(db, monkeypatch):
    make_user(db)
    workers = accounts.MAX_FAILED_LOGINS + 3
    barrier = threading.Barrier(workers)
    # Every attempt has read the account as unlocked before any counts: without
    # this, a thread the loaded machine started late saw the lock and was (rightly)
    # refused uncounted, and the count depended on scheduling.
    checked = threading.Barrier(workers)
    verify = accounts._verify

    def verify_together(password_hash: str, password: str) -> bool:
        result = verify(password_hash, password)
        checked.wait(10)
        return result

    monkeypatch.setattr(accounts, "_verify", verify_together)

    def attempt() -> None:
        with db.session() as s:
            barrier.wait(10)
            accounts.authenticate(s, USER, "wrong")

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == USER))
        assert user.locked_until is not None
        assert user.failed_logins == 3  # counted on after the lock, none lost


def test_slow_down_is_shared_by_processes(app_config, client, db, tmp_path, monkeypatch):
    """A second app on the same database (another worker) sees the first one's failures."""
    make_user(db)
    for _ in range(IP_FREE_FAILURES):
        sign_in(client, password="wrong", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "other"))
    other = create_app(app_config)
    try:
        refused = sign_in(
            other.test_client(), password="wrong", environ_base={"REMOTE_ADDR": "203.0.113.9"}
        )
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit()
        elsewhere = sign_in(
            other.test_client(), password="wrong", environ_base={"REMOTE_ADDR": "203.0.113.10"}
        )
        assert elsewhere.status_code == 422
    finally:
        get_db(other).engine.dispose()
    with db.session() as s:
        hashes = set(s.scalars(select(SignInFailure.address_hash)))
    assert hashes and not any("203.0.113" in h for h in hashes)  # never the address itself
