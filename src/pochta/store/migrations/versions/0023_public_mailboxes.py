"""Accounts of a kind: ``user`` (every account so far) or ``shared``, a domain's hidden owner of its
public mailboxes (the IMAP "Shared" namespace, docs/imap.md "Shared mailboxes").

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

A public mailbox belongs to no user (RFC 2342 §2 "Shared Namespace"; Cyrus's shared folders): here it
belongs to one hidden account per domain, ``accounts.kind = 'shared'``, so that mailboxes, UIDs, the
quota root, ACL rows and the change feed apply to it unchanged. That account cannot log in and is not
a recipient by its own address; ``mail.access`` names its mailboxes ``Shared/<name>``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("kind", sa.Text(), nullable=False, server_default="user"))


def downgrade() -> None:
    # The hidden owners stay, as plain accounts no password opens (their hash is no argon2 hash).
    op.execute("ALTER TABLE accounts DROP COLUMN kind")
