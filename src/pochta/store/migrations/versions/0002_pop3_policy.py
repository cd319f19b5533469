"""POP3 policy per account: mode, DELE action, LOGIN-DELAY, when POP3 was enabled, last login.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

NULL in every new column means "the server default of [pop3]" (mode, delete action, login delay),
"since the account was created" (pop_enabled_at) or "never" (pop_last_login).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("pop_mode", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pop_delete_action", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pop_login_delay", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pop_enabled_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("pop_last_login", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        for name in ("pop_last_login", "pop_enabled_at", "pop_login_delay", "pop_delete_action", "pop_mode"):
            batch.drop_column(name)
