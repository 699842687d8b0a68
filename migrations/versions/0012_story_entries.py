"""Stories: each article's comparison features and admin pin (story_entries)

Also makes the candidate index covering (term, published_at, article_id), so
a candidate lookup reads the index alone.

Scoring a candidate no longer re-reads and re-normalizes its text: the
features are stored when an article is grouped or edited. Articles stored
before this revision have no entry and are read from their text until then.
The members of stories an admin already split or merged are pinned, so those
decisions keep holding when an article is edited (edits now regroup).

Revision ID: 0012
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_entries",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_entries_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_story_entries")),
    )
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_story_terms_term_published")
        batch_op.create_index(
            "ix_story_terms_term_published", ["term", "published_at", "article_id"], unique=False
        )
    op.execute(
        "INSERT INTO story_entries (article_id, features, pinned) "
        "SELECT articles.id, '', true FROM articles "
        "JOIN stories ON stories.id = articles.story_id WHERE stories.curated"
    )


def downgrade() -> None:
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_story_terms_term_published")
        batch_op.create_index(
            "ix_story_terms_term_published", ["term", "published_at"], unique=False
        )
    op.drop_table("story_entries")
