"""The read side of syndication: fetch upstream feeds safely, parse, schedule.

fetch (conditional GET, limits) → connections (keep-alive, http.client) and
guard (no private addresses; transport: the same for httpx clients) → parse (feedparser, JSON Feed by hand) → schedule (when next).
discover finds feeds in HTML pages; opml reads and writes subscription lists.
"""
