"""The fetcher of external accounts (docs/fetch.md).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07

- ``fetch_accounts``: the external POP3 (later IMAP) accounts of each local account, their
  password encrypted with the server secret, and the state of their runs.
- ``fetched_messages``: per external account, the keys (POP3 UIDL) of the messages already stored,
  written in the delivery's own transaction. Nothing is filled here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fetch_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("tls", sa.Text(), nullable=False),
        sa.Column("login", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("keep", sa.Boolean(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_run", sa.BigInteger(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_fetched", sa.Integer(), nullable=False),
        sa.Column("last_left", sa.Integer(), nullable=False),
        sa.Column("total_fetched", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_run", sa.BigInteger(), nullable=False),
        sa.Column("notified", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_fetch_accounts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_accounts")),
        sqlite_autoincrement=True,  # ids never reused (schema.py)
    )
    op.create_index(op.f("ix_fetch_accounts_account_id"), "fetch_accounts", ["account_id"])
    op.create_index(op.f("ix_fetch_accounts_next_run"), "fetch_accounts", ["next_run"])
    op.create_table(
        "fetched_messages",
        sa.Column("fetch_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fetch_id"],
            ["fetch_accounts.id"],
            name=op.f("fk_fetched_messages_fetch_id_fetch_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fetch_id", "key", name=op.f("pk_fetched_messages")),
    )


def downgrade() -> None:
    op.drop_table("fetched_messages")
    op.drop_index(op.f("ix_fetch_accounts_next_run"), table_name="fetch_accounts")
    op.drop_index(op.f("ix_fetch_accounts_account_id"), table_name="fetch_accounts")
    op.drop_table("fetch_accounts")
