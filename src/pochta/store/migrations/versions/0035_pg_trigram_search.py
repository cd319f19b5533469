"""Search on PostgreSQL: pg_trgm and its GIN indexes of the folded text (pochta.store.pg.search).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07

PostgreSQL only: a database built at 0034 gets the extension and the three trigram indexes that
``pg/schema`` builds with a new database (the statements are written out here, as they were at this
revision). SQLite keeps its FTS5 index (revision 0007): nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_trgm_message_search_text_body", "message_search_text", "body"),
    ("ix_trgm_message_search_text_headers", "message_search_text", "headers"),
    ("ix_trgm_message_header_values_value", "message_header_values", "value"),
)


def _on_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if not _on_postgresql():
        return
    # A trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in _INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if not _on_postgresql():
        return
    for name, _, _ in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # The extension stays: other objects of the database may use it.
