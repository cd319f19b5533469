"""DKIM signing keys per domain (RFC 6376, RFC 8463).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

- ``dkim_keys``: one row per key (schema.py says what each column holds). Nothing is filled here:
  ``pochta dkim rotate DOMAIN`` makes keys for a domain that existed before this revision (``pochta
  domain add`` and ``init`` make them for new ones).
- Triggers move ``directory_version`` with every change, so each worker's signer reloads its keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"
_TRIGGERS = (
    ("directory_version_dkim_keys_insert", "AFTER INSERT ON dkim_keys"),
    ("directory_version_dkim_keys_update", "AFTER UPDATE ON dkim_keys"),
    ("directory_version_dkim_keys_delete", "AFTER DELETE ON dkim_keys"),
)


def upgrade() -> None:
    op.create_table(
        "dkim_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("selector", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("activated", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_dkim_keys_domain_id_domains"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dkim_keys")),
        sa.UniqueConstraint("domain_id", "selector", name=op.f("uq_dkim_keys_domain_id_selector")),
    )
    for name, when in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    for name, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_table("dkim_keys")
