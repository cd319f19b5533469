"""Initial schema of the embedded store.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Written by hand and frozen: later changes go into new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("imap", sa.Boolean(), nullable=False),
        sa.Column("pop3", sa.Boolean(), nullable=False),
        sa.Column("submission", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_domains"),
        sa.UniqueConstraint("name", name="uq_domains_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("address_key", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("scram_salt", sa.LargeBinary(), nullable=True),
        sa.Column("scram_iterations", sa.Integer(), nullable=True),
        sa.Column("scram_stored_key", sa.LargeBinary(), nullable=True),
        sa.Column("scram_server_key", sa.LargeBinary(), nullable=True),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("imap", sa.Boolean(), nullable=False),
        sa.Column("pop3", sa.Boolean(), nullable=False),
        sa.Column("submission", sa.Boolean(), nullable=False),
        sa.Column("apop_secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name="fk_accounts_domain_id_domains", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("address_key", name="uq_accounts_address_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_accounts_domain_id", "accounts", ["domain_id"])
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_used", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_app_passwords_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_app_passwords"),
        sa.UniqueConstraint("account_id", "name", name="uq_app_passwords_account_id_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("target_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name="fk_aliases_domain_id_domains", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_aliases"),
        sa.UniqueConstraint("source_key", "target_key", name="uq_aliases_source_key_target_key"),
    )
    op.create_index("ix_aliases_domain_id", "aliases", ["domain_id"])
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uidnext", sa.BigInteger(), nullable=False),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=False),
        sa.Column("special_use", sa.Text(), nullable=True),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("unseen", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_mailboxes_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mailboxes"),
        sa.UniqueConstraint("account_id", "name", name="uq_mailboxes_account_id_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "subscriptions",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_subscriptions_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name="pk_subscriptions"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("parsed_json", sa.LargeBinary(), nullable=False),
        sa.Column("parse_version", sa.Integer(), nullable=False),
        sa.Column("refcount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("sha256", name="uq_messages_sha256"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "membership",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.Column("internal_date", sa.BigInteger(), nullable=False),
        sa.Column("internal_tz", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name="fk_membership_mailbox_id_mailboxes", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_membership_message_id_messages", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("mailbox_id", "uid", name="pk_membership"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_membership_mailbox_id_modseq", "membership", ["mailbox_id", "modseq"])
    op.create_index("ix_membership_message_id", "membership", ["message_id"])
    op.create_table(
        "expunged",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name="fk_expunged_mailbox_id_mailboxes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("mailbox_id", "uid", name="pk_expunged"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_expunged_mailbox_id_modseq", "expunged", ["mailbox_id", "modseq"])
    op.create_table(
        "quota_usage",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_quota_usage_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_quota_usage"),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Full-text search over the text cached at delivery; rowid = messages.id. The trigram
        # tokenizer gives IMAP SEARCH substring semantics (RFC 9051 §6.4.4), case-insensitively.
        op.execute("CREATE VIRTUAL TABLE message_text USING fts5(body, headers, tokenize = 'trigram')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_text")
    for table in (
        "quota_usage",
        "expunged",
        "membership",
        "messages",
        "subscriptions",
        "mailboxes",
        "aliases",
        "app_passwords",
        "accounts",
        "domains",
        "meta",
    ):
        op.drop_table(table)
