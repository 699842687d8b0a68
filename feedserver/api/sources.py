"""Placeholder: the sources endpoints are registered here."""

OPENAPI_PATHS: dict[str, object] = {}
