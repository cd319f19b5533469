"""Conformance tests for the per-account settings store and organisational units (docs/units.md),
through the ``Directory`` interface only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pochta.store.account_settings import (
    IMAP_ENABLED,
    POP3_APOP_SECRET,
    POP3_ENABLED,
    POP3_ENABLED_AT,
    POP3_LAST_LOGIN,
    POP3_LOGIN_DELAY,
    POP3_MODE,
    ROOT_UNIT,
    Setting,
)
from pochta.store.api import AlreadyExists, Conflict, DirectoryReader, NotFound, Store
from pochta.testing.store_suite.support import APOP_SECRET, make_account


async def test_account_settings_are_typed_and_removable(store: Store) -> None:
    account = await make_account(store)
    assert account.settings.find(POP3_MODE) is None
    assert account.settings.get(POP3_MODE, "all") == "all"  # the caller's config default
    updated = await store.set_account_settings(
        "ALICE@example.org",
        {IMAP_ENABLED.name: False, POP3_LOGIN_DELAY.name: 900, POP3_APOP_SECRET.name: APOP_SECRET},
    )
    assert not updated.settings.allows("imap")
    assert updated.settings.allows("pop3")
    assert updated.settings.get(POP3_LOGIN_DELAY, 0) == 900
    assert updated.settings.optional(POP3_APOP_SECRET) == APOP_SECRET
    assert updated.settings.find(IMAP_ENABLED) == Setting(False, "account")
    # Every read of the account carries the same settings.
    assert await store.get_account("alice@example.org") == updated
    assert await store.get_account_by_id(account.id) == updated
    assert await store.list_accounts() == [updated]
    read = await store.read_directory(lambda r: (r.account("alice@example.org"), r.account_by_id(account.id)))
    assert read == (updated, updated)
    # None removes a value: the account follows its unit (here: the defaults) again.
    cleared = await store.set_account_settings("alice@example.org", {IMAP_ENABLED.name: None})
    assert cleared.settings.allows("imap")
    assert cleared.settings.find(IMAP_ENABLED) is None
    # An unknown key or a bad value is refused before anything is written.
    with pytest.raises(ValueError, match="unknown setting"):
        await store.set_account_settings("alice@example.org", {"pop3.nonsense": 1, POP3_MODE.name: "all"})
    with pytest.raises(ValueError, match="not one of"):
        await store.set_account_settings("alice@example.org", {POP3_MODE.name: "some"})
    again = await store.get_account("alice@example.org")
    assert again is not None
    assert again.settings.find(POP3_MODE) is None
    with pytest.raises(NotFound):
        await store.set_account_settings("nobody@example.org", {IMAP_ENABLED.name: False})


async def test_switching_pop3_back_on_records_when(store: Store) -> None:
    account = await make_account(store)
    assert account.settings.optional(POP3_ENABLED_AT) is None  # since created
    await store.set_account_settings("alice@example.org", {POP3_ENABLED.name: False})
    before = datetime.now(UTC).replace(microsecond=0)
    on = await store.set_account_settings("alice@example.org", {POP3_ENABLED.name: True})
    enabled_at = on.settings.optional(POP3_ENABLED_AT)
    assert enabled_at is not None
    assert enabled_at >= before


async def test_a_units_change_switching_pop3_on_records_when(store: Store) -> None:
    await store.add_unit("closed")
    await store.add_unit("east", parent="closed")
    await store.set_unit_settings("closed", {POP3_ENABLED.name: False})
    await make_account(store)  # alice
    await make_account(store, "bob@example.org")
    await store.set_account_unit("alice@example.org", "east")
    await store.set_account_unit("bob@example.org", "east")
    await store.set_account_settings("bob@example.org", {POP3_ENABLED.name: False})  # his own: off
    before = datetime.now(UTC).replace(microsecond=0)
    # The unit two levels up switches POP3 on: alice's POP3 is on from now; bob's stays off.
    await store.set_unit_settings("closed", {POP3_ENABLED.name: True})
    alice = await store.get_account("alice@example.org")
    bob = await store.get_account("bob@example.org")
    assert alice is not None
    assert bob is not None
    assert alice.settings.allows("pop3")
    enabled_at = alice.settings.optional(POP3_ENABLED_AT)
    assert enabled_at is not None
    assert enabled_at >= before
    assert not bob.settings.allows("pop3")
    assert bob.settings.optional(POP3_ENABLED_AT) is None
    # Moving a unit out from under a parent with POP3 off switches it on for its accounts too.
    await store.set_unit_settings("closed", {POP3_ENABLED.name: False})
    await store.set_account_settings("alice@example.org", {POP3_ENABLED_AT.name: None})
    await store.set_unit_parent("east", ROOT_UNIT)
    moved = await store.get_account("alice@example.org")
    assert moved is not None
    assert moved.settings.allows("pop3")
    assert moved.settings.optional(POP3_ENABLED_AT) is not None
    # A change that leaves POP3 as it was records nothing.
    await store.set_account_settings("alice@example.org", {POP3_ENABLED_AT.name: None})
    await store.set_unit_settings(ROOT_UNIT, {POP3_ENABLED.name: True})
    unchanged = await store.get_account("alice@example.org")
    assert unchanged is not None
    assert unchanged.settings.optional(POP3_ENABLED_AT) is None


async def test_recorded_setting_is_read_back(store: Store) -> None:
    account = await make_account(store)
    when = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    await store.record_account_setting(account.id, POP3_LAST_LOGIN.name, when)
    await store.record_account_setting(account.id, POP3_LAST_LOGIN.name, when.replace(hour=13))
    found = await store.get_account_by_id(account.id)
    assert found is not None
    assert found.settings.optional(POP3_LAST_LOGIN) == when.replace(hour=13)


async def test_units_nest_and_settings_inherit(store: Store) -> None:
    [root] = await store.list_units()
    assert (root.name, root.parent) == (ROOT_UNIT, None)
    staff = await store.add_unit("staff")
    assert staff.parent == ROOT_UNIT
    sales = await store.add_unit("sales", parent="staff")
    assert sales.parent == "staff"
    with pytest.raises(AlreadyExists):
        await store.add_unit("sales")
    with pytest.raises(NotFound):
        await store.add_unit("east", parent="nowhere")
    with pytest.raises(ValueError, match="not a unit name"):
        await store.add_unit("no spaces")
    await store.set_unit_settings(ROOT_UNIT, {POP3_LOGIN_DELAY.name: 60})
    await store.set_unit_settings("staff", {POP3_ENABLED.name: False, POP3_MODE.name: "since-enabled"})
    await store.set_unit_settings("sales", {POP3_MODE.name: "all"})
    with pytest.raises(ValueError, match="cannot set"):
        await store.set_unit_settings("staff", {POP3_APOP_SECRET.name: "x"})  # an account's own

    account = await make_account(store)
    assert account.settings.unit == ROOT_UNIT
    assert account.settings.allows("pop3")
    assert account.settings.find(POP3_LOGIN_DELAY) == Setting(60, ROOT_UNIT)
    moved = await store.set_account_unit("alice@example.org", "sales")
    assert moved.settings.unit == "sales"
    # The nearest unit wins: sales' mode, staff's switch, the root's delay.
    assert moved.settings.find(POP3_MODE) == Setting("all", "sales")
    assert moved.settings.find(POP3_ENABLED) == Setting(False, "staff")
    assert not moved.settings.allows("pop3")
    assert moved.settings.allows("imap")
    assert moved.settings.get(POP3_LOGIN_DELAY, 0) == 60
    # The account's own value wins over every unit.
    own = await store.set_account_settings("alice@example.org", {POP3_ENABLED.name: True})
    assert own.settings.find(POP3_ENABLED) == Setting(True, "account")
    # A unit's change reaches its accounts at their next read, also inside read_directory.
    await store.set_account_settings("alice@example.org", {POP3_ENABLED.name: None})
    await store.set_unit_settings("staff", {POP3_ENABLED.name: None})

    def read(reader: DirectoryReader) -> bool:
        found = reader.account("alice@example.org")
        assert found is not None
        return found.settings.allows("pop3")

    assert await store.read_directory(read)
    back = await store.set_account_unit("alice@example.org", ROOT_UNIT)
    assert back.settings.unit == ROOT_UNIT
    assert back.settings.find(POP3_MODE) is None
    with pytest.raises(NotFound):
        await store.set_account_unit("alice@example.org", "nowhere")


async def test_units_list_as_a_tree_with_members(store: Store) -> None:
    await store.add_unit("b")
    await store.add_unit("a")
    await store.add_unit("a2", parent="a")
    await make_account(store, "x@example.org")
    await make_account(store, "y@example.org")
    await store.set_account_unit("y@example.org", "a2")
    units = await store.list_units()
    assert [(u.name, u.parent, u.accounts) for u in units] == [
        (ROOT_UNIT, None, 1),
        ("a", ROOT_UNIT, 0),
        ("a2", "a", 1),
        ("b", ROOT_UNIT, 0),
    ]
    got = await store.get_unit("a2")
    assert got is not None
    assert got.accounts == 1
    assert await store.get_unit("zz") is None


async def test_unit_cycles_and_deletes_are_refused(store: Store) -> None:
    await store.add_unit("top")
    await store.add_unit("mid", parent="top")
    await store.add_unit("low", parent="mid")
    with pytest.raises(Conflict):
        await store.set_unit_parent("top", "low")  # below itself
    with pytest.raises(Conflict):
        await store.set_unit_parent("top", "top")
    with pytest.raises(Conflict):
        await store.set_unit_parent(ROOT_UNIT, "top")
    moved = await store.set_unit_parent("low", "top")
    assert moved.parent == "top"
    with pytest.raises(Conflict, match="unit"):
        await store.delete_unit("top")  # mid and low are under it
    with pytest.raises(Conflict):
        await store.delete_unit(ROOT_UNIT)
    await make_account(store)
    await store.set_account_unit("alice@example.org", "mid")
    with pytest.raises(Conflict, match="account"):
        await store.delete_unit("mid")
    await store.set_account_unit("alice@example.org", ROOT_UNIT)
    await store.delete_unit("mid")
    assert await store.get_unit("mid") is None
    with pytest.raises(NotFound):
        await store.delete_unit("mid")


async def test_deleting_an_account_takes_its_settings(store: Store) -> None:
    await store.add_unit("staff")
    await make_account(store)
    await store.set_account_unit("alice@example.org", "staff")
    await store.set_account_settings("alice@example.org", {IMAP_ENABLED.name: False})
    await store.delete_account("alice@example.org")
    await store.delete_unit("staff")  # no member left
    again = await make_account(store)
    assert again.settings.allows("imap")
    assert again.settings.unit == ROOT_UNIT


async def test_settings_changes_move_the_directory_version(store: Store) -> None:
    account = await make_account(store)
    await store.add_unit("staff")

    async def moved(change: object) -> bool:
        before = store.directory_version()
        await change  # type: ignore[misc]
        after = store.directory_version()
        return before is None or after is None or after != before

    assert await moved(store.set_account_unit("alice@example.org", "staff"))
    assert await moved(store.set_unit_settings("staff", {POP3_ENABLED.name: False}))
    assert await moved(store.set_account_settings("alice@example.org", {POP3_ENABLED.name: True}))
    # A POP3 login's timestamp is no directory change: caches keyed by the version stay.
    before = store.directory_version()
    await store.record_account_setting(account.id, POP3_LAST_LOGIN.name, datetime.now(UTC))
    assert store.directory_version() == before
