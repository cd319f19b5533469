"""OBJECTID threads and SAVEDATE: per-account thread ids, and the date a message entered its mailbox.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

- ``membership.save_date`` (RFC 8514 §3): set by every write that adds a membership row (delivery,
  APPEND, COPY, MOVE), a value in the row already written. NULL for rows older than this revision:
  they are answered with their internal date (docs/imap.md "SAVEDATE").
- ``message_threads`` (RFC 8474 §5.2 THREADID): the thread of each message of an account, given once
  and never changed; ``thread_keys`` maps each Message-ID an account's messages carry or refer to
  (their own, In-Reply-To, References) to the thread that first carried it; ``thread_progress`` is
  per mailbox the last UID threaded. Threads are assigned off the delivery path, by the background
  indexer (``sqlite/threads``); messages stored before this revision are threaded by it too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("membership", sa.Column("save_date", sa.BigInteger(), nullable=True))
    op.create_table(
        "message_threads",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_message_threads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "message_id", name=op.f("pk_message_threads")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_message_threads_account_id_thread_id", "message_threads", ["account_id", "thread_id"])
    op.create_index("ix_message_threads_message_id", "message_threads", ["message_id"])
    op.create_table(
        "thread_keys",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("msgid", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_thread_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "msgid", name=op.f("pk_thread_keys")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "thread_progress",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_thread_progress_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_thread_progress")),
    )


def downgrade() -> None:
    op.drop_table("thread_progress")
    op.drop_table("thread_keys")
    op.drop_index("ix_message_threads_message_id", table_name="message_threads")
    op.drop_index("ix_message_threads_account_id_thread_id", table_name="message_threads")
    op.drop_table("message_threads")
    # In place (SQLite 3.35), as revision 0012 does: a batch copy would drop the triggers on it.
    op.execute("ALTER TABLE membership DROP COLUMN save_date")
