"""The webmail's signed-in sessions: ``web_sessions``.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07

One row per signed-in webmail session (``pochta.web.sessions``): the SHA-256 of the cookie's token,
the account, the session's CSRF token, when it was created, last seen and expires, and where it
signed in from. Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def _digest() -> sa.Text:
    # PostgreSQL: octet comparison, as every text column built at the head (pg/schema.pg_metadata).
    return sa.Text(collation="C") if op.get_context().dialect.name == "postgresql" else sa.Text()


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", _digest(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf", _digest(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("seen", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.Column("remote_ip", _digest(), nullable=False),
        sa.Column("user_agent", _digest(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_web_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_account_id"), "web_sessions", ["account_id"], unique=False)
    op.create_index(op.f("ix_web_sessions_expires"), "web_sessions", ["expires"], unique=False)


def downgrade() -> None:
    op.drop_table("web_sessions")
