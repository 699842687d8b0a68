"""Users: a session epoch, bumped at sign-out (users.session_epoch)

An admin's session cookie carries a fingerprint of the password hash, so a
password change ends every session. Signing out cleared the cookie in that
browser only: a copy of the cookie (a shared machine, a stolen one) stayed
good. The fingerprint now covers this number too, and signing out bumps it,
which ends every session of that user, as a password change does.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
