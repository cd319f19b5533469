"""Sending limits (docs/antispam.md "Sending limits").

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07

- ``send_limits``: per-account and per-domain overrides of the [limits] send_* defaults.
- ``send_counts``: messages and recipients each account and domain sent in the current clock hour
  and UTC day (pochta.store.send_limit_model). Nothing is filled here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_limits",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("messages_per_hour", sa.Integer(), nullable=True),
        sa.Column("messages_per_day", sa.Integer(), nullable=True),
        sa.Column("recipients_per_hour", sa.Integer(), nullable=True),
        sa.Column("recipients_per_day", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "name", name=op.f("pk_send_limits")),
    )
    op.create_table(
        "send_counts",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name", "period", "start", name=op.f("pk_send_counts")),
    )


def downgrade() -> None:
    op.drop_table("send_counts")
    op.drop_table("send_limits")
