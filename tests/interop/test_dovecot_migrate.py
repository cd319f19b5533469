"""Our IMAP client (pochta.fetch.imap_remote) and `pochta migrate` against Debian's Dovecot
(tests/imap_remote_env.py): STARTTLS and implicit TLS verified against a trustme CA, every
command the migration uses, and migrations compared message by message (bytes, flags,
keywords, internal dates), rerun, changed on the remote, with a new UIDVALIDITY, and killed."""

from __future__ import annotations

import asyncio
import imaplib
import random
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_env import ServerProcess, init_data, ok, run
from dovecot_env import dovecot_missing
from imap_remote_env import (
    LOCAL_USER,
    REMOTE_PASSWORD,
    REMOTE_USER,
    SPECIAL_USE_NAMESPACE,
    LocalMessage,
    Sample,
    TlsDovecot,
    fill,
    local_mailboxes,
    local_messages,
    migrate,
    migrate_args,
    sample_messages,
    summary_value,
    tls_dovecot,
)
from pochta.fetch.imap_remote import AuthFailed, ImapRemote, RemoteError, RemoteServer, TlsMode
from serve_process import POCHTA, pochta_env

pytestmark = pytest.mark.interop


def _need_dovecot() -> None:
    missing = dovecot_missing(("imap",))
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[TlsDovecot]:
    _need_dovecot()
    with tls_dovecot(SPECIAL_USE_NAMESPACE) as server:
        yield server


@pytest.fixture
def user(request: pytest.FixtureRequest) -> str:
    """A remote account of the test's own (Dovecot's static passdb takes any name)."""
    return f"{request.node.name.replace('_', '-')}@legacy.example"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = init_data(tmp_path / "data")
    ok(run("user", "add", LOCAL_USER, "--password-stdin", data=path, stdin="local password 123\n"))
    return path


async def test_client_commands(dovecot: TlsDovecot, user: str) -> None:
    for mode in (TlsMode.STARTTLS, TlsMode.IMPLICIT):
        client = await ImapRemote.connect(dovecot.remote(mode))
        async with client:
            with pytest.raises(AuthFailed, match="AUTHENTICATE: NO"):
                await client.login(user, "wrong")
            await client.login(user, REMOTE_PASSWORD)
            assert {"CONDSTORE", "SPECIAL-USE", "LIST-EXTENDED", "UIDPLUS"} <= client.capabilities
    # The system CAs do not know the trustme CA: refused before any login.
    with pytest.raises(RemoteError, match="CERTIFICATE_VERIFY_FAILED"):
        await ImapRemote.connect(RemoteServer("127.0.0.1", dovecot.imaps, TlsMode.IMPLICIT))

    async with await ImapRemote.connect(dovecot.remote(max_literal=3500, batch_messages=2)) as client:
        await client.login(user, REMOTE_PASSWORD)
        assert (await client.id())["name"] == "Dovecot"
        assert "CONDSTORE" in await client.enable("CONDSTORE")
        await client.create("Projekte/Büro")
        await client.subscribe("Projekte/Büro")
        when = datetime(2020, 2, 29, 23, 59, 58, tzinfo=UTC)
        bodies = [b"Subject: %d\r\n\r\n" % n + b"x" * (1000 * n) + b"\r\n" for n in range(1, 6)]
        uids = [await client.append("Projekte/Büro", body, ["$Work", "\\Flagged"], when) for body in bodies]
        assert uids == [1, 2, 3, 4, 5]  # RFC 4315 APPENDUID
        folders = {folder.name: folder for folder in await client.folders()}
        assert folders["Sent Items"].special_use == "\\Sent"
        assert folders["Projekte/Büro"].subscribed
        assert folders["Projekte/Büro"].parts == ["Projekte", "Büro"]
        state = await client.select("Projekte/Büro")
        assert (state.exists, state.uidnext, state.read_only) == (5, 6, True)
        assert state.highestmodseq is not None
        assert await client.uid_search() == uids
        assert await client.uid_search(b"LARGER 2500") == [3, 4, 5]
        skipped: list[int] = []
        fetched = [m async for m in client.fetch_since(1, too_large=lambda uid, size: skipped.append(uid))]
        assert [m.uid for m in fetched] == [2, 3]  # 4 and 5 are larger than max_literal
        assert skipped == [4, 5]
        assert fetched[0].data == bodies[1]
        assert fetched[0].flags == {"$Work", "\\Flagged"}  # BODY.PEEK[]: \Seen not set
        assert fetched[0].internal_date == when
        # Writes: SELECT, UID STORE, then CHANGEDSINCE sees only what changed.
        state = await client.select("Projekte/Büro", read_only=False)
        await client.uid_store([2], "+", ["\\Seen"])
        changed = await client.fetch_flags(changed_since=state.highestmodseq)
        assert {uid: flags for uid, (flags, _) in changed.items()} == {2: {"$Work", "\\Flagged", "\\Seen"}}
        await client.uid_store([1, 3], "", ["\\Deleted"])
        await client.uid_expunge([1])
        assert await client.uid_search() == [2, 3, 4, 5]


