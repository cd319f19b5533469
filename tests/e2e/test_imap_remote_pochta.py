"""Our IMAP client (pochta.fetch.imap_remote) against a second pochta (tests/imap_env.py, in
process, real sockets, trustme CA), and a migration from that pochta into another store: IMAP4rev2
with ESEARCH, UTF8=ACCEPT names, SPECIAL-USE, CONDSTORE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imap_env import ALICE, BOB, PASSWORD, ImapEnv, imap_server
from pochta.config import Settings
from pochta.fetch.imap_remote import AuthFailed, ImapRemote, RemoteServer, TlsMode
from pochta.fetch.migrate import migrate_account
from pochta.proto.imap_client import Mailbox
from pochta.store.factory import open_store


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


def _remote(env: ImapEnv, tmp_path: Path, tls: TlsMode) -> RemoteServer:
    ca_file = tmp_path / "ca.pem"
    env.ca.cert_pem.write_to_path(str(ca_file))
    host, port = env.tls if tls is TlsMode.IMPLICIT else env.plain
    return RemoteServer(host, port, tls, str(ca_file), timeout=10)


async def test_client_against_pochta(env: ImapEnv, tmp_path: Path) -> None:
    async with await ImapRemote.connect(_remote(env, tmp_path, TlsMode.IMPLICIT)) as client:
        with pytest.raises(AuthFailed):
            await client.login(ALICE, "not the password")
        await client.login(ALICE, PASSWORD)
        assert {"IMAP4REV2", "ESEARCH", "UTF8=ACCEPT", "CONDSTORE"} <= client.capabilities
    async with await ImapRemote.connect(_remote(env, tmp_path, TlsMode.STARTTLS)) as client:
        await client.login(ALICE, PASSWORD)
        assert {"UTF8=ACCEPT", "CONDSTORE"} <= await client.enable("UTF8=ACCEPT", "CONDSTORE")
        await client.create("Проекты")
        when = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
        for n in range(3):
            await client.append("Проекты", b"Subject: %d\r\n\r\nbody\r\n" % n, ["$Todo"], when)
        folders = {folder.name: folder for folder in await client.folders()}
        assert folders["Sent"].special_use == "\\Sent"
        assert folders["Проекты"].selectable
        state = await client.select("Проекты")
        assert (state.exists, state.uidnext) == (3, 4)
        assert await client.uid_search() == [1, 2, 3]  # an ESEARCH answer
        messages = [m async for m in client.fetch_since(1)]
        assert [(m.uid, m.flags, m.internal_date) for m in messages] == [
            (2, {"$Todo"}, when),
            (3, {"$Todo"}, when),
        ]
        state = await client.select("Проекты", read_only=False)
        assert state.highestmodseq is not None
        await client.uid_store([2], "+", ["\\Answered"])
        changed = await client.fetch_flags(changed_since=state.highestmodseq)
        assert {uid: flags for uid, (flags, _) in changed.items()} == {2: {"$Todo", "\\Answered"}}
        await client.uid_store([1], "+", ["\\Deleted"])
        await client.uid_expunge([1])
        assert await client.uid_search() == [2, 3]


async def test_migrate_from_pochta(env: ImapEnv, tmp_path: Path) -> None:
    remote = _remote(env, tmp_path, TlsMode.STARTTLS)
    when = datetime(2022, 6, 7, 8, 9, 10, tzinfo=UTC)
    async with await ImapRemote.connect(remote) as client:
        # Bob shares a folder with alice (RFC 4314): she sees it in the other users' namespace,
        # but it is not her mail, and a migration of her account leaves it out.
        await client.login(BOB, PASSWORD)
        await client.create("Private")
        await client.append("Private", b"Subject: bob's\r\n\r\nnot alice's\r\n")
        await client.command("SETACL", Mailbox("Private"), ALICE, "lr")
    async with await ImapRemote.connect(remote) as client:
        await client.login(ALICE, PASSWORD)
        assert (await client.namespaces()).other == ("Other Users/",)
        await client.create("Lists/Ünïcode")
        await client.subscribe("Lists/Ünïcode")
        await client.append("Lists/Ünïcode", b"Subject: a\r\n\r\nx\r\n", ["\\Seen", "$List"], when)
        await client.append("Sent", b"Subject: s\r\n\r\ny\r\n", ["\\Seen"], when)
        await client.append("INBOX", b"Subject: i\r\n\r\nz\r\n", ["\\Flagged"], when)
    settings = Settings()
    store = await open_store(tmp_path / "dest", settings)
    try:
        await store.add_domain("example.net")
        carol = await store.add_account("carol@example.net", "hash", None)
        summary = await migrate_account(store, settings, carol, remote, ALICE, PASSWORD)
        assert (summary.copied, summary.flag_updates) == (3, 0)
        assert summary.skipped_folders == [
            f"Other Users/bob@example.org{leaf}: in another user's or a shared namespace"
            for leaf in ("", "/Private")
        ]
        boxes = {box.name: box for box in await store.mailboxes(carol.id)}
        assert boxes["Lists/Ünïcode"].subscribed
        found = {}
        for name in ("INBOX", "Sent", "Lists/Ünïcode"):
            [entry] = list(await store.open_view(boxes[name].id))
            found[name] = (store.read_blob(entry.blob), set(entry.flags), entry.internal_date)
        assert found == {
            "INBOX": (b"Subject: i\r\n\r\nz\r\n", {"\\Flagged"}, when),
            "Sent": (b"Subject: s\r\n\r\ny\r\n", {"\\Seen"}, when),
            "Lists/Ünïcode": (b"Subject: a\r\n\r\nx\r\n", {"\\Seen", "$List"}, when),
        }
        again = await migrate_account(store, settings, carol, remote, ALICE, PASSWORD)
        assert (again.copied, again.unchanged) == (0, 3)
        # --folder-map: a remote folder (and what is below it) goes where it is told.
        dave = await store.add_account("dave@example.net", "hash", None)
        mapped = await migrate_account(
            store, settings, dave, remote, ALICE, PASSWORD, folder_map={"Lists": "Old/Lists"}
        )
        assert mapped.copied == 3
        names = {box.name for box in await store.mailboxes(dave.id)}
        assert {"Old", "Old/Lists", "Old/Lists/Ünïcode"} <= names
        assert "Lists" not in names
    finally:
        await store.close()
