"""The fetcher of IMAP accounts against Debian's Dovecot (tests/imap_remote_env.py: STARTTLS and
implicit TLS with a trustme certificate given as fetch.ca_file): keep and delete modes, several
folders, mirrored flags, no message twice across runs, a UIDVALIDITY change, and a wrong password
shown by `pochta fetch status` (docs/fetch.md "IMAP accounts")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_env import init_data, ok, run
from dovecot_env import dovecot_missing
from fetch_env import LocalSide, fetch_settings, local_side
from imap_remote_env import REMOTE_PASSWORD, TlsDovecot, fill, sample_messages, tls_dovecot
from pochta.fetch.imap_remote import ImapRemote, TlsMode
from pochta.proto.imap_client import Mailbox
from pochta.store.fetch_model import FetchAccount

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def dovecot() -> Iterator[TlsDovecot]:
    missing = dovecot_missing(("imap",))
    if missing:
        pytest.skip(missing)
    with tls_dovecot() as server:
        yield server


@pytest.fixture
def user(request: pytest.FixtureRequest) -> str:
    """A remote account of the test's own (Dovecot's static passdb takes any name)."""
    return f"{request.node.name.replace('_', '-')}@legacy.example"


async def _add(
    local: LocalSide, dovecot: TlsDovecot, user: str, tls: TlsMode, **options: object
) -> FetchAccount:
    port = dovecot.imaps if tls is TlsMode.IMPLICIT else dovecot.imap
    return await local.add(port, user, REMOTE_PASSWORD, tls=tls.value, protocol="imap", **options)  # type: ignore[arg-type]


async def _remote_uids(dovecot: TlsDovecot, user: str, folder: str) -> list[int]:
    async with await ImapRemote.connect(dovecot.remote()) as client:
        await client.login(user, REMOTE_PASSWORD)
        await client.select(folder)
        return await client.uid_search()


async def test_keep_mode_with_folders_and_mirrored_flags(
    dovecot: TlsDovecot, user: str, tmp_path: Path
) -> None:
    folders = ["INBOX", "Work"]
    samples = sample_messages(folders, 6)
    await fill(dovecot.remote(), folders, samples, user=user)
    async with local_side(tmp_path, fetch_settings(str(dovecot.ca_file))) as local:
        account = await _add(
            local, dovecot, user, TlsMode.STARTTLS, imap_folders="INBOX,Work", mirror_flags=True
        )
        report = await local.fetcher.run(account)
        assert report.error is None, report.summary()
        assert (report.fetched, report.deleted) == (12, 0)
        # INBOX into INBOX, Work into a Work made here.
        got = await local.messages() + await local.messages("Work")
        flags = await local.flags() + await local.flags("Work")
        assert len(got) == 12
        for sample, data, kept in zip(samples, got, flags, strict=True):
            assert data.endswith(sample.data)
            assert b"with IMAP id" in data.split(b"\r\n\r\n", 1)[0]
            assert kept == sample.flags - {"\\Deleted"}
        # BODY.PEEK[] on EXAMINE: the unseen stay unseen there.
        async with await ImapRemote.connect(dovecot.remote()) as client:
            await client.login(user, REMOTE_PASSWORD)
            await client.select("INBOX")
            remote_flags = await client.fetch_flags()
            inbox = [s for s in samples if s.folder == "INBOX"]
            assert [remote_flags[uid][0] for uid in sorted(remote_flags)] == [s.flags for s in inbox]
        again = await local.fetcher.run(account)
        assert (again.fetched, again.known) == (0, 12)
        await fill(dovecot.remote(), [], sample_messages(["Work"], 7)[6:], user=user)
        third = await local.fetcher.run(account)
        assert (third.fetched, third.known) == (1, 12)
        assert len(await local.messages("Work")) == 7


async def test_delete_mode_over_implicit_tls(dovecot: TlsDovecot, user: str, tmp_path: Path) -> None:
    folders = ["INBOX", "Lists.python"]
    await fill(dovecot.remote(), folders, sample_messages(folders, 5), user=user)
    async with local_side(tmp_path, fetch_settings(str(dovecot.ca_file))) as local:
        await local.delivery.ops.create(local.account.id, "Remote")
        account = await _add(
            local,
            dovecot,
            user,
            TlsMode.IMPLICIT,
            keep=False,
            folder="Remote",
            imap_folders="INBOX,Lists.python",
        )
        report = await local.fetcher.run(account)
        assert report.error is None, report.summary()
        assert (report.fetched, report.deleted) == (10, 10)
        assert len(await local.messages("Remote")) == 5
        assert len(await local.messages("Remote/Lists/python")) == 5  # Dovecot's "." is our "/"
        assert await _remote_uids(dovecot, user, "INBOX") == []
        assert await _remote_uids(dovecot, user, "Lists.python") == []
        assert (await local.fetcher.run(account)).fetched == 0
        assert await local.store.fetched_keys(account.id) == set()


async def test_uidvalidity_change(dovecot: TlsDovecot, user: str, tmp_path: Path) -> None:
    samples = sample_messages(["Work"], 4)
    await fill(dovecot.remote(), ["Work"], samples[:3], user=user)
    async with local_side(tmp_path, fetch_settings(str(dovecot.ca_file))) as local:
        account = await _add(local, dovecot, user, TlsMode.STARTTLS, imap_folders="Work")
        assert (await local.fetcher.run(account)).fetched == 3
        async with await ImapRemote.connect(dovecot.remote()) as client:
            await client.login(user, REMOTE_PASSWORD)
            before = (await client.select("Work")).uidvalidity
            await client.select("INBOX")
            await client.command("DELETE", Mailbox("Work"))
            await asyncio.sleep(1.1)  # Dovecot's UIDVALIDITY is a time in seconds
        await fill(dovecot.remote(), ["Work"], samples, user=user)
        async with await ImapRemote.connect(dovecot.remote()) as client:
            await client.login(user, REMOTE_PASSWORD)
            assert (await client.select("Work")).uidvalidity != before
        report = await local.fetcher.run(account)
        assert report.error is None, report.summary()
        assert (report.fetched, report.known) == (1, 3)
        got = await local.messages("Work")
        assert len(got) == 4
        assert got[3].endswith(samples[3].data)


def test_wrong_password_in_fetch_status(dovecot: TlsDovecot, user: str, tmp_path: Path) -> None:
    data = init_data(tmp_path / "local")
    config = data / "pochta.toml"
    config.write_text(config.read_text() + f'\n[fetch]\nca_file = "{dovecot.ca_file}"\n')
    ok(run("user", "add", "carol@example.org", "--password-stdin", data=data, stdin="local password 1\n"))
    added = ok(
        run(
            "fetch", "add", "carol@example.org", "--imap", f"127.0.0.1:{dovecot.imaps}", "--login", user,
            "--password-stdin", data=data, stdin="not the password\n",
        )
    )  # fmt: skip
    assert f"imap://{user}@127.0.0.1:{dovecot.imaps} (tls implicit, keep) into INBOX from INBOX" in added
    failed = run("fetch", "run", "carol@example.org", data=data)
    assert failed.returncode == 1
    assert "failed (auth)" in failed.stdout
    status = ok(run("fetch", "status", "carol@example.org", data=data))
    assert " auth " in status
    assert "AUTHENTICATE: NO" in status


async def test_delete_mode_without_uidplus(user: str, tmp_path: Path) -> None:
    # Dovecot told to advertise IMAP4rev1 without UIDPLUS: the deletions end with a plain EXPUNGE.
    if dovecot_missing(("imap",)):
        pytest.skip(dovecot_missing(("imap",)))
    with tls_dovecot("imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE\n") as plain:
        await fill(plain.remote(), ["INBOX"], sample_messages(["INBOX"], 3), user=user)
        async with local_side(tmp_path, fetch_settings(str(plain.ca_file))) as local:
            account = await _add(local, plain, user, TlsMode.STARTTLS, keep=False)
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.deleted) == (3, 3)
            async with await ImapRemote.connect(plain.remote()) as client:
                await client.login(user, REMOTE_PASSWORD)
                assert "UIDPLUS" not in client.capabilities
                assert (await client.select("INBOX")).exists == 0
