"""Transport security of outbound mail: MTA-STS policy cache, TLS-RPT results, REQUIRETLS.

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-07

- ``mta_sts_policies``: the last policy fetched per recipient domain (RFC 8461 section 5.1).
- ``tls_rpt_results``: session counts per policy domain and day, for TLS-RPT (RFC 8460 section 4).
- ``queue_messages.requiretls``: the message was received with MAIL FROM ... REQUIRETLS (RFC 8689).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mta_sts_policies",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("fetched", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_mta_sts_policies")),
    )
    op.create_table(
        "tls_rpt_results",
        sa.Column("day", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("policy_type", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("mx_host", sa.Text(), nullable=False),
        sa.Column("result_type", sa.Text(), nullable=False),
        sa.Column("receiving_ip", sa.Text(), nullable=False),
        sa.Column("sending_ip", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "domain",
            "policy_type",
            "mx_host",
            "result_type",
            "receiving_ip",
            "sending_ip",
            name=op.f("pk_tls_rpt_results"),
        ),
    )
    # Added in place (not the table recreated), so the recipients' ON DELETE CASCADE never fires.
    op.add_column("queue_messages", sa.Column("requiretls", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("queue_messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("requiretls")
    op.drop_table("tls_rpt_results")
    op.drop_table("mta_sts_policies")
