"""Login unblocks: `pochta auth unblock` records one row, the running server reads it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The login rate limiter lives in the memory of the server process (of each worker process, later);
the CLI reaches it through this table, as every other administration command reaches the server
through the database. A row older than the failure window and the lockout can no longer matter and
is dropped when the next one is added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_unblocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_unblocks"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_login_unblocks_created_ms", "login_unblocks", ["created_ms"])


def downgrade() -> None:
    op.drop_index("ix_login_unblocks_created_ms", table_name="login_unblocks")
    op.drop_table("login_unblocks")
