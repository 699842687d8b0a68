"""Placeholder: the comments endpoints are registered here."""

OPENAPI_PATHS: dict[str, object] = {}
