"""Sections: one name, case aside, held by the database (uq_sections_name)

The services refuse a second section of a name already taken, but two
requests (two web workers) could both pass that check and both insert. A
unique index on the lower-cased name makes the loser's write fail, which the
services answer with 409. Sections that such races already doubled are
renamed first ("World (2)"), oldest kept as it was.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, lower(name) FROM sections ORDER BY id")).all()
    taken = {folded for _, _, folded in rows}
    seen: set[str] = set()
    for ident, name, folded in rows:
        if folded not in seen:
            seen.add(folded)
            continue
        n = 2
        while f"{name} ({n})".lower() in taken:
            n += 1
        renamed = f"{name[:190]} ({n})"
        taken.add(renamed.lower())
        seen.add(renamed.lower())
        bind.execute(
            sa.text("UPDATE sections SET name = :name WHERE id = :id"), {"name": renamed, "id": ident}
        )
    op.create_index("uq_sections_name", "sections", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_sections_name", table_name="sections")
