"""App passwords are found by a keyed digest, so that a login verifies one hash, not one per app password.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``lookup`` is HMAC-SHA-256 of the password under a key derived from the data directory's
server-secret (``pochta.auth.passwords.app_password_lookup``). The passwords themselves are not
stored, so rows made before this revision cannot get one: they stay (``pochta app-password list``
marks them "re-issue") but no longer log in; trying each of them at every failed login is exactly
the work, and the timing signal, this revision removes. Re-issue them with ``pochta app-password
add`` (docs/authentication.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_passwords") as batch:
        batch.add_column(sa.Column("lookup", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_passwords") as batch:
        batch.drop_column("lookup")
