"""Comments: submission, text handling, the comment feeds, moderation."""
