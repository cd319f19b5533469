"""The per-account settings store and organisational units (docs/units.md).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07

- ``units`` (with the root unit, named "root"), ``unit_settings``, ``account_units`` (an account
  without a row belongs to the root) and ``account_settings``: (key, text) pairs whose keys
  ``pochta.store.account_settings.KEYS`` owns.
- The protocol switches, the APOP secret and the POP3 policy move out of ``accounts`` into
  ``account_settings``: a switch only where it was off (on is the default, and an account that never
  switched a protocol off now follows its unit), every other value where it was set.
- Triggers move ``directory_version`` with every change to the four tables, except writes of
  ``pop3.last_login`` (every POP3 login with LOGIN-DELAY writes it; no cache reads it).

The downgrade moves the accounts' values back into their columns; what units set is lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_BUMP = "BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END"
_QUIET = "'pop3.last_login'"  # account_settings.VOLATILE_KEYS
_TRIGGERS = (
    *(
        (f"directory_version_{table}_{event.lower()}", f"AFTER {event} ON {table}")
        for table in ("units", "unit_settings", "account_units")
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
    (
        "directory_version_account_settings_insert",
        f"AFTER INSERT ON account_settings WHEN NEW.key != {_QUIET}",
    ),
    (
        "directory_version_account_settings_update",
        f"AFTER UPDATE ON account_settings WHEN NEW.key != {_QUIET}",
    ),
    (
        "directory_version_account_settings_delete",
        f"AFTER DELETE ON account_settings WHEN OLD.key != {_QUIET}",
    ),
)

# (setting key, the SQL expression of its text from an ``accounts`` row, the condition for a row)
_MOVED = (
    ("imap.enabled", "'off'", "imap = 0"),
    ("pop3.enabled", "'off'", "pop3 = 0"),
    ("submission.enabled", "'off'", "submission = 0"),
    ("pop3.apop_secret", "apop_secret", "apop_secret IS NOT NULL"),
    ("pop3.mode", "pop_mode", "pop_mode IS NOT NULL"),
    ("pop3.delete_action", "pop_delete_action", "pop_delete_action IS NOT NULL"),
    ("pop3.login_delay", "CAST(pop_login_delay AS TEXT)", "pop_login_delay IS NOT NULL"),
    ("pop3.enabled_at", "CAST(pop_enabled_at AS TEXT)", "pop_enabled_at IS NOT NULL"),
    ("pop3.last_login", "CAST(pop_last_login AS TEXT)", "pop_last_login IS NOT NULL"),
)

# The columns as revisions 0001 and 0002 made them, and how the downgrade fills each again.
_SETTING = "(SELECT value FROM account_settings AS s WHERE s.account_id = accounts.id AND s.key = '{}')"
_COLUMNS = (
    ("imap", "BOOLEAN NOT NULL DEFAULT 1", f"coalesce({_SETTING.format('imap.enabled')} != 'off', 1)"),
    ("pop3", "BOOLEAN NOT NULL DEFAULT 1", f"coalesce({_SETTING.format('pop3.enabled')} != 'off', 1)"),
    (
        "submission",
        "BOOLEAN NOT NULL DEFAULT 1",
        f"coalesce({_SETTING.format('submission.enabled')} != 'off', 1)",
    ),
    ("apop_secret", "TEXT", _SETTING.format("pop3.apop_secret")),
    ("pop_mode", "TEXT", _SETTING.format("pop3.mode")),
    ("pop_delete_action", "TEXT", _SETTING.format("pop3.delete_action")),
    ("pop_login_delay", "INTEGER", f"CAST({_SETTING.format('pop3.login_delay')} AS INTEGER)"),
    ("pop_enabled_at", "BIGINT", f"CAST({_SETTING.format('pop3.enabled_at')} AS INTEGER)"),
    ("pop_last_login", "BIGINT", f"CAST({_SETTING.format('pop3.last_login')} AS INTEGER)"),
)


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("name", name=op.f("uq_units_name")),
    )
    op.create_index(op.f("ix_units_parent_id"), "units", ["parent_id"])
    op.create_table(
        "unit_settings",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_settings_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", "key", name=op.f("pk_unit_settings")),
    )
    op.create_table(
        "account_units",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_units_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_account_units_unit_id_units"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_units")),
    )
    op.create_index(op.f("ix_account_units_unit_id"), "account_units", ["unit_id"])
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name=op.f("pk_account_settings")),
    )
    op.execute(
        "INSERT INTO units (name, parent_id, created) "
        "VALUES ('root', NULL, CAST(strftime('%s', 'now') AS INTEGER))"
    )
    for key, value, where in _MOVED:
        moved = f"SELECT id, '{key}', {value} FROM accounts WHERE {where}"  # noqa: S608 (constants)
        op.execute(f"INSERT INTO account_settings (account_id, key, value) {moved}")
    # In place (SQLite 3.35 DROP COLUMN): a batch copy of the table would drop its triggers.
    for column, _, _ in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE accounts DROP COLUMN {column}")
    for name, when in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} {_BUMP}")


def downgrade() -> None:
    for name, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    for column, declaration, _ in _COLUMNS:
        op.execute(f"ALTER TABLE accounts ADD COLUMN {column} {declaration}")
    assignments = ", ".join(f"{column} = {value}" for column, _, value in _COLUMNS)
    op.execute(f"UPDATE accounts SET {assignments}")  # noqa: S608 (constants)
    op.drop_table("account_settings")
    op.drop_index(op.f("ix_account_units_unit_id"), table_name="account_units")
    op.drop_table("account_units")
    op.drop_table("unit_settings")
    op.drop_index(op.f("ix_units_parent_id"), table_name="units")
    op.execute("UPDATE units SET parent_id = NULL")  # DROP deletes the rows first: no RESTRICT in the way
    op.drop_table("units")
