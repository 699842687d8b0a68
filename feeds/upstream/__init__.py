"""The read side of syndication: fetch upstream feeds safely, parse, schedule.

fetch (httpx, conditional GET, limits) → guard/transport (no private
addresses) → parse (feedparser, JSON Feed by hand) → schedule (when next).
discover finds feeds in HTML pages; opml reads and writes subscription lists.
"""
