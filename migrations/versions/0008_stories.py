"""Stories: one piece of news from several sources (INTERFACE §10)

Adds ``stories``, the ``story_terms`` candidate index, and on ``articles`` the
story link with the two flags that fold a story's later members out of the
site and section listings (with their listing indexes).

Revision ID: 0008
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedserver.models.base

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("curated", sa.Boolean(), nullable=False),
        sa.Column("created_at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_table(
        "story_terms",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=40), nullable=False),
        sa.Column(
            "published_at", feedserver.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_terms_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "term", name=op.f("pk_story_terms")),
    )
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_story_terms_term_published", ["term", "published_at"], unique=False
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("story_hidden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "story_section_hidden", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_story_id_stories"),
            "stories",
            ["story_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_articles_story_id",
            ["story_id"],
            unique=False,
            sqlite_where=sa.text("story_id IS NOT NULL"),
            postgresql_where=sa.text("story_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_articles_listed", ["story_hidden", "published_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_articles_section_listed",
            ["section_id", "story_section_hidden", "published_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_section_listed")
        batch_op.drop_index("ix_articles_listed")
        batch_op.drop_index("ix_articles_story_id")
        batch_op.drop_constraint(batch_op.f("fk_articles_story_id_stories"), type_="foreignkey")
        batch_op.drop_column("story_section_hidden")
        batch_op.drop_column("story_hidden")
        batch_op.drop_column("story_id")
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_story_terms_term_published")
    op.drop_table("story_terms")
    op.drop_table("stories")
