"""JMAP uploads: ``uploads``.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07

One row per blob uploaded over JMAP (RFC 8620 section 6.1; ``pochta.web.jmap_upload``): the
account, the blob's SHA-256, its media type and size, and when it was uploaded (the housekeeper
prunes rows past ``jmap.upload_lifetime``). Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def _text() -> sa.Text:
    # PostgreSQL: octet comparison, as every text column built at the head (pg/schema.pg_metadata).
    return sa.Text(collation="C") if op.get_context().dialect.name == "postgresql" else sa.Text()


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sha256", _text(), nullable=False),
        sa.Column("type", _text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_uploads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_account_id_sha256"), "uploads", ["account_id", "sha256"], unique=False)
    op.create_index(op.f("ix_uploads_sha256"), "uploads", ["sha256"], unique=False)
    op.create_index(op.f("ix_uploads_created"), "uploads", ["created"], unique=False)


def downgrade() -> None:
    op.drop_table("uploads")
