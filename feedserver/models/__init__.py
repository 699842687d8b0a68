"""The database models (SQLAlchemy 2.0, typed)."""

from feedserver.models.accounts import ApiToken, FormSubmission, SignInFailure, User
from feedserver.models.base import Base, UTCDateTime, utcnow
from feedserver.models.comments import COMMENT_STATUSES, Comment
from feedserver.models.content import Article, ArticleAuthor, Author, Section, Source
from feedserver.models.hub import HubDelivery, HubMark, HubSubscription
from feedserver.models.push import UpstreamSubscription
from feedserver.models.scopes import ScopeVersion, install_hooks, recount_scopes
from feedserver.models.stats import FeedClient, FeedDay, FeedTrafficHour, ReaderReport
from feedserver.models.stories import Story, StoryEntry, StoryIdFloor, StoryQueue, StoryTerm
from feedserver.models.tombstones import ArticleTombstone, TombstoneScope
from feedserver.models.tombstones import install_hooks as _install_id_hooks

install_hooks()
_install_id_hooks()

# After the scope hook: grouping reads what it counted (feedserver.stories).
from feedserver.stories.grouping import install_hooks as _install_story_hooks  # noqa: E402

_install_story_hooks()

__all__ = [
    "COMMENT_STATUSES",
    "ApiToken",
    "Article",
    "ArticleAuthor",
    "ArticleTombstone",
    "Author",
    "Base",
    "Comment",
    "HubDelivery",
    "HubMark",
    "HubSubscription",
    "FeedClient",
    "FormSubmission",
    "FeedDay",
    "FeedTrafficHour",
    "ReaderReport",
    "ScopeVersion",
    "SignInFailure",
    "Section",
    "Source",
    "TombstoneScope",
    "Story",
    "StoryEntry",
    "StoryIdFloor",
    "StoryQueue",
    "StoryTerm",
    "UTCDateTime",
    "UpstreamSubscription",
    "User",
    "install_hooks",
    "recount_scopes",
    "utcnow",
]
