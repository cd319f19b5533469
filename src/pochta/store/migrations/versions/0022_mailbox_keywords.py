"""Per mailbox, every keyword ever stored in it: what SELECT's FLAGS lists.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

RFC 9051 §7.3.5: a session keeps every keyword its FLAGS told it of; before this revision a session
selecting the mailbox later was told only the keywords its messages carried then, so two sessions
could list different FLAGS once the last message carrying a keyword was expunged. ``mailboxes.keywords``
(space-separated, each keyword as first spelled) keeps every keyword the mailbox ever had; the write
jobs storing flags add to it (``pochta.store.sqlite.keywords``). Filled here from the flags stored now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Distinct flag texts holding a keyword: a word not starting with a backslash.
_IN_USE = "SELECT DISTINCT mailbox_id, flags FROM membership WHERE (' ' || flags) GLOB '* [^\\]*'"


def upgrade() -> None:
    op.add_column("mailboxes", sa.Column("keywords", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    found: dict[int, dict[str, str]] = {}
    for mailbox_id, flags in conn.exec_driver_sql(_IN_USE):
        words = found.setdefault(mailbox_id, {})
        for flag in flags.split():
            if not flag.startswith("\\"):
                words.setdefault(flag.lower(), flag)  # the comparison key of pochta.mail.flags
    if found:
        conn.execute(
            sa.text("UPDATE mailboxes SET keywords = :keywords WHERE id = :id"),
            [{"id": mailbox_id, "keywords": " ".join(words.values())} for mailbox_id, words in found.items()],
        )


def downgrade() -> None:
    op.execute("ALTER TABLE mailboxes DROP COLUMN keywords")
