"""Fixtures of the admin tests: a signed-in client; no sign-in failures carried over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from feedserver import accounts
from feedserver.admin import auth
from tests.feedserver.admin_support import make_user, sign_in

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def forget_failures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start every test with no remembered sign-in failures, and hash passwords cheaply.

    argon2's real cost is the point in production and a few seconds per
    hundred tests here; the verification logic is the same.
    """
    monkeypatch.setattr(accounts, "hasher", FAST_HASHER)
    auth.reset_failures()
    yield
    auth.reset_failures()


@pytest.fixture
def admin(client: Any, db: Any) -> Any:
    """A test client signed in as an admin."""
    make_user(db)
    response = sign_in(client)
    assert response.status_code == 302, response.text
    return client
