"""Stored mailbox views: one packed row per big mailbox, so that opening it reads the changes since.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

``mailbox_snapshots`` holds a mailbox's view packed at one HIGHESTMODSEQ (``pochta.store.sqlite.views``).
It is derived data, written in the background after a full read of a big mailbox; a database
upgraded to this revision starts without any.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_snapshots",
        sa.Column(
            "mailbox_id", sa.Integer(), sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("layout", sa.Text(), nullable=False),
        sa.Column("flag_texts", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mailbox_snapshots")
