"""SORT and THREAD keys per message (RFC 5256, RFC 5957), kept off the delivery path.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

One row per message holding what SORT and THREAD compare (``pochta.mime.sortkeys``), derived from
the parse record: the background indexer writes the rows of the messages it indexes; messages
already stored get theirs the first time a SORT or THREAD meets them (``sqlite/sortkeys``). Nothing
is filled here: the table starts empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_sort_keys",
        sa.Column("message_id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("reply", sa.Boolean, nullable=False),
        sa.Column("from_addr", sa.Text, nullable=False),
        sa.Column("to_addr", sa.Text, nullable=False),
        sa.Column("cc_addr", sa.Text, nullable=False),
        sa.Column("display_from", sa.Text, nullable=False),
        sa.Column("display_to", sa.Text, nullable=False),
        sa.Column("sent", sa.BigInteger, nullable=True),
        sa.Column("msgid", sa.Text, nullable=True),
        sa.Column("refs", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("message_sort_keys")
