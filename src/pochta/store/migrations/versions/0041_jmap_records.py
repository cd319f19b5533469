"""JMAP Identity and EmailSubmission records: ``jmap_records``, ``jmap_record_states``.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07

One row per JMAP object the store keeps as a JSON document (RFC 8621 sections 6 and 7: Identity,
EmailSubmission; ``sql/jmap_records``), with tombstones for ``*/changes``, and one state counter per
account and data type. Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def _text() -> sa.Text:
    # PostgreSQL: octet comparison, as every text column built at the head (pg/schema.pg_metadata).
    return sa.Text(collation="C") if op.get_context().dialect.name == "postgresql" else sa.Text()


def upgrade() -> None:
    op.create_table(
        "jmap_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("type", _text(), nullable=False),
        sa.Column("data", _text(), nullable=False),
        sa.Column("ref", _text(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_jmap_records_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jmap_records")),
    )
    op.create_index(
        op.f("ix_jmap_records_account_id_type"), "jmap_records", ["account_id", "type"], unique=False
    )
    op.create_index(op.f("ix_jmap_records_type_ref"), "jmap_records", ["type", "ref"], unique=False)
    op.create_table(
        "jmap_record_states",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("type", _text(), nullable=False),
        sa.Column("state", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_jmap_record_states_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "type", name=op.f("pk_jmap_record_states")),
    )


def downgrade() -> None:
    op.drop_table("jmap_record_states")
    op.drop_table("jmap_records")
