"""Queued messages get the identifier the client was told: ``250 2.0.0 Ok: queued as 2ECA6CC79A4D3C47``.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-06

``queue_messages.qid`` is the 16-hex-digit id of the SMTP transaction (the Received field's ``id``,
the log's ``id=``) and what ``pochta queue`` shows and accepts; the integer ``id`` stays the row key
that recipients refer to. Rows queued before this revision get a new random id. The column is added
(not the table recreated), so the recipients' ON DELETE CASCADE never fires during the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("queue_messages", sa.Column("qid", sa.Text(), nullable=False, server_default=""))
    op.execute("UPDATE queue_messages SET qid = upper(hex(randomblob(8)))")
    op.create_index("ix_queue_messages_qid", "queue_messages", ["qid"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_queue_messages_qid", table_name="queue_messages")
    with op.batch_alter_table("queue_messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("qid")
