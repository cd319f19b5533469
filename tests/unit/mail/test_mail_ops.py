"""MailOps through a real SQLite store: RFC 9051 §6.3 (mailboxes), §6.3.12 APPEND, §6.4 (messages),
RFC 6851 MOVE, RFC 5530 response codes, RFC 9208 quota."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.config import MimeSettings
from pochta.mail.errors import OpsError
from pochta.mail.names import NameLimits
from pochta.mail.ops import PARSE_INLINE_MAX, LineEnds, MailOps, NewMessage, _crlf
from pochta.store.api import Store
from pochta.store.model import Account, MailboxInfo
from pochta.store.spool import SpoolFile

pytestmark = pytest.mark.usefixtures("account")


def message(n: int = 1, body: bytes = b"Hello.\r\n") -> bytes:
    return (
        f"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: test {n}\r\n"
        f"Message-ID: <{n}@example.net>\r\n\r\n"
    ).encode() + body


async def names_of(store: Store, account: Account) -> set[str]:
    return {info.name for info in await store.mailboxes(account.id)}


async def flags_of(store: Store, mailbox: MailboxInfo) -> dict[int, frozenset[str]]:
    view = await store.open_view(mailbox.id)
    return {entry.uid: entry.flags for entry in view.messages}


async def expect(code: str, awaitable: Awaitable[object]) -> OpsError:
    with pytest.raises(OpsError) as info:
        await awaitable
    assert info.value.code == code, info.value
    return info.value


# --- CREATE (RFC 9051 §6.3.4) -----------------------------------------------------------------------


async def test_create(ops: MailOps, store: Store, account: Account) -> None:
    info = await ops.create(account.id, "Projects")
    assert info.name == "Projects"
    assert (await ops.lookup(account.id, "Projects")).id == info.id


async def test_create_makes_missing_parents(ops: MailOps, store: Store, account: Account) -> None:
    # RFC 9051 §6.3.4: creating "foo/bar/zap" SHOULD create foo/ and foo/bar/.
    await ops.create(account.id, "foo/bar/zap")
    assert {"foo", "foo/bar", "foo/bar/zap"} <= await names_of(store, account)
    await ops.create(account.id, "foo/other")  # parent exists already: fine
    assert "foo/other" in await names_of(store, account)


async def test_create_trailing_separator_is_a_declaration(ops: MailOps, account: Account) -> None:
    # RFC 9051 §6.3.4: "the name created is without the trailing hierarchy delimiter".
    info = await ops.create(account.id, "owatagusiam/")
    assert info.name == "owatagusiam"
    await ops.create(account.id, "owatagusiam/blurdybloop")
    await expect("CANNOT", ops.create(account.id, "/"))
    await expect("CANNOT", ops.create(account.id, "a//"))


async def test_create_existing(ops: MailOps, account: Account) -> None:
    await expect("ALREADYEXISTS", ops.create(account.id, "Sent"))  # a default mailbox
    # RFC 9051 §6.3.4: "It is an error to attempt to create INBOX", in any case.
    for spelling in ("INBOX", "inbox", "InBox"):
        await expect("ALREADYEXISTS", ops.create(account.id, spelling))


async def test_create_inbox_child_is_canonical(ops: MailOps, account: Account) -> None:
    info = await ops.create(account.id, "inbox/Lists")
    assert info.name == "INBOX/Lists"
    await expect("ALREADYEXISTS", ops.create(account.id, "Inbox/Lists"))


async def test_create_invalid_names(ops: MailOps, store: Store, account: Account) -> None:
    before = await names_of(store, account)
    for name in ("", "a//b", "..", "x/../y", "star*", "nul\x00"):
        await expect("CANNOT", ops.create(account.id, name))
    await expect("LIMIT", ops.create(account.id, "x" * 1025))
    await expect("LIMIT", ops.create(account.id, "/".join("x" * 33)))
    assert await names_of(store, account) == before  # no parents left behind


async def test_create_normalises_to_nfc(ops: MailOps, account: Account) -> None:
    # RFC 9051 §5.1: a denormalised name is converted to NFC and then found in any form.
    info = await ops.create(account.id, "Entwu\u0308rfe")
    assert info.name == "Entw\u00fcrfe"
    assert (await ops.lookup(account.id, "Entwu\u0308rfe")).id == info.id
    await expect("ALREADYEXISTS", ops.create(account.id, "Entw\u00fcrfe"))


async def test_create_special_use(ops: MailOps, account: Account) -> None:
    # RFC 6154 §5.3 CREATE-SPECIAL-USE; \All and \Flagged need virtual mailboxes: USEATTR.
    info = await ops.create(account.id, "Old Sent", special_use="\\sent")
    assert info.special_use == "\\Sent"
    await expect("USEATTR", ops.create(account.id, "Everything", special_use="\\All"))
    await expect("USEATTR", ops.create(account.id, "Bogus", special_use="\\Important2"))
    await expect("NONEXISTENT", ops.lookup(account.id, "Everything"))


# --- DELETE (RFC 9051 §6.3.5) -----------------------------------------------------------------------


async def test_delete(ops: MailOps, store: Store, account: Account) -> None:
    await ops.create(account.id, "Scratch")
    await ops.append(account.id, "Scratch", message())
    await ops.delete(account.id, "Scratch")
    await expect("NONEXISTENT", ops.lookup(account.id, "Scratch"))
    await expect("NONEXISTENT", ops.delete(account.id, "Scratch"))


async def test_delete_inbox_refused(ops: MailOps, account: Account) -> None:
    # RFC 9051 §6.3.5: "It is an error to attempt to delete INBOX".
    for spelling in ("INBOX", "inbox"):
        await expect("CANNOT", ops.delete(account.id, spelling))
    await ops.lookup(account.id, "INBOX")


async def test_delete_with_children_refused(ops: MailOps, store: Store, account: Account) -> None:
    # RFC 9051 §6.3.5: a server that does not permit it "SHOULD ... NO ... HASCHILDREN".
    await ops.create(account.id, "Notes/2024")
    await expect("HASCHILDREN", ops.delete(account.id, "Notes"))
    await ops.delete(account.id, "Notes/2024")
    await ops.delete(account.id, "Notes")
    assert not {"Notes", "Notes/2024"} & await names_of(store, account)
    # A sibling sharing a prefix is not an inferior.
    await ops.create(account.id, "Notes")
    await ops.create(account.id, "Notes2")
    await ops.delete(account.id, "Notes")


# --- RENAME (RFC 9051 §6.3.6) -----------------------------------------------------------------------


async def test_rename_with_children(ops: MailOps, store: Store, account: Account) -> None:
    await ops.create(account.id, "foo/bar/zap")
    await ops.append(account.id, "foo/bar", message(), flags=["\\Flagged"])
    renamed = await ops.rename(account.id, "foo", "baz/rag/zowie")
    assert {info.name for info in renamed} >= {"baz/rag/zowie", "baz/rag/zowie/bar", "baz/rag/zowie/bar/zap"}
    names = await names_of(store, account)
    # RFC 9051 §6.3.6: superiors of the new name are created; inferiors move along.
    assert {"baz", "baz/rag", "baz/rag/zowie", "baz/rag/zowie/bar", "baz/rag/zowie/bar/zap"} <= names
    assert not {"foo", "foo/bar", "foo/bar/zap"} & names
    moved = await ops.lookup(account.id, "baz/rag/zowie/bar")
    assert list((await flags_of(store, moved)).values()) == [frozenset({"\\Flagged"})]


async def test_rename_errors(ops: MailOps, account: Account) -> None:
    await ops.create(account.id, "a/b")
    await ops.create(account.id, "c")
    await expect("NONEXISTENT", ops.rename(account.id, "missing", "new"))
    await expect("ALREADYEXISTS", ops.rename(account.id, "a", "c"))
    await expect("ALREADYEXISTS", ops.rename(account.id, "a", "a"))
    await expect("ALREADYEXISTS", ops.rename(account.id, "c", "inbox"))
    await expect("CANNOT", ops.rename(account.id, "a", "a/b/c"))  # into its own inferior
    await expect("CANNOT", ops.rename(account.id, "a", "x*"))
    await expect("CANNOT", ops.rename(account.id, "a", "x//y"))


async def test_rename_child_collision(ops: MailOps, store: Store, account: Account) -> None:
    # "a" -> "t" would move "a/x" onto an existing "t/x" although "t" itself is free.
    await ops.create(account.id, "a/x")
    await ops.create(account.id, "t/x")
    await store.delete_mailbox(account.id, "t")  # the store deletes one mailbox, not its inferiors
    before = await names_of(store, account)
    assert "t" not in before
    assert "t/x" in before
    await expect("ALREADYEXISTS", ops.rename(account.id, "a", "t"))
    assert await names_of(store, account) == before


async def test_rename_children_must_fit_limits(store: Store, account: Account) -> None:
    ops = MailOps(store, MimeSettings(), name_limits=NameLimits(max_depth=3))
    await ops.create(account.id, "a/b/c")
    await expect("LIMIT", ops.rename(account.id, "a", "x/y"))  # "x/y/b/c" is 4 levels
    await ops.rename(account.id, "a/b", "b")


async def test_rename_case_only(ops: MailOps, account: Account) -> None:
    # Non-INBOX names are case-sensitive (RFC 9051 §5.1 leaves it to the server).
    await ops.create(account.id, "work")
    await ops.rename(account.id, "work", "Work")
    await ops.lookup(account.id, "Work")
    await expect("NONEXISTENT", ops.lookup(account.id, "work"))


async def test_rename_inbox_moves_messages(ops: MailOps, store: Store, account: Account) -> None:
    # RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox, leaving INBOX empty;
    # inferiors of INBOX are unaffected.
    await ops.create(account.id, "INBOX/bar")
    await ops.append(account.id, "INBOX", message(1), flags=["\\Seen"])
    await ops.append(account.id, "INBOX", message(2), flags=["$Label1", "\\Flagged"])
    inbox_before = await ops.lookup(account.id, "INBOX")
    [new] = await ops.rename(account.id, "inbox", "old-mail")
    assert new.name == "old-mail"
    assert new.messages == 2
    inbox = await ops.lookup(account.id, "INBOX")
    assert inbox.id == inbox_before.id
    assert inbox.messages == 0
    assert sorted(map(sorted, (await flags_of(store, new)).values())) == [
        ["$Label1", "\\Flagged"],
        ["\\Seen"],
    ]
    assert "INBOX/bar" in await names_of(store, account)
    # Again, into an inferior of INBOX (allowed: INBOX's inferiors do not move), and when empty.
    await ops.append(account.id, "INBOX", message(3))
    [child] = await ops.rename(account.id, "INBOX", "INBOX/old/2024")
    assert child.messages == 1
    [empty] = await ops.rename(account.id, "INBOX", "nothing")
    assert empty.messages == 0
    await expect("ALREADYEXISTS", ops.rename(account.id, "INBOX", "old-mail"))


# --- SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8) ----------------------------------------------


async def test_subscribe(ops: MailOps, account: Account) -> None:
    await ops.create(account.id, "Lists")
    await ops.subscribe(account.id, "Lists")
    await ops.subscribe(account.id, "Lists")  # "OK ... if the mailbox is already subscribed"
    assert (await ops.lookup(account.id, "Lists")).subscribed
    await ops.unsubscribe(account.id, "Lists")
    assert not (await ops.lookup(account.id, "Lists")).subscribed
    await ops.unsubscribe(account.id, "Lists")  # not subscribed: nothing to do
    await ops.unsubscribe(account.id, "inbox")  # the default mailboxes start subscribed
    assert not (await ops.lookup(account.id, "INBOX")).subscribed
    await ops.subscribe(account.id, "inbox")
    assert (await ops.lookup(account.id, "INBOX")).subscribed
    assert "INBOX" in await ops.subscriptions(account.id)
    await expect("CANNOT", ops.subscribe(account.id, "a//b"))
    await expect("CANNOT", ops.subscribe(account.id, "news*"))
    await expect("LIMIT", ops.subscribe(account.id, "x" * 1025))


async def test_subscriptions_without_mailbox(ops: MailOps, account: Account) -> None:
    # RFC 9051 §6.3.7: a server "SHOULD NOT unilaterally remove an existing mailbox name from the
    # subscription list even if a mailbox by that name no longer exists".
    defaults = set(await ops.subscriptions(account.id))
    await ops.subscribe(account.id, "system-alerts")
    await ops.create(account.id, "Gone")
    await ops.subscribe(account.id, "Gone")
    await ops.delete(account.id, "Gone")
    assert set(await ops.subscriptions(account.id)) - defaults == {"Gone", "system-alerts"}
    await ops.create(account.id, "system-alerts")
    assert (await ops.lookup(account.id, "system-alerts")).subscribed
    await ops.unsubscribe(account.id, "Gone")
    assert set(await ops.subscriptions(account.id)) - defaults == {"system-alerts"}


# --- APPEND (RFC 9051 §6.3.12) ----------------------------------------------------------------------


async def test_append(ops: MailOps, store: Store, account: Account) -> None:
    when = datetime(2024, 2, 29, 12, 30, tzinfo=UTC)
    placed = await ops.append(
        account.id, "inbox", message(), flags=["\\seen", "\\Recent", "$Forwarded"], internal_date=when
    )
    inbox = await ops.lookup(account.id, "INBOX")
    assert placed.mailbox_id == inbox.id
    assert placed.uidvalidity == inbox.uidvalidity
    view = await store.open_view(inbox.id)
    [entry] = view.messages
    assert entry.uid == placed.uid
    # \Recent is never stored (RFC 3501 §2.3.2); system flags are spelled canonically.
    assert entry.flags == {"\\Seen", "$Forwarded"}
    assert entry.internal_date == when
    assert entry.size == len(message())
    with store.open_blob(entry.blob) as blob:
        assert blob.read() == message()


async def test_append_missing_mailbox(ops: MailOps, store: Store, account: Account) -> None:
    # RFC 9051 §6.3.12: MUST NOT create it; TRYCREATE unless it certainly cannot be created.
    await expect("TRYCREATE", ops.append(account.id, "Later", message()))
    await expect("NONEXISTENT", ops.append(account.id, "wild*card", message()))
    await expect("NONEXISTENT", ops.lookup(account.id, "Later"))


async def test_append_refuses_bad_input(store: Store, account: Account) -> None:
    ops = MailOps(store, MimeSettings(), max_message_size=1000)
    await expect("CLIENTBUG", ops.append(account.id, "INBOX", message(), flags=["\\Bogus"]))
    await expect("CLIENTBUG", ops.append(account.id, "INBOX", message(), flags=["bad]atom"]))
    await expect("CANNOT", ops.append(account.id, "INBOX", b""))
    await expect("TOOBIG", ops.append(account.id, "INBOX", message(body=b"x" * 1000)))
    assert (await ops.lookup(account.id, "INBOX")).messages == 0


async def test_append_keyword_case_and_limit(store: Store, account: Account) -> None:
    ops = MailOps(store, MimeSettings(), max_keywords=3)
    await ops.append(account.id, "INBOX", message(1), flags=["$Work"])
    await ops.append(account.id, "INBOX", message(2), flags=["$WORK", "todo"])
    inbox = await ops.lookup(account.id, "INBOX")
    assert sorted(map(sorted, (await flags_of(store, inbox)).values())) == [["$Work"], ["$Work", "todo"]]
    # RFC 5530 LIMIT: "the number of flags used in a mailbox".
    await expect("LIMIT", ops.append(account.id, "INBOX", message(3), flags=["a", "b"]))
    await ops.append(account.id, "INBOX", message(4), flags=["c", "TODO"])


async def test_keyword_limit_counts_keywords_no_message_carries_any_more(
    store: Store, account: Account
) -> None:
    # The mailbox's keyword list keeps every keyword it ever stored (FLAGS lists them all), so the
    # limit bounds that list: an expunged message's keywords still count, and keep their spelling.
    ops = MailOps(store, MimeSettings(), max_keywords=2)
    placed = await ops.append(account.id, "INBOX", message(1), flags=["$One", "$Two"])
    await store.expunge(placed.mailbox_id, [placed.uid])
    await expect("LIMIT", ops.append(account.id, "INBOX", message(2), flags=["$Three"]))
    await ops.append(account.id, "INBOX", message(3), flags=["$ONE"])
    inbox = await ops.lookup(account.id, "INBOX")
    assert list((await flags_of(store, inbox)).values()) == [{"$One"}]


async def test_append_large_message_parsed_off_loop(ops: MailOps, store: Store, account: Account) -> None:
    data = message(body=b"0123456789abcdef\r\n" * (PARSE_INLINE_MAX // 18 + 10))
    assert len(data) > PARSE_INLINE_MAX
    placed = await ops.append(account.id, "Archive", data)
    [cached] = await store.cached(placed.mailbox_id, [placed.uid])
    assert cached.blob.size == len(data)


async def test_append_over_quota(ops: MailOps, store: Store, account: Account) -> None:
    size = len(message())
    await store.update_account(account.address, quota_bytes=2 * size + size // 2)
    await ops.append(account.id, "INBOX", message())
    await ops.append(account.id, "Sent", message())
    # RFC 5530 OVERQUOTA: "The user would be over quota after the operation".
    await expect("OVERQUOTA", ops.append(account.id, "INBOX", message()))
    assert await store.quota_usage(account.id) == 2 * size
    await store.update_account(account.address, quota_bytes=None)
    await ops.append(account.id, "INBOX", message())


async def test_append_many_all_or_nothing(ops: MailOps, store: Store, account: Account) -> None:
    # RFC 3502 §3: a MULTIAPPEND appends every message or none.
    placed = await ops.append_many(
        account.id, "INBOX", [NewMessage(message(1), ("\\Seen",)), NewMessage(message(2))]
    )
    assert [p.uid for p in placed] == [1, 2]
    await expect(
        "CLIENTBUG",
        ops.append_many(account.id, "INBOX", [NewMessage(message(3)), NewMessage(message(4), ("\\Bogus",))]),
    )
    await expect("CANNOT", ops.append_many(account.id, "INBOX", [NewMessage(message(3)), NewMessage(b"")]))
    size = len(message(3))
    usage = await store.quota_usage(account.id)
    await store.update_account(account.address, quota_bytes=usage + size + size // 2)
    await expect(
        "OVERQUOTA", ops.append_many(account.id, "INBOX", [NewMessage(message(3)), NewMessage(message(4))])
    )
    assert (await ops.lookup(account.id, "INBOX")).messages == 2


async def test_append_turns_bare_lf_into_crlf(ops: MailOps, store: Store, account: Account) -> None:
    placed = await ops.append(account.id, "INBOX", b"Subject: x\n\nline 1\r\nline 2\nend\r")
    [entry] = (await store.open_view(placed.mailbox_id)).messages
    with store.open_blob(entry.blob) as f:
        assert f.read() == b"Subject: x\r\n\r\nline 1\r\nline 2\r\nend\r"  # bare CR kept as given
    assert await ops.canonical_content(b"a\r\nb\r\n") == b"a\r\nb\r\n"


@settings(max_examples=300)
@given(st.binary(max_size=40) | st.text(alphabet="a\r\n", max_size=40).map(str.encode), st.data())
def test_line_ends_in_pieces_agree_with_the_whole(data: bytes, draw: st.DataObject) -> None:
    # However the octets are cut into pieces (a CR ending one, its LF starting the next), streaming
    # gives what canonical_content gives for the whole.
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    line_ends = LineEnds()
    assert b"".join(line_ends.convert(piece) for piece in pieces) == _crlf(data)


async def test_append_many_adopts_spool_files(
    ops: MailOps, store: Store, account: Account, tmp_path: Path
) -> None:
    spools = []
    for n in (1, 2):
        spool = SpoolFile(tmp_path / "spool", "test")
        spool.write(message(n))
        await spool.finish()
        spools.append(spool)
    placed = await ops.append_many(
        account.id, "INBOX", [NewMessage(spools[0], (r"\Seen",)), NewMessage(spools[1])]
    )
    assert [p.uid for p in placed] == [1, 2]
    assert list((tmp_path / "spool").iterdir()) == []  # moved into the blob store
    view = await store.open_view(placed[0].mailbox_id)
    with store.open_blob(view.messages[1].blob) as f:
        assert f.read() == message(2)
    empty = SpoolFile(tmp_path / "spool", "test")
    await empty.finish()
    await expect("CANNOT", ops.append_many(account.id, "INBOX", [NewMessage(empty)]))
    await empty.discard()
    assert list((tmp_path / "spool").iterdir()) == []


# --- COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851) -----------------------------------------------------


async def fill_inbox(ops: MailOps, account: Account) -> MailboxInfo:
    await ops.append(account.id, "INBOX", message(1), flags=["\\Seen"])
    await ops.append(account.id, "INBOX", message(2), flags=["\\Flagged", "$Work"])
    await ops.append(account.id, "INBOX", message(3))
    return await ops.lookup(account.id, "INBOX")


async def test_copy(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    uids = sorted(await flags_of(store, inbox))
    result = await ops.copy(account.id, inbox.id, [uids[0], uids[1], 999], "Archive")
    archive = await ops.lookup(account.id, "Archive")
    # RFC 4315 COPYUID data: source UIDs and their new UIDs, in pairs; unknown UIDs are ignored.
    assert result.destination_id == archive.id
    assert result.uidvalidity == archive.uidvalidity
    assert result.source_uids == (uids[0], uids[1])
    assert len(result.destination_uids) == 2
    copied = await flags_of(store, archive)
    assert [copied[uid] for uid in result.destination_uids] == [
        frozenset({"\\Seen"}),
        frozenset({"\\Flagged", "$Work"}),
    ]
    assert (await ops.lookup(account.id, "INBOX")).messages == 3  # source untouched
    empty = await ops.copy(account.id, inbox.id, [999], "Archive")
    assert empty.source_uids == ()
    assert empty.destination_uids == ()


async def test_copy_missing_destination(ops: MailOps, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    # RFC 9051 §6.4.7: TRYCREATE unless it certainly cannot be created.
    await expect("TRYCREATE", ops.copy(account.id, inbox.id, [1], "Nowhere"))
    await expect("NONEXISTENT", ops.copy(account.id, inbox.id, [1], "No*where"))
    await expect("CANNOT", ops.copy(account.id, inbox.id, [1], "No//where"))  # invalid: no TRYCREATE


async def test_copy_over_quota(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    usage = await store.quota_usage(account.id)
    uids = sorted(await flags_of(store, inbox))
    await store.update_account(account.address, quota_bytes=usage + len(message(1)))
    await ops.copy(account.id, inbox.id, uids[:1], "Archive")  # exactly fits
    await expect("OVERQUOTA", ops.copy(account.id, inbox.id, uids[1:2], "Archive"))
    assert (await ops.lookup(account.id, "Archive")).messages == 1


async def test_copy_from_another_account(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    other = await store.add_account("bob@example.org", "not-a-real-hash", None)
    await expect("NONEXISTENT", ops.copy(other.id, inbox.id, [1], "INBOX"))
    await expect("NONEXISTENT", ops.move(other.id, inbox.id, [1], "INBOX"))


async def test_move_keeps_flags(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    before = await flags_of(store, inbox)
    uids = sorted(before)
    result = await ops.move(account.id, inbox.id, uids[:2], "Archive")
    archive = await ops.lookup(account.id, "Archive")
    after = await flags_of(store, archive)
    assert result.source_uids == tuple(uids[:2])
    assert [after[uid] for uid in result.destination_uids] == [before[uid] for uid in uids[:2]]
    assert sorted(await flags_of(store, inbox)) == uids[2:]


async def test_move_has_no_quota_growth(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    usage = await store.quota_usage(account.id)
    await store.update_account(account.address, quota_bytes=usage)  # exactly full
    await expect("OVERQUOTA", ops.copy(account.id, inbox.id, [1], "Archive"))
    uids = sorted(await flags_of(store, inbox))
    await ops.move(account.id, inbox.id, uids, "Archive")
    assert await store.quota_usage(account.id) == usage


async def test_move_errors(ops: MailOps, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    await expect("TRYCREATE", ops.move(account.id, inbox.id, [1], "Nowhere"))
    same = await ops.move(account.id, inbox.id, [1], "inbox")  # RFC 6851 §3.3: allowed
    assert same.source_uids == (1,)
    assert same.destination_uids[0] > 1
    empty = await ops.move(account.id, inbox.id, [], "Trash")
    assert empty.source_uids == ()


# --- STORE (RFC 9051 §6.4.6) ------------------------------------------------------------------------


async def test_store_flags(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    uids = sorted(await flags_of(store, inbox))
    await ops.store_flags(inbox.id, uids, "add", ["\\deleted", "\\Recent", "$WORK"])
    flags = await flags_of(store, inbox)
    assert flags[uids[0]] == {"\\Seen", "\\Deleted", "$Work"}  # stored case of "$Work" kept
    assert flags[uids[2]] == {"\\Deleted", "$Work"}
    await ops.store_flags(inbox.id, uids[:1], "remove", ["\\SEEN", "$work"])
    assert (await flags_of(store, inbox))[uids[0]] == {"\\Deleted"}
    # \Recent alone: replace with nothing (RFC 3501 §6.4.6 FLAGS: "other than \Recent").
    await ops.store_flags(inbox.id, uids[1:2], "replace", ["\\Recent"])
    assert (await flags_of(store, inbox))[uids[1]] == frozenset()


async def test_store_flags_refused(store: Store, account: Account) -> None:
    ops = MailOps(store, MimeSettings(), max_keywords=2)
    inbox = await fill_inbox(ops, account)  # "$Work" is in use
    await expect("CLIENTBUG", ops.store_flags(inbox.id, [1], "add", ["\\Important"]))
    await expect("CLIENTBUG", ops.store_flags(inbox.id, [1], "add", ["(paren"]))
    await expect("CLIENTBUG", ops.store_flags(inbox.id, [1], "toggle", ["\\Seen"]))  # type: ignore[arg-type]
    await ops.store_flags(inbox.id, [1], "add", ["second"])
    await expect("LIMIT", ops.store_flags(inbox.id, [1], "add", ["third"]))
    await ops.store_flags(inbox.id, [1], "remove", ["third"])  # removing never creates one


# --- EXPUNGE (RFC 9051 §6.4.3, UID EXPUNGE §6.4.9) and POP3 QUIT (RFC 1939 §6) ----------------------


async def test_expunge_only_deleted(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    uids = sorted(await flags_of(store, inbox))
    nothing = await ops.expunge(inbox.id)
    assert nothing.expunged == ()
    await ops.store_flags(inbox.id, uids[:2], "add", ["\\Deleted"])
    # UID EXPUNGE: only the given UIDs that carry \Deleted.
    changes = await ops.expunge(inbox.id, [uids[1], uids[2]])
    assert changes.expunged == (uids[1],)
    assert sorted(await flags_of(store, inbox)) == [uids[0], uids[2]]
    # EXPUNGE: every \Deleted message.
    changes = await ops.expunge(inbox.id)
    assert changes.expunged == (uids[0],)
    assert sorted(await flags_of(store, inbox)) == [uids[2]]


async def test_expunge_uids_for_pop3(ops: MailOps, store: Store, account: Account) -> None:
    inbox = await fill_inbox(ops, account)
    uids = sorted(await flags_of(store, inbox))
    # RFC 1939 §6: QUIT removes the messages marked with DELE, whatever their IMAP flags.
    changes = await ops.expunge_uids(inbox.id, [uids[0], uids[2]])
    assert changes.expunged == (uids[0], uids[2])
    assert sorted(await flags_of(store, inbox)) == [uids[1]]
    assert (await ops.expunge_uids(inbox.id, [])).expunged == ()
    await expect("NONEXISTENT", ops.expunge_uids(987654, []))
    await expect("NONEXISTENT", ops.expunge(987654))


async def test_limits_come_from_settings(store: Store, account: Account) -> None:
    from pochta.config import Settings

    settings = Settings.model_validate(
        {"limits": {"max_mailbox_depth": 2, "max_mailbox_name_bytes": 100, "max_message_size": 2048}}
    )
    ops = MailOps.from_settings(store, settings)
    await ops.create(account.id, "a/b")
    error = await expect("LIMIT", ops.create(account.id, "a/b/c"))
    assert "level" in error.message or "deep" in error.message
    await expect("LIMIT", ops.create(account.id, "x" * 101))
    await expect("TOOBIG", ops.append(account.id, "INBOX", message(body=b"y" * 4096), [], None))
