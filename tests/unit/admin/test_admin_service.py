"""The administration layer (``pochta.admin``) on a real temporary SQLite store: each rule the
commands and the JMAP admin API share, and its one error type (it adds no store call, so the
store suite's engines need nothing new)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pochta.admin import (
    AdminError,
    AdminErrorKind,
    accounts,
    aliases,
    app_passwords,
    dkim,
    dns,
    domains,
    queue,
    status,
    units,
)
from pochta.admin.status import Sample
from pochta.auth.passwords import app_password_lookup, verify_password
from pochta.config import Settings
from pochta.dns_records import Verdict
from pochta.metrics import Metrics
from pochta.resolver import LookupFailed
from pochta.store.api import Store
from pochta.store.dkim_model import KeyState
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.sqlite.store import open_sqlite_store

SECRET = b"k" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_sqlite_store(tmp_path / "data", Settings())
    try:
        yield store
    finally:
        await store.close()


async def test_domain_add_list_switch_delete(store: Store) -> None:
    added = await domains.add_domain(store, Settings(), "Example.ORG")
    assert added.domain.name == "example.org"
    assert added.dkim_records
    assert all(name.endswith("._domainkey.example.org") for name in added.dkim_records)
    with pytest.raises(AdminError) as again:
        await domains.add_domain(store, Settings(), "example.org")
    assert again.value.kind is AdminErrorKind.ALREADY_EXISTS
    switched = await domains.set_domain_protocols(store, "example.org", {"pop3": False, "imap": None})
    assert (switched.protocols.imap, switched.protocols.pop3) == (True, False)
    with pytest.raises(AdminError) as unknown:
        await domains.set_domain_protocols(store, "example.org", {"smtp": False})
    assert unknown.value.kind is AdminErrorKind.INVALID
    await accounts.add_account(store, "alice@example.org", "a long password")
    [view] = await domains.list_domains(store)
    assert (view.name, view.accounts) == ("example.org", 1)
    with pytest.raises(AdminError) as busy:
        await domains.delete_domain(store, "example.org")  # it still has an account
    assert busy.value.kind in (AdminErrorKind.CONFLICT, AdminErrorKind.INVALID)
    await accounts.delete_account(store, "alice@example.org")
    assert await domains.delete_domain(store, "EXAMPLE.org") == "example.org"
    with pytest.raises(AdminError) as gone:
        await domains.get_domain(store, "example.org")
    assert gone.value.kind is AdminErrorKind.NOT_FOUND


async def test_accounts_password_changes_and_switches(store: Store) -> None:
    await domains.add_domain(store, Settings(), "example.org")
    generated = await accounts.add_account(store, "bob@example.org", None, 1000)
    assert generated.generated is not None
    assert verify_password(generated.account.password_hash, generated.generated).ok
    given = await accounts.set_password(store, "bob@example.org", "the new password")
    assert given.generated is None
    assert verify_password(given.account.password_hash, "the new password").ok
    with pytest.raises(AdminError) as empty:
        await accounts.set_password(store, "bob@example.org", "")
    assert empty.value.kind is AdminErrorKind.INVALID
    changes = accounts.AccountChanges(
        quota_messages=50, admin=True, enabled=False, protocols={"pop3": False, "imap": None}
    )
    updated = await accounts.update_account(store, "BOB@example.org", changes)
    assert (updated.admin, updated.enabled, updated.quota_bytes, updated.quota_messages) == (
        True,
        False,
        1000,
        50,
    )
    [view] = await accounts.list_accounts(store, "example.org")
    assert view.protocols == {"imap": True, "pop3": False, "submission": True}
    assert view.limits.bytes == 1000
    with pytest.raises(AdminError) as bad_key:
        await accounts.update_account(
            store, "bob@example.org", accounts.AccountChanges(settings={"no.such": 1})
        )
    assert bad_key.value.kind is AdminErrorKind.INVALID
    with pytest.raises(AdminError) as missing:
        await accounts.get_account(store, "nobody@example.org")
    assert (missing.value.kind, missing.value.message) == (
        AdminErrorKind.NOT_FOUND,
        "no such account: nobody@example.org",
    )
    with pytest.raises(AdminError) as bad_name:
        await accounts.add_account(store, "not an address", "x y z w")
    assert bad_name.value.kind is AdminErrorKind.INVALID


async def test_alias_refuses_targets_nothing_receives(store: Store) -> None:
    await domains.add_domain(store, Settings(), "example.org")
    await accounts.add_account(store, "carol@example.org", "a long password")
    with pytest.raises(AdminError) as refused:
        await aliases.add_alias(store, Settings(), "info@example.org", ["ghost@example.org"])
    assert refused.value.kind is AdminErrorKind.INVALID
    assert "ghost@example.org: no account, alias or catch-all receives mail" in refused.value.message
    assert await aliases.list_aliases(store) == []
    forced = await aliases.add_alias(store, Settings(), "info@example.org", ["ghost@example.org"], force=True)
    assert forced.targets == ("ghost@example.org",)
    both = await aliases.add_alias(
        store, Settings(), "info@example.org", ["carol@example.org", "x@remote.example"]
    )
    assert set(both.targets) == {"ghost@example.org", "carol@example.org", "x@remote.example"}
    await aliases.delete_alias(store, "info@example.org", ["ghost@example.org"])
    assert set((await aliases.get_alias(store, "info@example.org")).targets) == {
        "carol@example.org",
        "x@remote.example",
    }
    await aliases.delete_alias(store, "info@example.org")
    with pytest.raises(AdminError) as gone:
        await aliases.get_alias(store, "info@example.org")
    assert gone.value.kind is AdminErrorKind.NOT_FOUND


async def test_app_password_is_found_by_keyed_digest(store: Store) -> None:
    await domains.add_domain(store, Settings(), "example.org")
    await accounts.add_account(store, "dave@example.org", "a long password")
    made = await app_passwords.add_app_password(store, SECRET, "Dave@example.org", "phone")
    assert made.app_password.name == "phone"
    [listed] = await app_passwords.list_app_passwords(store, "dave@example.org")
    assert listed.lookup == app_password_lookup(SECRET, made.password)
    assert verify_password(listed.password_hash, made.password).ok
    await app_passwords.revoke_app_password(store, "dave@example.org", "phone")
    assert await app_passwords.list_app_passwords(store, "dave@example.org") == []
    with pytest.raises(AdminError) as gone:
        await app_passwords.revoke_app_password(store, "dave@example.org", "phone")
    assert gone.value.kind is AdminErrorKind.NOT_FOUND


async def test_queue_retry_and_delete(store: Store) -> None:
    blob = await store.put_blob(b"Subject: x\r\n\r\nbody\r\n")
    recipients = (NewQueueRecipient("friend@remote.example"),)
    await store.enqueue(
        NewQueueEntry(
            blob=blob,
            sender="a@example.org",
            recipients=recipients,
            origin="submission",
            arrival=datetime.now(UTC),
        )
    )
    [entry] = await queue.list_entries(store)
    assert (await queue.get_entry(store, queue.queue_id(entry.id.lower()))).id == entry.id
    assert await queue.retry(store, None) == 1
    assert await queue.retry(store, entry.id) == 1
    await queue.delete_entry(store, entry.id)
    for action in (queue.retry, queue.delete_entry, queue.get_entry):
        with pytest.raises(AdminError) as gone:
            await action(store, entry.id)
        assert gone.value.message == f"no queued message {entry.id}"
    with pytest.raises(AdminError) as bad:
        queue.queue_id("nope")
    assert bad.value.kind is AdminErrorKind.INVALID


async def test_units_add_set_move_delete(store: Store) -> None:
    staff = await units.add_unit(store, "staff")
    assert staff.parent == "root"
    await units.add_unit(store, "interns", "staff")
    with pytest.raises(AdminError) as twice:
        await units.add_unit(store, "staff")
    assert twice.value.kind is AdminErrorKind.ALREADY_EXISTS
    changed = await units.update_unit(store, "staff", settings={"pop3.enabled": False})
    assert changed.settings == {"pop3.enabled": False}
    with pytest.raises(AdminError) as bad:
        await units.update_unit(store, "staff", settings={"pop3.apop_secret": "x"})  # an account's own
    assert bad.value.kind is AdminErrorKind.INVALID
    with pytest.raises(AdminError) as nothing:
        await units.update_unit(store, "staff")
    assert nothing.value.kind is AdminErrorKind.INVALID
    with pytest.raises(AdminError) as busy:
        await units.delete_unit(store, "staff")  # interns is under it
    assert busy.value.kind is AdminErrorKind.CONFLICT
    await units.delete_unit(store, "interns")
    await units.delete_unit(store, "staff")
    with pytest.raises(AdminError) as gone:
        await units.get_unit(store, "staff")
    assert gone.value.message == "no unit staff"


async def test_dkim_rotate_activate_retire(store: Store) -> None:
    await domains.add_domain(store, Settings(), "example.org")
    first = await dkim.list_keys(store, "example.org")
    assert {k.state for k in first} == {KeyState.ACTIVE}
    made = await dkim.rotate(store, Settings(), "example.org")
    assert {k.state for k in made} == {KeyState.PENDING}

    async def nothing_published(name: str) -> list[str]:
        return []

    activated, missing = await dkim.activate(store, "example.org", nothing_published)
    assert (activated, {k.selector for k in missing}) == ([], {k.selector for k in made})
    with pytest.raises(AdminError) as signs:
        await dkim.retire(store, "example.org", first[0].selector)
    assert signs.value.kind is AdminErrorKind.CONFLICT
    activated, missing = await dkim.activate(store, "example.org", None)
    assert {k.selector for k in activated} == {k.selector for k in made}
    retired = await dkim.retire(store, "example.org", first[0].selector)
    assert retired.selector == first[0].selector
    with pytest.raises(AdminError) as none_pending:
        await dkim.activate(store, "example.org", None)
    assert none_pending.value.kind is AdminErrorKind.INVALID
    with pytest.raises(AdminError) as not_ours:
        await dkim.rotate(store, Settings(), "other.example")
    assert not_ours.value.message == "no such domain: other.example"


async def test_dns_records_and_their_check(store: Store) -> None:
    await domains.add_domain(store, Settings(), "example.org")
    settings = Settings(hostname="mail.example.org")
    wanted = await dns.domain_records(store, settings, "example.org", ["192.0.2.1"])
    assert ("mail.example.org.", "A", "192.0.2.1") in [(r.name, r.type, r.value) for r in wanted]

    async def lookup(name: str, rdtype: str) -> list[str]:
        return ["10 mail.example.org."] if (name, rdtype) == ("example.org.", "MX") else []

    verdicts = {
        (f.record.name, f.record.type): f.verdict
        for f in await dns.check_records(store, settings, "example.org", (), lookup)
    }
    assert verdicts[("example.org.", "MX")] is Verdict.OK
    assert verdicts[("_dmarc.example.org.", "TXT")] is Verdict.MISSING

    async def failing(name: str, rdtype: str) -> list[str]:
        raise LookupFailed("SERVFAIL")

    with pytest.raises(AdminError) as failed:
        await dns.check_records(store, settings, "example.org", (), failing)
    assert failed.value.kind is AdminErrorKind.UNAVAILABLE


async def test_status_of_a_data_directory_without_server(store: Store, tmp_path: Path) -> None:
    found = await status.server_status(store, tmp_path / "data")
    assert (found.running, found.pid, found.started, found.workers) == (False, None, None, None)
    assert (found.queue_messages, found.metrics_source, found.metrics) == (0, "none", ())
    own = Metrics()
    own.connections_opened.labels(listener="imap").inc(3)
    with_own = await status.server_status(store, tmp_path / "data", own)
    assert with_own.metrics_source == "this worker"
    assert Sample("pochta_connections_opened_total", (("listener", "imap"),), 3.0) in with_own.metrics
