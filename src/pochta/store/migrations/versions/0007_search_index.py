"""Search off the delivery path: folded search text and header values per message, an indexer queue,
and a contentless FTS5 index the background indexer fills.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Up to 0006 every delivery wrote FTS5 trigram rows (with a copy of the text) in its own commit. Now
delivery writes the folded text once (``message_search_text``), the folded values of the fields
SEARCH keys name (``message_header_values``) and a ``search_queue`` row; the indexer adds the text
to ``message_index`` later (docs/data-layout.md "Search"). The old table is dropped here, and every
message already stored is queued with action 3 (FILL): the indexer re-parses its blob in the
background, so the upgrade does not parse every message of a big store. Until then SEARCH reads
those messages' parse records and blobs (exact, slower).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FTS_DDL = (
    "CREATE VIRTUAL TABLE message_index USING fts5(body, headers, tokenize = 'trigram', "
    "content = '', columnsize = 0, detail = none)"
)


def upgrade() -> None:
    op.create_table(
        "message_search_text",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_search_text")),
    )
    op.create_table(
        "message_header_values",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "field", "position", name=op.f("pk_message_header_values")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "search_queue",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_search_queue")),
    )
    op.create_index("ix_search_queue_action", "search_queue", ["action"])
    op.execute("INSERT INTO search_queue (message_id, action) SELECT id, 3 FROM messages")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_text")
        op.execute(FTS_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_index")
        op.execute("CREATE VIRTUAL TABLE message_text USING fts5(body, headers, tokenize = 'trigram')")
        # The text comes back with `pochta reconstruct` (it re-parses every blob).
    op.drop_index("ix_search_queue_action", table_name="search_queue")
    op.drop_table("search_queue")
    op.drop_table("message_header_values")
    op.drop_table("message_search_text")
