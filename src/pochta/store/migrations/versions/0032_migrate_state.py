"""What `pochta migrate` copied from another IMAP server (docs/migrate.md).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07

- ``migrate_folders``: per account, source server and remote folder: its UIDVALIDITY, the local
  mailbox it goes to and the HIGHESTMODSEQ up to which its flags were read.
- ``migrate_messages``: each remote message copied (UIDVALIDITY, UID), the local UID it got, its
  SHA-256 and the remote flags last seen. A row is written in the transaction that places its
  message, so a message is never copied twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrate_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("remote_name", sa.Text(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_migrate_folders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_migrate_folders_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrate_folders")),
        sa.UniqueConstraint(
            "account_id",
            "source",
            "remote_name",
            name=op.f("uq_migrate_folders_account_id_source_remote_name"),
        ),
    )
    op.create_index(op.f("ix_migrate_folders_mailbox_id"), "migrate_folders", ["mailbox_id"])
    op.create_table(
        "migrate_messages",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("remote_uid", sa.BigInteger(), nullable=False),
        sa.Column("local_uid", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["migrate_folders.id"],
            name=op.f("fk_migrate_messages_folder_id_migrate_folders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("folder_id", "uidvalidity", "remote_uid", name=op.f("pk_migrate_messages")),
    )
    op.create_index(op.f("ix_migrate_messages_folder_id_sha256"), "migrate_messages", ["folder_id", "sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_migrate_messages_folder_id_sha256"), table_name="migrate_messages")
    op.drop_table("migrate_messages")
    op.drop_index(op.f("ix_migrate_folders_mailbox_id"), table_name="migrate_folders")
    op.drop_table("migrate_folders")
