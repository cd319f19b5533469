"""A directory version: one number that every change to what recipient resolution reads moves.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``directory_version`` holds one row; triggers add 1 to it in the transaction of every change to
domains, aliases, the delivery fields of accounts (address, domain, quota, enabled) and the names of
mailboxes, whichever process makes it (a worker, the CLI). Each process keeps the recipient
resolutions and mailbox ids it looked up while the number stays the same
(``pochta.delivery.resolve``): one one-row read per lookup instead of a read job on a reader thread.
A delivery moves none of these (quota usage, UIDs and counters are other columns and tables).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"

# (trigger name, event): every event that changes the result of a resolution or a mailbox lookup.
TRIGGERS = (
    ("directory_version_domains_insert", "AFTER INSERT ON domains"),
    ("directory_version_domains_update", "AFTER UPDATE ON domains"),
    ("directory_version_domains_delete", "AFTER DELETE ON domains"),
    ("directory_version_aliases_insert", "AFTER INSERT ON aliases"),
    ("directory_version_aliases_update", "AFTER UPDATE ON aliases"),
    ("directory_version_aliases_delete", "AFTER DELETE ON aliases"),
    ("directory_version_accounts_insert", "AFTER INSERT ON accounts"),
    (
        "directory_version_accounts_update",
        "AFTER UPDATE OF address, address_key, domain_id, quota_bytes, enabled ON accounts",
    ),
    ("directory_version_accounts_delete", "AFTER DELETE ON accounts"),
    ("directory_version_mailboxes_insert", "AFTER INSERT ON mailboxes"),
    ("directory_version_mailboxes_update", "AFTER UPDATE OF name, account_id ON mailboxes"),
    ("directory_version_mailboxes_delete", "AFTER DELETE ON mailboxes"),
)


def upgrade() -> None:
    op.create_table(
        "directory_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_version")),
    )
    op.execute("INSERT INTO directory_version (id, version) VALUES (1, 0)")
    for name, when in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_table("directory_version")
