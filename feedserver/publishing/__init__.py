"""Publishing: scope queries, rows → ``feeds`` data, feed views and caches.

queries (scopes and their rows) · views (feed endpoints) · cache (rendered
bytes by scope version) · fastpath (WSGI layer answering cached hits and 304s
without Flask) · scopewatch (per-process scope-version watchers).
"""
