"""Gmail-style settings: an account's filters, vacation and forwarding, kept as rules.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

- ``mail_rules``: one row per rule (schema.py says what each column holds). Nothing is filled: no
  account had such rules before this revision. ``pochta.mail.mail_rules`` generates the account's
  managed Sieve script ("pochta-settings", a row of ``sieve_scripts``) from them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mail_rules_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_rules")),
    )
    op.create_index(op.f("ix_mail_rules_account_id_position"), "mail_rules", ["account_id", "position"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_rules_account_id_position"), table_name="mail_rules")
    op.drop_table("mail_rules")
