"""Stories: ids are never handed out twice on SQLite (story_id_floor)

SQLite gives a new row the highest id in use plus one: a dissolved story's id
came back for the next story formed. One row keeps the highest id ever
handed out; new stories take ids above it.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_id_floor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_id_floor")),
    )
    op.execute("INSERT INTO story_id_floor (id, last) SELECT 1, coalesce(max(id), 0) FROM stories")


def downgrade() -> None:
    op.drop_table("story_id_floor")
