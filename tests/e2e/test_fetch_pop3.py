"""The fetcher against a second pochta's POP3 (tests/pop3_env.py): STARTTLS and implicit TLS with
the remote's test CA, keep and delete modes, no message twice across runs, the normal delivery
(Received field, folder, quota), and the errors a user can act on, told once (docs/fetch.md)."""

from __future__ import annotations

import socket
from pathlib import Path

from fetch_env import LOCAL, fetch_settings, local_side
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.fetch import FetchReport
from pochta.store.fetch_model import FetchAccount
from pop3_env import ADDRESS, PASSWORD, message, pop3_server


def kind(report: FetchReport) -> str | None:
    return report.error.kind if report.error is not None else None


async def _state(side_store: object, account: FetchAccount) -> FetchAccount:
    found = await side_store.fetch_account(account.id)  # type: ignore[attr-defined]
    assert found is not None
    return found  # type: ignore[no-any-return]


async def test_keep_mode_over_starttls_fetches_each_message_once(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as remote:
        for n in range(3):
            await remote.deliver(message(n))
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            account = await local.add(remote.plain[1], ADDRESS, PASSWORD, tls="starttls")
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.deleted, report.known) == (3, 0, 0)
            got = await local.messages()
            assert len(got) == 3
            # The normal delivery: our Received field names the source host and protocol.
            first = got[0].split(b"\r\n", 3)
            assert first[0] == b"Received: from 127.0.0.1 ([127.0.0.1])"
            assert b"with POP3 id" in first[1]
            assert first[2] == f"\tfor <{LOCAL}>;".encode()
            assert got[0].endswith(message(0))  # the body as sent, dot line included
            # Again: nothing new; the copies stay on the remote.
            again = await local.fetcher.run(account)
            assert (again.fetched, again.known) == (0, 3)
            assert len(await remote.uids()) == 3
            await remote.deliver(message(3))
            third = await local.fetcher.run(account)
            assert (third.fetched, third.known) == (1, 3)
            assert len(await local.messages()) == 4
            state = await _state(local.store, account)
            assert (state.last_result, state.last_fetched, state.total_fetched) == ("ok", 1, 4)
            assert state.next_run > state.last_run  # type: ignore[operator]


