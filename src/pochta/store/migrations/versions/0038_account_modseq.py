"""One MODSEQ counter per account and the change records of JMAP's ``*/changes``.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07

``account_modseq``: one row per account, its counter at the highest MODSEQ of its mailboxes (0 when
it has none); every MODSEQ a mailbox takes from now on is drawn from it (``MailOps.bump_mailbox``).
``account_emails``: one row per message each account holds, created = changed = the highest MODSEQ
of its memberships. ``mailbox_tombstones``: empty. ``mailboxes.created_modseq`` and ``meta_modseq``:
0 for the mailboxes there are (older than any state a client can hold). The statements are plain
SQL both engines run alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both engines (a batch rebuild of mailboxes would trip its triggers).
    op.add_column(
        "mailboxes", sa.Column("created_modseq", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("mailboxes", sa.Column("meta_modseq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "account_modseq",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.Column("pruned", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_modseq_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_modseq")),
    )
    op.create_table(
        "account_emails",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("destroyed", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_emails_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "message_id", name=op.f("pk_account_emails")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_account_emails_account_id_changed"), "account_emails", ["account_id", "changed"])
    op.create_table(
        "mailbox_tombstones",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("created_modseq", sa.BigInteger(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mailbox_tombstones_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "mailbox_id", name=op.f("pk_mailbox_tombstones")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO account_modseq (account_id, modseq, pruned) "
        "SELECT a.id, COALESCE((SELECT max(b.highestmodseq) FROM mailboxes AS b "
        "WHERE b.account_id = a.id), 0), 0 "
        "FROM accounts AS a"
    )
    op.execute(
        "INSERT INTO account_emails (account_id, message_id, created, changed, destroyed, thread_id) "
        "SELECT b.account_id, m.message_id, max(m.modseq), max(m.modseq), NULL, NULL "
        "FROM membership AS m JOIN mailboxes AS b ON b.id = m.mailbox_id "
        "GROUP BY b.account_id, m.message_id"
    )


def downgrade() -> None:
    op.drop_table("mailbox_tombstones")
    op.drop_index(op.f("ix_account_emails_account_id_changed"), table_name="account_emails")
    op.drop_table("account_emails")
    op.drop_table("account_modseq")
    op.drop_column("mailboxes", "meta_modseq")
    op.drop_column("mailboxes", "created_modseq")
