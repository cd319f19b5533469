"""IMAP wire forms kept at delivery: ENVELOPE, BODY and BODYSTRUCTURE of each message, as stored octets.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

``message_wire`` holds per message what ``pochta.mime.imapform.wire_forms`` computes from the parse
record (with the UTF-8 variants where they differ), so that FETCH sends stored bytes. It is derived
data: a database upgraded to this revision starts without rows, FETCH serves such messages from their
parse records as before, and ``pochta reconstruct`` writes the rows (docs/data-layout.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_wire",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("bodystructure", sa.LargeBinary(), nullable=False),
        sa.Column("envelope_utf8", sa.LargeBinary(), nullable=True),
        sa.Column("body_utf8", sa.LargeBinary(), nullable=True),
        sa.Column("bodystructure_utf8", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_wire")),
    )


def downgrade() -> None:
    op.drop_table("message_wire")
