"""The PostgreSQL forms of the triggers the SQLite revisions create (0010, 0012, 0017, 0021, 0025,
0026, 0034): ``store/schema.py`` describes tables and indexes, not triggers, so the PostgreSQL schema
gets them from here. ``tests/unit/store/test_pg_store.py`` checks that this list names the same
triggers on the same tables as a SQLite database migrated to the head: a revision that adds a
trigger for SQLite must add its form here too (docs/architecture.md "Store engines").

SQLite runs a trigger's statements inline; PostgreSQL runs a function, so each trigger is a
PL/pgSQL function of the same name (``pochta_<trigger>``) and the trigger that calls it, row by
row as SQLite's are (``FOR EACH ROW``, the only kind SQLite has).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TRIGGERS", "Trigger", "trigger_ddl"]

_BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"
_IMAPSIEVE = "'/shared/imapsieve/script'"
_QUIET_SETTING = "'pop3.last_login'"  # account_settings.VOLATILE_KEYS: written at logins, read by none


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str  # "AFTER" or "BEFORE"
    event: str  # "INSERT", "DELETE", "UPDATE" or "UPDATE OF col, ..."
    body: str  # the statements, with NEW and OLD as in SQLite
    when: str | None = None


def _version(table: str, event: str, when: str | None = None, name: str | None = None) -> Trigger:
    # Revision 0010 and its followers: every change recipient resolution (and the caches keyed by
    # the version) depends on moves directory_version, whichever process commits it.
    suffix = event.split()[0].lower()
    return Trigger(name or f"directory_version_{table}_{suffix}", table, "AFTER", event, _BUMP, when)


TRIGGERS: tuple[Trigger, ...] = (
    *(_version("domains", event) for event in ("INSERT", "UPDATE", "DELETE")),
    *(_version("aliases", event) for event in ("INSERT", "UPDATE", "DELETE")),
    _version("accounts", "INSERT"),
    # Revision 0017's column list: the delivery fields of an account.
    _version("accounts", "UPDATE OF address, address_key, domain_id, quota_bytes, enabled, quota_messages"),
    _version("accounts", "DELETE"),
    _version("mailboxes", "INSERT"),
    _version("mailboxes", "UPDATE OF name, account_id"),
    _version("mailboxes", "DELETE"),
    *(_version("sieve_scripts", event) for event in ("INSERT", "UPDATE", "DELETE")),
    _version("metadata_entries", "INSERT", f"NEW.name = {_IMAPSIEVE}", "directory_version_imapsieve_insert"),
    _version(
        "metadata_entries",
        "UPDATE",
        f"OLD.name = {_IMAPSIEVE} OR NEW.name = {_IMAPSIEVE}",
        "directory_version_imapsieve_update",
    ),
    _version("metadata_entries", "DELETE", f"OLD.name = {_IMAPSIEVE}", "directory_version_imapsieve_delete"),
    *(_version("dkim_keys", event) for event in ("INSERT", "UPDATE", "DELETE")),
    # Revision 0034: organisational units and per-account settings decide logins and limits.
    *(
        _version(table, event)
        for table in ("units", "unit_settings", "account_units")
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
    _version("account_settings", "INSERT", f"NEW.key != {_QUIET_SETTING}"),
    _version("account_settings", "UPDATE", f"NEW.key != {_QUIET_SETTING}"),
    _version("account_settings", "DELETE", f"OLD.key != {_QUIET_SETTING}"),
    # Revision 0012: the count of \Recent messages follows membership rows at or above the boundary.
    Trigger(
        "membership_recent_insert",
        "membership",
        "AFTER",
        "INSERT",
        "UPDATE mailboxes SET recent = recent + 1 WHERE id = NEW.mailbox_id AND NEW.uid >= first_recent_uid",
    ),
    Trigger(
        "membership_recent_delete",
        "membership",
        "AFTER",
        "DELETE",
        "UPDATE mailboxes SET recent = recent - 1 WHERE id = OLD.mailbox_id AND OLD.uid >= first_recent_uid",
    ),
    # Revision 0017: a domain's usage is the sum of its accounts', kept in the same transaction.
    Trigger(
        "quota_usage_domain_insert",
        "quota_usage",
        "AFTER",
        "INSERT",
        "UPDATE domain_quota_usage SET bytes = bytes + NEW.bytes, messages = messages + NEW.messages "
        "WHERE domain_id = (SELECT domain_id FROM accounts WHERE id = NEW.account_id)",
    ),
    Trigger(
        "quota_usage_domain_update",
        "quota_usage",
        "AFTER",
        "UPDATE OF bytes, messages",
        "UPDATE domain_quota_usage SET bytes = bytes + NEW.bytes - OLD.bytes, "
        "messages = messages + NEW.messages - OLD.messages "
        "WHERE domain_id = (SELECT domain_id FROM accounts WHERE id = NEW.account_id)",
    ),
    Trigger(
        "accounts_domain_quota_delete",
        "accounts",
        "BEFORE",  # the account's quota_usage row still exists (it goes by CASCADE)
        "DELETE",
        "UPDATE domain_quota_usage SET "
        "bytes = bytes - coalesce((SELECT bytes FROM quota_usage WHERE account_id = OLD.id), 0), "
        "messages = messages - coalesce((SELECT messages FROM quota_usage WHERE account_id = OLD.id), 0) "
        "WHERE domain_id = OLD.domain_id",
    ),
)


def trigger_ddl(trigger: Trigger) -> list[str]:
    """The function and the trigger, as two statements."""
    function = f"pochta_{trigger.name}"
    # A BEFORE trigger's result is the row to go on with (NULL would cancel the change); an AFTER
    # trigger's result is ignored.
    result = "NULL"
    if trigger.timing == "BEFORE":
        result = "OLD" if trigger.event == "DELETE" else "NEW"
    when = f" WHEN ({trigger.when})" if trigger.when else ""
    return [
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {trigger.body}; RETURN {result}; END $$",
        f"CREATE TRIGGER {trigger.name} {trigger.timing} {trigger.event} ON {trigger.table} "
        f"FOR EACH ROW{when} EXECUTE FUNCTION {function}()",
    ]
