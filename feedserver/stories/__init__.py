"""Stories: one piece of news reported by several sources, shown once (INTERFACE §10).

- :mod:`feedserver.stories.similarity` — pure: do two articles tell one story?
- :mod:`feedserver.stories.grouping` — the database side: index a new
  article's words, find its candidates among the articles of ±72 hours, join
  it to its story, keep each story's lead and the listing counts right.
- :mod:`feedserver.stories.curation` — admins split and merge stories.
- :mod:`feedserver.stories.members` — what pages and feeds show of a story.
"""
