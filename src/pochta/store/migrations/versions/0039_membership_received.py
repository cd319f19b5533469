"""An index of each mailbox's messages by internal date: JMAP Email/query's common query.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07

``ix_membership_received`` (mailbox_id, internal_date): Email/query with only ``inMailbox``
sorted by receivedAt (RFC 8621 section 4.4; ``store/sql/email_query``) reads the page it returns
from the index, in either direction, instead of sorting the whole mailbox.
"""

from __future__ import annotations

from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_membership_received", "membership", ["mailbox_id", "internal_date"])


def downgrade() -> None:
    op.drop_index("ix_membership_received", table_name="membership")
