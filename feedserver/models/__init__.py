"""The database models (SQLAlchemy 2.0, typed)."""

from feedserver.models.accounts import ApiToken, User
from feedserver.models.base import Base, UTCDateTime, utcnow
from feedserver.models.comments import COMMENT_STATUSES, Comment
from feedserver.models.content import Article, ArticleAuthor, Author, Section, Source
from feedserver.models.scopes import ScopeVersion, install_hooks, recount_scopes
from feedserver.models.tombstones import ArticleTombstone, TombstoneScope

install_hooks()

__all__ = [
    "COMMENT_STATUSES",
    "ApiToken",
    "Article",
    "ArticleAuthor",
    "ArticleTombstone",
    "Author",
    "Base",
    "Comment",
    "ScopeVersion",
    "Section",
    "Source",
    "TombstoneScope",
    "UTCDateTime",
    "User",
    "install_hooks",
    "recount_scopes",
    "utcnow",
]
