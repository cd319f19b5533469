"""METADATA (RFC 5464): mailbox and server annotations.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

- ``metadata_entries``: one row per entry with a value (schema.py says how rows are keyed). Nothing
  is filled: no entry has a value before this revision. The delivery path does not touch it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadata_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_metadata_entries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_metadata_entries_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_entries")),
    )
    op.create_index(
        op.f("ix_metadata_entries_mailbox_id_account_id_name"),
        "metadata_entries",
        ["mailbox_id", "account_id", "name"],
    )
    op.create_index(op.f("ix_metadata_entries_account_id"), "metadata_entries", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_metadata_entries_account_id"), table_name="metadata_entries")
    op.drop_index(op.f("ix_metadata_entries_mailbox_id_account_id_name"), table_name="metadata_entries")
    op.drop_table("metadata_entries")
