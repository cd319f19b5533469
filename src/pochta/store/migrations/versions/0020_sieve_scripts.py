"""Sieve scripts: each account's scripts and which one is active (RFC 5228, RFC 5804).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

- ``sieve_scripts``: one row per script (schema.py says what each column holds). Nothing is filled:
  no account had a script before this revision. The delivery path reads it only for accounts with
  an active script.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sieve_scripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sieve_scripts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sieve_scripts")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_sieve_scripts_account_id_name")),
    )
    op.create_index(
        "ix_sieve_scripts_active",
        "sieve_scripts",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("ix_sieve_scripts_active", table_name="sieve_scripts")
    op.drop_table("sieve_scripts")