def _expected(samples: list[Sample], local_names: dict[str, str]) -> dict[str, list[LocalMessage]]:
    expected: dict[str, list[LocalMessage]] = {}
    for sample in samples:
        expected.setdefault(local_names[sample.folder], []).append(
            LocalMessage(sample.data, sample.flags, sample.date)
        )
    return expected


def _only(found: dict[str, list[LocalMessage]], names: set[str]) -> dict[str, list[LocalMessage]]:
    return {name: messages for name, messages in found.items() if name in names}


async def test_migrate_end_to_end(dovecot: TlsDovecot, data: Path, user: str) -> None:
    remote = dovecot.remote(TlsMode.STARTTLS)
    folders = [
        "INBOX",
        "Sent Items",
        "Brouillons",
        "Rubbish",
        "Old",
        "Lists",
        "Lists/python",
        "Lists/python/dev",
    ]
    samples = sample_messages(folders, 4)
    await fill(remote, folders, samples, user=user)
    local_names = {
        "INBOX": "INBOX",
        "Sent Items": "Sent",
        "Brouillons": "Drafts",
        "Rubbish": "Trash",
        "Old": "Archive",
        "Lists": "Lists",
        "Lists/python": "Lists/python",
        "Lists/python/dev": "Lists/python/dev",
    }
    output = migrate(data, remote, user=user)
    assert summary_value(output, "messages copied") == len(samples)
    expected = _expected(samples, local_names)
    found = await local_messages(data)
    assert _only(found, set(expected)) == expected
    boxes = await local_mailboxes(data)
    assert boxes["Sent"] == ("\\Sent", True)
    assert boxes["Lists/python/dev"] == (None, True)
    assert "Sent Items" not in boxes  # mapped onto our \Sent, not made beside it

    # Rerun: nothing moves.
    output = migrate(data, remote, user=user)
    assert summary_value(output, "messages copied") == 0
    assert summary_value(output, "flag updates") == 0
    assert summary_value(output, "messages already here") == len(samples)
    assert await local_messages(data) == found

    # A change on the remote moves only it: a new message and a flag change (another client).
    extra = Sample(
        "Lists/python", b"Subject: new\r\n\r\nlate arrival\r\n", frozenset({"$New"}), samples[0].date
    )
    await fill(remote, [], [extra], subscribe=False, user=user)
    imap = imaplib.IMAP4("127.0.0.1", dovecot.imap)
    try:
        imap.starttls(ssl_context=__import__("ssl").create_default_context(cafile=str(dovecot.ca_file)))
        imap.login(user, REMOTE_PASSWORD)
        imap.select("INBOX")
        assert imap.uid("STORE", "1", "+FLAGS", "(\\Flagged $Changed)")[0] == "OK"
    finally:
        imap.logout()
    output = migrate(data, remote, user=user)
    assert summary_value(output, "messages copied") == 1
    assert summary_value(output, "flag updates") == 1
    after = await local_messages(data)
    assert after["Lists/python"][-1] == LocalMessage(extra.data, extra.flags, extra.date)
    assert after["INBOX"][0].flags == samples[0].flags | {"\\Flagged", "$Changed"}
    assert after["INBOX"][1:] == found["INBOX"][1:]


async def test_new_uidvalidity_copies_nothing_twice(dovecot: TlsDovecot, data: Path, user: str) -> None:
    # The remote folder is deleted and made again with the same messages and one more: a new
    # UIDVALIDITY. Messages already here are matched by their bytes, the new one is copied.
    remote = dovecot.remote(TlsMode.IMPLICIT)
    samples = sample_messages(["Work"], 5)
    await fill(remote, ["Work"], samples, user=user)
    migrate(data, remote, user=user)
    async with await ImapRemote.connect(remote) as client:
        await client.login(user, REMOTE_PASSWORD)
        await client.command("DELETE", "Work")
    newer = Sample("Work", b"Subject: newer\r\n\r\nx\r\n", frozenset({"\\Seen"}), samples[0].date)
    await fill(remote, ["Work"], [*samples, newer], user=user)
    output = migrate(data, remote, user=user)
    assert "UIDVALIDITY changed" in output
    assert summary_value(output, "messages copied") == 1
    found = await local_messages(data)
    assert [message.data for message in found["Work"]] == [s.data for s in samples] + [newer.data]


