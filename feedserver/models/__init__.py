"""The database models (SQLAlchemy 2.0, typed)."""

from .accounts import ApiToken, User
from .base import Base, UTCDateTime, utcnow
from .comments import COMMENT_STATUSES, Comment
from .content import Article, ArticleAuthor, Author, Section, Source
from .scopes import ScopeVersion, install_hooks, recount_scopes

install_hooks()

__all__ = [
    "COMMENT_STATUSES",
    "ApiToken",
    "Article",
    "ArticleAuthor",
    "Author",
    "Base",
    "Comment",
    "ScopeVersion",
    "Section",
    "Source",
    "UTCDateTime",
    "User",
    "install_hooks",
    "recount_scopes",
    "utcnow",
]
