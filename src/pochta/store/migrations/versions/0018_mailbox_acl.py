"""ACL (RFC 4314): the access control list of each mailbox.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

- ``mailbox_acl``: one row per (mailbox, identifier) with the rights granted (RFC 4314 §2.1 letters in
  canonical order). The identifier is ``anyone``, an account address lower-cased, or either prefixed
  by ``-`` for a negative entry. The owner's rights are implicit and never stored. Deleting the
  mailbox deletes its ACL (§4: "The DELETE command MUST delete the ACL"); RENAME keeps it (the rows
  follow the mailbox id). The index on the identifier finds what is shared with a user (LIST).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_acl",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("rights", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_mailbox_acl_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", "identifier", name=op.f("pk_mailbox_acl")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_mailbox_acl_identifier", "mailbox_acl", ["identifier"])


def downgrade() -> None:
    op.drop_index("ix_mailbox_acl_identifier", table_name="mailbox_acl")
    op.drop_table("mailbox_acl")
