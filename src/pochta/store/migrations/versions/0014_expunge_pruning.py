"""Expunge records can be pruned: their time, and per mailbox the highest MODSEQ pruned.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

``expunged.at`` says when a message left its mailbox; housekeeping deletes records older than
``store.expunge_record_days`` and raises ``expunge_horizon.modseq`` of their mailbox to the highest
MODSEQ it deleted, so that a QRESYNC client asking for changes since an older MODSEQ is told every
UID it knows that is gone (RFC 7162 §3.2.6), never a partial list. Records existing before this
revision count as made now.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place (SQLite 3.35 ADD COLUMN): a batch copy of the table is not needed for a new column.
    op.add_column("expunged", sa.Column("at", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(sa.text("UPDATE expunged SET at = :now").bindparams(now=int(time.time())))
    op.create_table(
        "expunge_horizon",
        sa.Column(
            "mailbox_id", sa.Integer(), sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("expunge_horizon")
    op.execute("ALTER TABLE expunged DROP COLUMN at")
