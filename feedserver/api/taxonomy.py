"""Placeholder: the taxonomy endpoints are registered here."""

OPENAPI_PATHS: dict[str, object] = {}
