"""Stories: the queue of polled articles waiting to be grouped (story_queue)

The poller files a first poll's articles in the candidate index as it stores
them and groups them in batches a moment later (INTERFACE §10 allows five
seconds), where one read of the index serves thousands of articles. A row
here is an article filed but not yet grouped; it goes when it is grouped, or
with its article.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_queue",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_queue_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_story_queue")),
    )


def downgrade() -> None:
    op.drop_table("story_queue")
