"""Greylisting triplets (docs/antispam.md "Greylisting").

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07

- ``greylist``: one row per (client network, normalised sender, recipient) triplet
  (pochta.store.greylist_model says what each column holds); filled at RCPT by the MX gate, pruned
  by the housekeeper. Nothing is filled here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "greylist",
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("sender_domain", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("passed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client", "sender", "recipient", name=op.f("pk_greylist")),
    )
    op.create_index(op.f("ix_greylist_sender_domain"), "greylist", ["sender_domain"], unique=False)
    op.create_index(op.f("ix_greylist_last_seen"), "greylist", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_greylist_last_seen"), table_name="greylist")
    op.drop_index(op.f("ix_greylist_sender_domain"), table_name="greylist")
    op.drop_table("greylist")
