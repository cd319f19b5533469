"""DMARC results kept for the aggregate reports (RFC 7489 section 7.2).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07

- ``dmarc_results``: one row per DMARC-evaluated message of a domain that asks for reports
  (pochta.store.dmarc_model says what each column holds). The daily report job reads the rows
  before its period's end and deletes them once reported; nothing is filled here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dmarc_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("policy_domain", sa.Text(), nullable=False),
        sa.Column("header_from", sa.Text(), nullable=False),
        sa.Column("source_ip", sa.Text(), nullable=False),
        sa.Column("envelope_from", sa.Text(), nullable=False),
        sa.Column("envelope_to", sa.Text(), nullable=False),
        sa.Column("published", sa.Text(), nullable=False),
        sa.Column("rua", sa.Text(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.Column("spf_aligned", sa.Boolean(), nullable=False),
        sa.Column("override", sa.Text(), nullable=False),
        sa.Column("override_comment", sa.Text(), nullable=False),
        sa.Column("auth", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_results")),
    )
    op.create_index(op.f("ix_dmarc_results_received"), "dmarc_results", ["received"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dmarc_results_received"), table_name="dmarc_results")
    op.drop_table("dmarc_results")
