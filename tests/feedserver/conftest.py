"""Fixtures shared by the app-level test modules (on top of tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.feedserver.api_support import authorized, make_newsroom
from tests.feedserver.site_support import build_news


@pytest.fixture
def api(client, db):
    """The test client with a fresh admin's API token."""
    return authorized(client, db)


@pytest.fixture
def newsroom(db):
    """Sections, authors and a source to write articles against (see api_support)."""
    return make_newsroom(db)


@pytest.fixture
def news(db):
    """Two sections, two authors, one source; four articles (see site_support)."""
    build_news(db)
