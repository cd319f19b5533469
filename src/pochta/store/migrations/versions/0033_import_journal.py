"""The import journal of `pochta import` (docs/import-export.md "Resuming").

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07

- ``import_journal``: (account, source, item) of every message an import placed, written in the
  transaction that placed it. Nothing is filled here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_journal",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_import_journal_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "source", "item", name=op.f("pk_import_journal")),
    )


def downgrade() -> None:
    op.drop_table("import_journal")
