"""QUOTA (RFC 9208): a MESSAGE limit beside the STORAGE one, domain quotas and their usage, admins.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

- ``accounts.quota_messages`` (NULL: unlimited) beside ``quota_bytes``; ``accounts.admin``: may set
  quotas over IMAP (SETQUOTA) and read any quota root (``pochta user mod --admin``).
- ``domains.quota_bytes`` / ``domains.quota_messages``: the domain's quota root bounds the sum over
  its accounts (NULL: unlimited).
- ``domain_quota_usage``: that sum, kept by triggers on ``quota_usage`` in the transaction of every
  change to an account's usage (no write path has to know of it, and a delivery pays one one-row
  UPDATE by primary key), and on the deletion of an account (its usage leaves the domain). Filled here
  from the accounts' usage; ``reconstruct`` re-derives it.
- The directory version (revision 0010) moves with ``quota_messages`` as with ``quota_bytes``: the
  recipient cache keeps only what no quota involves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TRIGGERS = (
    (
        "quota_usage_domain_insert",
        "AFTER INSERT ON quota_usage BEGIN UPDATE domain_quota_usage SET bytes = bytes + NEW.bytes, "
        "messages = messages + NEW.messages "
        "WHERE domain_id = (SELECT domain_id FROM accounts WHERE id = NEW.account_id); END",
    ),
    (
        "quota_usage_domain_update",
        "AFTER UPDATE OF bytes, messages ON quota_usage BEGIN UPDATE domain_quota_usage "
        "SET bytes = bytes + NEW.bytes - OLD.bytes, messages = messages + NEW.messages - OLD.messages "
        "WHERE domain_id = (SELECT domain_id FROM accounts WHERE id = NEW.account_id); END",
    ),
    (
        "accounts_domain_quota_delete",
        "BEFORE DELETE ON accounts BEGIN UPDATE domain_quota_usage "
        "SET bytes = bytes - coalesce((SELECT bytes FROM quota_usage WHERE account_id = OLD.id), 0), "
        "messages = messages - coalesce((SELECT messages FROM quota_usage WHERE account_id = OLD.id), 0) "
        "WHERE domain_id = OLD.domain_id; END",
    ),
)

_VERSION_TRIGGER = "directory_version_accounts_update"
_BUMP = "BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END"
_VERSION_COLUMNS_0010 = "address, address_key, domain_id, quota_bytes, enabled"
_VERSION_COLUMNS = _VERSION_COLUMNS_0010 + ", quota_messages"


def upgrade() -> None:
    # In place (SQLite 3.35 ADD COLUMN): a batch copy of the tables would drop revision 0010's triggers.
    op.add_column("accounts", sa.Column("quota_messages", sa.BigInteger(), nullable=True))
    op.add_column("accounts", sa.Column("admin", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("domains", sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
    op.add_column("domains", sa.Column("quota_messages", sa.BigInteger(), nullable=True))
    op.create_table(
        "domain_quota_usage",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
            name=op.f("fk_domain_quota_usage_domain_id_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain_id", name=op.f("pk_domain_quota_usage")),
    )
    op.execute(
        "INSERT INTO domain_quota_usage (domain_id, bytes, messages) "
        "SELECT d.id, coalesce(sum(q.bytes), 0), coalesce(sum(q.messages), 0) FROM domains AS d "
        "LEFT JOIN accounts AS a ON a.domain_id = d.id LEFT JOIN quota_usage AS q ON q.account_id = a.id "
        "GROUP BY d.id"
    )
    for name, body in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute(f"DROP TRIGGER {_VERSION_TRIGGER}")
    op.execute(f"CREATE TRIGGER {_VERSION_TRIGGER} AFTER UPDATE OF {_VERSION_COLUMNS} ON accounts {_BUMP}")


def downgrade() -> None:
    op.execute(f"DROP TRIGGER {_VERSION_TRIGGER}")
    op.execute(
        f"CREATE TRIGGER {_VERSION_TRIGGER} AFTER UPDATE OF {_VERSION_COLUMNS_0010} ON accounts {_BUMP}"
    )
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_table("domain_quota_usage")
    op.execute("ALTER TABLE domains DROP COLUMN quota_messages")
    op.execute("ALTER TABLE domains DROP COLUMN quota_bytes")
    op.execute("ALTER TABLE accounts DROP COLUMN admin")
    op.execute("ALTER TABLE accounts DROP COLUMN quota_messages")
