"""The admin's signed-in client fixture (``admin``) for this package's admin-path tests."""

from tests.feedserver.admin.conftest import admin, forget_failures  # noqa: F401 - fixtures
