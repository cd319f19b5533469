"""Sieve at delivery: vacation replies sent, the duplicate tracking list, script errors.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

- ``sieve_vacation`` (RFC 5230 §4.2) and ``sieve_duplicates`` (RFC 7352 §3): one row per account
  and key until ``expires``; the housekeeper deletes expired rows.
- ``sieve_errors``: scripts that failed at delivery (``pochta sieve errors USER``).
- Triggers move ``directory_version`` with every change to ``sieve_scripts``: delivery keeps "who
  has an active script" per process for as long as that number stays the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"
_TRIGGERS = (
    ("directory_version_sieve_scripts_insert", "AFTER INSERT ON sieve_scripts"),
    ("directory_version_sieve_scripts_update", "AFTER UPDATE ON sieve_scripts"),
    ("directory_version_sieve_scripts_delete", "AFTER DELETE ON sieve_scripts"),
)


def _expiring(name: str) -> None:
    op.create_table(
        name,
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{name}_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_expires"), name, ["expires"])


def upgrade() -> None:
    _expiring("sieve_vacation")
    _expiring("sieve_duplicates")
    op.create_table(
        "sieve_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sieve_errors_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sieve_errors")),
    )
    op.create_index(op.f("ix_sieve_errors_account_id_id"), "sieve_errors", ["account_id", "id"])
    op.create_index(op.f("ix_sieve_errors_at"), "sieve_errors", ["at"])
    for name, when in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    for name, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_index(op.f("ix_sieve_errors_at"), table_name="sieve_errors")
    op.drop_index(op.f("ix_sieve_errors_account_id_id"), table_name="sieve_errors")
    op.drop_table("sieve_errors")
    for name in ("sieve_duplicates", "sieve_vacation"):
        op.drop_index(op.f(f"ix_{name}_expires"), table_name=name)
        op.drop_table(name)
