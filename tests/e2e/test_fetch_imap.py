"""The fetcher of IMAP accounts against a second pochta's IMAP (tests/imap_env.py: STARTTLS and
implicit TLS with the remote's test CA): keep and delete modes, several folders, mirrored flags, no
message twice across runs, a UIDVALIDITY change, a folder that does not open, and a wrong password
shown in the status (docs/fetch.md "IMAP accounts")."""

from __future__ import annotations

from pathlib import Path

from fetch_env import LOCAL, LocalSide, fetch_settings, local_side
from imap_env import ALICE, PASSWORD, ImapEnv, imap_server, message
from pochta.store.fetch_model import FetchAccount


async def _add(local: LocalSide, remote: ImapEnv, tls: str = "starttls", **options: object) -> FetchAccount:
    port = remote.tls[1] if tls == "implicit" else remote.plain[1]
    return await local.add(port, ALICE, PASSWORD, tls=tls, protocol="imap", **options)  # type: ignore[arg-type]


async def test_keep_mode_over_starttls_leaves_the_remote_untouched(tmp_path: Path) -> None:
    async with imap_server(tmp_path) as remote:
        for n in range(3):
            await remote.deliver(message(n))
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            account = await _add(local, remote)
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.deleted, report.known) == (3, 0, 0)
            got = await local.messages()
            assert len(got) == 3
            head = got[0].split(b"\r\n", 3)
            assert head[0] == b"Received: from 127.0.0.1 ([127.0.0.1])"  # the normal delivery
            assert b"with IMAP id" in head[1]
            assert head[2] == f"\tfor <{LOCAL}>;".encode()
            assert got[0].endswith(message(0))
            # BODY.PEEK[] on EXAMINE: nothing changed there, not even \Seen.
            assert await remote.uids() == [1, 2, 3]
            info = await remote.mailbox()
            assert all("\\Seen" not in f for f in (await remote.store.open_view(info.id)).flags)
            again = await local.fetcher.run(account)
            assert (again.fetched, again.known) == (0, 3)
            await remote.deliver(message(3))
            third = await local.fetcher.run(account)
            assert (third.fetched, third.known) == (1, 3)
            assert len(await local.messages()) == 4
            keys = await local.store.fetched_keys(account.id)
            uidvalidity = info.uidvalidity
            assert {f"imap:INBOX:{uidvalidity}:{uid}" for uid in (1, 2, 3, 4)} <= keys
            assert len(keys) == 8  # each with its content digest


async def test_delete_mode_over_implicit_tls_with_folders_and_flags(tmp_path: Path) -> None:
    async with imap_server(tmp_path) as remote:
        await remote.ops.create(remote.alice.id, "Lists/python")
        await remote.deliver(message(1), flags=["\\Seen", "\\Flagged", "$Work", "\\Deleted"])
        await remote.deliver(message(2), flags=["\\Answered", "\\Draft"])
        await remote.deliver(message(3), mailbox="Lists/python", flags=["Later"])
        await remote.deliver(message(4), mailbox="Lists/python")
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            await local.delivery.ops.create(local.account.id, "Fetched")
            account = await _add(
                local,
                remote,
                "implicit",
                keep=False,
                folder="Fetched",
                imap_folders="INBOX,Lists/python",
                mirror_flags=True,
            )
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.deleted) == (4, 4)
            assert await remote.uids() == []
            assert await remote.uids("Lists/python") == []
            # INBOX into --folder, the other folder below it under its own name (made here).
            got = await local.messages("Fetched") + await local.messages("Fetched/Lists/python")
            assert [m.endswith(message(n)) for n, m in zip((1, 2, 3, 4), got, strict=True)] == [True] * 4
            assert await local.flags("Fetched") + await local.flags("Fetched/Lists/python") == [
                {"\\Seen", "\\Flagged", "$Work"},  # \Deleted is the remote's, not copied
                {"\\Answered", "\\Draft"},
                {"Later"},
                set(),
            ]
            assert await local.messages() == []
            # The records of messages gone from the remote go with the next listing.
            assert (await local.fetcher.run(account)).fetched == 0
            assert await local.store.fetched_keys(account.id) == set()


async def test_uidvalidity_change_delivers_nothing_twice(tmp_path: Path) -> None:
    async with imap_server(tmp_path) as remote:
        await remote.ops.create(remote.alice.id, "Work")
        for n in range(3):
            await remote.deliver(message(n), mailbox="Work")
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            account = await _add(local, remote, imap_folders="Work")
            assert (await local.fetcher.run(account)).fetched == 3
            before = (await remote.mailbox("Work")).uidvalidity
            # The server rebuilds the folder: same messages, new UIDVALIDITY, one new message.
            await remote.ops.delete(remote.alice.id, "Work")
            await remote.ops.create(remote.alice.id, "Work")
            for n in (0, 1, 2, 9):
                await remote.deliver(message(n), mailbox="Work")
            after = (await remote.mailbox("Work")).uidvalidity
            assert after != before
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.known) == (1, 3)
            got = await local.messages("Work")
            assert len(got) == 4
            assert got[3].endswith(message(9))
            keys = await local.store.fetched_keys(account.id)
            # Every current message recorded: the records of the old UIDVALIDITY are gone.
            assert {k for k in keys if k.startswith("imap:")} == {
                f"imap:Work:{after}:{u}" for u in (1, 2, 3, 4)
            }
            assert len(keys) == 8
            assert (await local.fetcher.run(account)).fetched == 0


async def test_a_folder_that_does_not_open_and_a_wrong_password(tmp_path: Path) -> None:
    async with imap_server(tmp_path) as remote:
        await remote.deliver(message(1))
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            account = await _add(local, remote, imap_folders="INBOX,Missing")
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert report.fetched == 1
            assert any("'Missing' cannot be opened" in why for why in report.left)
            wrong = await local.add(remote.tls[1], ALICE, "not the password", tls="implicit", protocol="imap")
            for _ in range(2):
                failed = await local.fetcher.run(wrong)
                assert failed.error is not None
                assert failed.error.kind == "auth", failed.summary()
            state = await local.store.fetch_account(wrong.id)
            assert state is not None
            assert (state.last_result, state.notified) == ("auth", "auth")
            notices = [m for m in await local.messages() if b"Subject: Cannot fetch mail" in m]
            assert len(notices) == 1  # told once
