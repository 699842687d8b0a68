"""Helpers shared by the admin tests: users, signing in, reading forms back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from feedserver import accounts
from feedserver.admin import auth

PASSWORD = "correct horse battery staple"
USER = "editor-in-chief"


def make_user(db: Any, name: str = USER, password: str = PASSWORD) -> int:
    """Create an admin user and return its id."""
    with db.session() as s:
        return accounts.create_user(s, name, password).id


def sign_in(client: Any, name: str = USER, password: str = PASSWORD, **kw: Any) -> Any:
    """Post the sign-in form."""
    return client.post("/admin/login", data={"name": name, "password": password}, **kw)


def csrf_token(html: str) -> str:
    """Read the CSRF token out of a page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture(autouse=True)
def _forget_failures() -> Iterator[None]:
    """Start every test with no remembered sign-in failures."""
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
