"""\\Recent for IMAP4rev1 sessions: per mailbox, the first UID no session has taken, and a count.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

RFC 3501 §2.3.2: a message is \\Recent in exactly one session, the first one told of it that has the
mailbox selected read-write; later sessions see it without \\Recent. ``mailboxes.first_recent_uid``
says where that boundary is, for every worker process: UIDs at or above it are recent, and a session
that is told of them takes them (raises the boundary past them) in one write transaction, so two
sessions never both get one. ``mailboxes.recent`` counts the messages at or above it (STATUS RECENT,
the RECENT of SELECT), kept by triggers on membership so that no write path has to know of it.
Mailboxes existing before this revision start with nothing recent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRIGGERS = (
    (
        "membership_recent_insert",
        "AFTER INSERT ON membership BEGIN UPDATE mailboxes SET recent = recent + 1 "
        "WHERE id = NEW.mailbox_id AND NEW.uid >= first_recent_uid; END",
    ),
    (
        "membership_recent_delete",
        "AFTER DELETE ON membership BEGIN UPDATE mailboxes SET recent = recent - 1 "
        "WHERE id = OLD.mailbox_id AND OLD.uid >= first_recent_uid; END",
    ),
)


def upgrade() -> None:
    first_recent = sa.Column("first_recent_uid", sa.BigInteger(), nullable=False, server_default="1")
    op.add_column("mailboxes", first_recent)
    op.add_column("mailboxes", sa.Column("recent", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE mailboxes SET first_recent_uid = uidnext")
    for name, body in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    # In place (SQLite 3.35): a batch copy of the table would drop the triggers of revision 0010 on it.
    op.execute("ALTER TABLE mailboxes DROP COLUMN recent")
    op.execute("ALTER TABLE mailboxes DROP COLUMN first_recent_uid")