async def _kill_during_migration(data: Path, remote: RemoteServer, user: str, delay: float) -> None:
    """Starts `pochta migrate` and SIGKILLs it ``delay`` seconds after it says its first folder is
    done, while it copies the next ones."""
    process = await asyncio.create_subprocess_exec(
        *POCHTA,
        *migrate_args(data, remote, user=user),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=pochta_env(),
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write((REMOTE_PASSWORD + "\n").encode())
    await process.stdin.drain()
    process.stdin.close()
    async with asyncio.timeout(60):
        first = await process.stdout.readline()
    assert b" -> " in first, first
    await asyncio.sleep(delay)
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    async with asyncio.timeout(30):
        await process.communicate()


async def _each_message_once(data: Path, remote: RemoteServer, user: str, samples: list[Sample]) -> None:
    """A last run finishes the job: every message exactly once, with its flags and date."""
    output = migrate(data, remote, user=user)
    found = await local_messages(data)
    for name in {sample.folder for sample in samples}:
        got = sorted(found[name], key=lambda message: message.data)
        want = [LocalMessage(s.data, s.flags, s.date) for s in samples if s.folder == name]
        assert got == sorted(want, key=lambda message: message.data), name
    done = summary_value(output, "messages copied") + summary_value(output, "messages already here")
    assert done == len(samples)


async def test_sigkill_then_rerun_copies_each_message_once(
    dovecot: TlsDovecot, data: Path, user: str
) -> None:
    remote = dovecot.remote(TlsMode.STARTTLS, batch_messages=20)
    folders = ["INBOX", "Lists", "Lists/a"]
    samples = sample_messages(folders, 80, size=2000)
    await fill(remote, folders, samples, user=user)
    rng = random.Random()
    for _ in range(2):
        # Each folder is 80 messages placed in batches of 20: a kill lands inside one.
        await _kill_during_migration(data, remote, user, rng.uniform(0, 0.3))
    await _each_message_once(data, remote, user, samples)


@pytest.mark.slow
async def test_many_sigkills_during_a_long_migration(dovecot: TlsDovecot, data: Path, user: str) -> None:
    remote = dovecot.remote(TlsMode.STARTTLS, batch_messages=25)
    folders = ["INBOX", "Archive", "Archive/2020", "Archive/2021", "Lists/python"]
    samples = sample_messages(folders, 400, size=3000)
    await fill(remote, folders, samples, user=user)
    rng = random.Random()
    for _ in range(15):
        await _kill_during_migration(data, remote, user, rng.uniform(0, 1.5))
    await _each_message_once(data, remote, user, samples)


async def test_migrate_while_the_server_runs(dovecot: TlsDovecot, data: Path, user: str) -> None:
    remote = dovecot.remote(TlsMode.STARTTLS)
    samples = sample_messages(["INBOX", "Lists"], 6)
    await fill(remote, ["INBOX", "Lists"], samples, user=user)
    with ServerProcess(data) as server:
        host, port = server.wait_listening()["imap"]
        imap = imaplib.IMAP4(host, port)
        try:
            imap.login(LOCAL_USER, "local password 123")
            assert imap.select("INBOX")[1] == [b"0"]
            output = await asyncio.to_thread(migrate, data, remote, user=user)
            assert summary_value(output, "messages copied") == 12
            imap.unselect()  # not CLOSE: it would expunge the migrated message marked \Deleted
            assert imap.select("INBOX")[1] == [b"6"]
            assert imap.select("Lists")[1] == [b"6"]
            status, fetched = imap.uid("FETCH", "1", "(BODY.PEEK[])")
            assert status == "OK"
            assert fetched[0][1] == samples[6].data  # the first of Lists
        finally:
            imap.logout()


async def test_flags_compared_without_condstore(data: Path) -> None:
    # A server without CONDSTORE (Dovecot told to advertise an IMAP4rev1 list without it, nor
    # SPECIAL-USE): the rerun reads every copied message's flags and compares them with those last
    # copied; the Sent folder is found by its name.
    _need_dovecot()
    plain = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS\n"
    with tls_dovecot(plain) as server:
        remote = server.remote(TlsMode.IMPLICIT)
        samples = sample_messages(["INBOX", "Sent Messages"], 3)
        await fill(remote, ["INBOX", "Sent Messages"], samples)
        migrate(data, remote)
        async with await ImapRemote.connect(remote) as client:
            await client.login(REMOTE_USER, REMOTE_PASSWORD)
            assert "CONDSTORE" not in client.capabilities
            await client.select("Sent Messages", read_only=False)
            await client.uid_store([2], "", ["\\Answered", "Other"])
        output = migrate(data, remote)
    assert summary_value(output, "flag updates") == 1
    found = await local_messages(data)
    assert [message.flags for message in found["Sent"]] == [
        samples[3].flags,
        frozenset({"\\Answered", "Other"}),
        samples[5].flags,
    ]
