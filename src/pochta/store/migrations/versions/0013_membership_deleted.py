"""A partial index of the \\Deleted messages of each mailbox, for EXPUNGE in one write.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

EXPUNGE and CLOSE pick the messages carrying \\Deleted inside their own write transaction
(``sqlite_mail.expunge_deleted``) instead of reading the mailbox's view first. This index holds
only the membership rows with ``deleted`` set, so that choice costs what there is to expunge, not a
scan of the whole mailbox (100,000 rows) while holding the write lock.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_membership_deleted", "membership", ["mailbox_id", "uid"], sqlite_where=sa.text("deleted")
    )


def downgrade() -> None:
    op.drop_index("ix_membership_deleted", table_name="membership")
