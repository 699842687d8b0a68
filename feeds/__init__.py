"""The syndication core: feeds as data, rendered, parsed, fetched, sanitized.

Boundary: this package imports neither Flask nor SQLAlchemy (nor anything from
``feedserver``). It takes plain bytes and plain data in and gives plain data
and bytes out, so every part of it is testable without an app or a database.
``tests/feeds/test_boundary.py`` enforces the rule.
"""
