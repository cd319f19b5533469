"""The outbound queue: queued messages and their recipients.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("envid", sa.Text(), nullable=True),
        sa.Column("ret", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("smtputf8", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("arrival", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_messages"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_queue_messages_sha256", "queue_messages", ["sha256"])
    op.create_table(
        "queue_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("orcpt_type", sa.Text(), nullable=True),
        sa.Column("orcpt", sa.Text(), nullable=True),
        sa.Column("notify", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt", sa.BigInteger(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("remote_mta", sa.Text(), nullable=True),
        sa.Column("delay_notified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue_messages.id"],
            name="fk_queue_recipients_queue_id_queue_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_queue_recipients"),
    )
    op.create_index("ix_queue_recipients_queue_id", "queue_recipients", ["queue_id"])


def downgrade() -> None:
    op.drop_index("ix_queue_recipients_queue_id", table_name="queue_recipients")
    op.drop_table("queue_recipients")
    op.drop_index("ix_queue_messages_sha256", table_name="queue_messages")
    op.drop_table("queue_messages")
