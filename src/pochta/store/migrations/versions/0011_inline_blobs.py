"""Small messages' bytes in the database: ``inline_blobs``, keyed by SHA-256 like the blob files.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A message up to ``store.inline_blob_max`` octets is stored here instead of in a blob file, in the
transaction of the delivery (or APPEND, or queue entry) that first refers to it: the commit's one WAL
fsync makes its bytes and its metadata durable together, with no file, rename or directory fsync of
its own (docs/data-layout.md). Rows are single-instance (``INSERT OR IGNORE``) and go when no
message or queue entry refers to them any more (blob collection). Existing blob files stay where
they are; a database upgraded to this revision starts with no rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inline_blobs",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_inline_blobs")),
    )


def downgrade() -> None:
    op.drop_table("inline_blobs")
