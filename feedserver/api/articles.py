"""Placeholder: the articles endpoints are registered here."""

OPENAPI_PATHS: dict[str, object] = {}
