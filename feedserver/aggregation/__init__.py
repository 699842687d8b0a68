"""Aggregation: upstream sources polled, parsed, stored as attributed articles.

refresh (one source: fetch → decide → store) · entries (pure preparation of
parsed entries) · store (every write of a refresh) · poller (claims due
sources, runs refreshes) · sources (the service the admin, API and CLI use) ·
cli (the ``sources`` and ``poll`` commands).
"""
