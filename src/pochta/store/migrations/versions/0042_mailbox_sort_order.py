"""JMAP Mailbox sortOrder: ``mailboxes.sort_order``.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07

RFC 8621 section 2: a number the client sets to order its Mailboxes. Every existing mailbox takes
0, the value Mailbox/get showed for all of them until now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both engines (a batch rebuild of mailboxes would trip its triggers).
    op.add_column("mailboxes", sa.Column("sort_order", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("mailboxes", "sort_order")
