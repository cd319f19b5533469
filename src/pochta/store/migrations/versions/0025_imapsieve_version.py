"""IMAPSIEVE annotations move the directory version.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

RFC 6785 §2.3.1: the METADATA entry ``/shared/imapsieve/script`` of a mailbox (or of the server)
names the Sieve script that runs on IMAP events there. Each IMAP worker keeps, per mailbox, whether
it has one for as long as ``directory_version`` stays the same (``pochta.server.imap.imapsieve``),
so that an APPEND, COPY or STORE where no script is set costs no read. These triggers move the
version with every change to such an entry, whichever process makes it (IMAP, the CLI).
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"
_ENTRY = "'/shared/imapsieve/script'"
TRIGGERS = (
    ("directory_version_imapsieve_insert", f"AFTER INSERT ON metadata_entries WHEN NEW.name = {_ENTRY}"),
    (
        "directory_version_imapsieve_update",
        f"AFTER UPDATE ON metadata_entries WHEN OLD.name = {_ENTRY} OR NEW.name = {_ENTRY}",
    ),
    ("directory_version_imapsieve_delete", f"AFTER DELETE ON metadata_entries WHEN OLD.name = {_ENTRY}"),
)


def upgrade() -> None:
    for name, when in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
