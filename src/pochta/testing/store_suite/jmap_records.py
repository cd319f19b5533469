"""Conformance tests for JMAP records (revision 0041: Identity, EmailSubmission)."""

from __future__ import annotations

from pochta.store.api import Store
from pochta.store.jmap_record_model import JmapRecordWrite
from pochta.testing.store_suite.support import make_account


async def test_jmap_records_keep_a_state_and_tombstones_per_account_and_type(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    empty = await store.jmap_records(alice.id, "Identity")
    assert (empty.state, empty.records) == (0, ())
    made = await store.write_jmap_records(
        alice.id, "Identity", JmapRecordWrite(creates=(('{"a":1}', None), ('{"b":2}', "ref-b")))
    )
    assert (made.old_state, made.new_state, len(made.created)) == (0, 1, 2)
    first, second = made.created
    listed = await store.jmap_records(alice.id, "Identity")
    assert listed.state == 1
    assert [(r.id, r.data, r.ref, r.created, r.changed) for r in listed.records] == [
        (first, '{"a":1}', None, 1, 1),
        (second, '{"b":2}', "ref-b", 1, 1),
    ]
    # Another type and another account have their own states.
    assert (await store.jmap_records(alice.id, "EmailSubmission")).state == 0
    assert (await store.jmap_records(bob.id, "Identity")).records == ()
    found = await store.jmap_record_by_ref("Identity", "ref-b")
    assert found is not None
    assert (found.id, found.account_id) == (second, alice.id)
    # ifState: nothing written when it is not the state.
    stale = await store.write_jmap_records(
        alice.id, "Identity", JmapRecordWrite(destroys=(first,), if_state=0)
    )
    assert (stale.state_mismatch, stale.new_state) == (True, 1)
    wrote = await store.write_jmap_records(
        alice.id,
        "Identity",
        JmapRecordWrite(updates=((first, '{"a":3}'),), destroys=(second, 999), if_state=1),
    )
    assert (wrote.new_state, wrote.missing) == (2, frozenset({999}))
    live = await store.jmap_records(alice.id, "Identity")
    assert [(r.id, r.data, r.changed) for r in live.records] == [(first, '{"a":3}', 2)]
    every = await store.jmap_records(alice.id, "Identity", tombstones=True)
    assert [(r.id, r.destroyed, r.changed) for r in every.records] == [(first, False, 2), (second, True, 2)]
    assert await store.jmap_record_by_ref("Identity", "ref-b") is None  # destroyed
    # Only missing ids: nothing written, the state stays.
    none = await store.write_jmap_records(alice.id, "Identity", JmapRecordWrite(destroys=(second,)))
    assert (none.new_state, none.missing) == (2, frozenset({second}))
    await store.write_jmap_records(bob.id, "Identity", JmapRecordWrite(creates=(("{}", None),)))
    await store.delete_account("bob@example.org")  # an account's records go with it
    assert (await store.jmap_records(bob.id, "Identity", tombstones=True)).state == 0
