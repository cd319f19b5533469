"""Blobs kept in the database: ``large_blobs`` and ``large_blob_chunks`` (``store.blobs = "postgresql"``).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07

With ``[store] blobs = "postgresql"`` a blob larger than ``store.inline_blob_max`` is not a file:
its size and the time it was last written (collection's grace period, by the database's clock) are
a row of ``large_blobs``, its bytes rows of ``large_blob_chunks`` (``store/pg/blob_chunks``). Both
engines get the tables (``store/schema.py`` is one schema); on SQLite they stay empty, since the
setting is refused there. Nothing existing moves: blob files and ``inline_blobs`` rows stay readable
where they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def _digest() -> sa.Text:
    # PostgreSQL: octet comparison, as every text column built at the head (pg/schema.pg_metadata).
    return sa.Text(collation="C") if op.get_context().dialect.name == "postgresql" else sa.Text()


def upgrade() -> None:
    op.create_table(
        "large_blobs",
        sa.Column("sha256", _digest(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("touched", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_large_blobs")),
    )
    op.create_table(
        "large_blob_chunks",
        sa.Column("sha256", _digest(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "seq", name=op.f("pk_large_blob_chunks")),
    )


def downgrade() -> None:
    op.drop_table("large_blob_chunks")
    op.drop_table("large_blobs")