async def test_delete_mode_over_implicit_tls_into_a_folder(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as remote:
        for n in range(4):
            await remote.deliver(message(n))
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            await local.delivery.ops.create(local.account.id, "Other")
            account = await local.add(
                remote.tls[1], ADDRESS, PASSWORD, tls="implicit", keep=False, folder="Other"
            )
            report = await local.fetcher.run(account)
            assert report.error is None, report.summary()
            assert (report.fetched, report.deleted) == (4, 4)
            assert await remote.uids() == []
            assert len(await local.messages("Other")) == 4
            assert await local.messages() == []
            # The records of messages gone from the remote are dropped by the next listing.
            assert len(await local.store.fetched_keys(account.id)) == 4
            assert (await local.fetcher.run(account)).fetched == 0
            assert await local.store.fetched_keys(account.id) == set()


async def test_quota_full_leaves_the_message_on_the_remote(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as remote:
        await remote.deliver(message(1, size=200))
        await remote.deliver(message(2, size=20000))
        async with local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local:
            await local.store.update_account(LOCAL, quota_bytes=5000)
            account = await local.add(remote.tls[1], ADDRESS, PASSWORD, tls="implicit", keep=False)
            report = await local.fetcher.run(account)
            assert report.error is None
            assert (report.fetched, report.deleted, len(report.left)) == (1, 1, 1)
            assert "452" in report.left[0] or "552" in report.left[0]
            assert len(await remote.uids()) == 1  # not deleted: it waits for room
            state = await _state(local.store, account)
            assert state.last_left == 1


async def test_wrong_password_is_reported_once(tmp_path: Path) -> None:
    async with (
        pop3_server(tmp_path) as remote,
        local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local,
    ):
        account = await local.add(remote.tls[1], ADDRESS, "wrong", tls="implicit")
        for _ in range(3):
            report = await local.fetcher.run(account)
            assert report.error is not None
            assert report.error.kind == "auth"
        notices = await local.messages()
        assert len(notices) == 1  # once, not on every poll
        assert b"Subject: Cannot fetch mail from alice@example.org@127.0.0.1" in notices[0]
        state = await _state(local.store, account)
        assert (state.last_result, state.failures, state.notified) == ("auth", 3, "auth")
        assert "login refused" in state.last_error
        # Backoff: the next run is later than the first interval allows at the least.
        assert state.next_run - state.last_run >= 60 * 2**2 / 2  # type: ignore[operator]


async def test_certificate_and_unreachable_errors(tmp_path: Path) -> None:
    async with (
        pop3_server(tmp_path) as remote,
        local_side(tmp_path, fetch_settings("")) as local,
    ):  # the system store: no test CA
        account = await local.add(remote.tls[1], ADDRESS, PASSWORD, tls="implicit")
        report = await local.fetcher.run(account)
        assert kind(report) == "certificate", report.summary()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        account = await local.add(closed, ADDRESS, PASSWORD, tls="implicit")
        report = await local.fetcher.run(account)
        assert kind(report) == "unreachable", report.summary()
        assert len(await local.messages()) == 2  # one notice each


async def test_a_missing_ca_file_is_a_local_error(tmp_path: Path) -> None:
    async with local_side(tmp_path, fetch_settings(str(tmp_path / "missing.pem"))) as local:
        account = await local.add(995, ADDRESS, PASSWORD, tls="implicit")
        report = await local.fetcher.run(account)
        assert kind(report) == "local"
        assert "fetch.ca_file" in report.summary()
        assert await local.messages() == []  # the administrator's to fix: no notice to the user


async def test_two_runs_of_one_account_never_overlap(tmp_path: Path) -> None:
    async with (
        pop3_server(tmp_path) as remote,
        local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local,
    ):
        account = await local.add(remote.tls[1], ADDRESS, PASSWORD, tls="implicit")
        lock = await local.store.try_lock(f"fetch-{account.id}")
        assert lock is not None
        try:
            report = await local.fetcher.run(account)
            assert report.busy
            assert report.fetched == 0
        finally:
            await lock.release()
        assert not (await local.fetcher.run(account)).busy


async def test_fetched_mail_goes_through_the_accounts_sieve_script(tmp_path: Path) -> None:
    # The normal delivery: the script files one message, discards another (handled: fetched once,
    # deleted on the remote) and keeps the third; the envelope sender is the Return-Path.
    script = (
        'require ["fileinto", "envelope"];\n'
        'if header :contains "subject" "message 1" { fileinto "Sieved"; }\n'
        'elsif header :contains "subject" "message 2" { discard; }\n'
        'elsif envelope "from" "bounce@example.net" { fileinto "Enveloped"; }\n'
    )
    async with (
        pop3_server(tmp_path) as remote,
        local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local,
    ):
        for n in range(3):
            await remote.deliver(message(n))
        await remote.deliver(b"Return-Path: <bounce@example.net>\r\n" + message(3))
        account_id = local.account.id
        for name in ("Sieved", "Enveloped"):
            await local.delivery.ops.create(account_id, name)
        await local.store.put_sieve_script(account_id, "main", script, local.delivery.settings.sieve.quota())
        await local.store.activate_sieve_script(account_id, "main")
        account = await local.add(remote.tls[1], ADDRESS, PASSWORD, tls="implicit", keep=False)
        report = await local.fetcher.run(account)
        assert report.error is None, report.summary()
        assert (report.fetched, report.deleted) == (4, 4)
        inbox, sieved, enveloped = [await local.messages(n) for n in ("INBOX", "Sieved", "Enveloped")]
        assert [b"message 0" in m for m in inbox] == [True]
        assert [b"message 1" in m for m in sieved] == [True]
        assert [b"message 3" in m for m in enveloped] == [True]
        assert await remote.uids() == []


async def test_error_told_again_only_after_a_success(tmp_path: Path) -> None:
    async with (
        pop3_server(tmp_path) as remote,
        local_side(tmp_path, fetch_settings(str(remote.ca_file()))) as local,
    ):
        account = await local.add(remote.tls[1], ADDRESS, "new password", tls="implicit")
        for _ in range(2):
            assert kind(await local.fetcher.run(account)) == "auth"
        assert len(await local.messages()) == 1
        # The remote password becomes the one stored: a success clears the notice ...
        await remote.store.update_account(
            ADDRESS, password_hash=hash_password("new password"), scram=make_scram_credentials("new password")
        )
        assert kind(await local.fetcher.run(account)) is None
        assert (await _state(local.store, account)).notified == ""
        # ... so the next failure is told again.
        await remote.store.update_account(
            ADDRESS, password_hash=hash_password(PASSWORD), scram=make_scram_credentials(PASSWORD)
        )
        assert kind(await local.fetcher.run(account)) == "auth"
        assert len(await local.messages()) == 2
