"""The fetcher's pure rules: password encryption, what `pochta fetch add` accepts, the backoff, the
[fetch] settings and the error notice (docs/fetch.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from pochta.config import Settings
from pochta.fetch.accounts import (
    AccountRequest,
    InvalidRequest,
    add_external_account,
    default_port,
    parse_host_port,
)
from pochta.fetch.fetcher import backoff_delay, error_notice
from pochta.fetch.imap_keys import ImapOptions
from pochta.fetch.remote import FetchError
from pochta.fetch.secrets import SecretError, decrypt_password, encrypt_password
from pochta.store.fetch_model import FetchAccount
from pochta.store.model import AccountId
from pochta.store.sqlite.store import open_sqlite_store


def test_password_round_trip_bound_to_secret_and_account() -> None:
    secret = b"k" * 32
    stored = encrypt_password(secret, 7, "pässword with spaces")
    assert stored.startswith("v1:")
    assert "pässword" not in stored
    assert encrypt_password(secret, 7, "pässword with spaces") != stored  # a fresh nonce each time
    assert decrypt_password(secret, 7, stored) == "pässword with spaces"
    with pytest.raises(SecretError):
        decrypt_password(b"j" * 32, 7, stored)  # another server secret
    with pytest.raises(SecretError):
        decrypt_password(secret, 8, stored)  # copied to another account's row
    with pytest.raises(SecretError):
        decrypt_password(secret, 7, stored[:-4] + "AAAA")  # tampered with
    with pytest.raises(SecretError):
        decrypt_password(secret, 7, "plain text")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pop.example.net", ("pop.example.net", None)),
        ("POP.Example.NET:1995", ("pop.example.net", 1995)),
        ("127.0.0.1:110", ("127.0.0.1", 110)),
        ("[::1]:995", ("::1", 995)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
        ("2001:db8::1", ("2001:db8::1", None)),
    ],
)
def test_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:65536", "host:x", "user@host", "a b", "[::1]x"])
def test_host_port_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_host_port(text)


def test_default_ports() -> None:
    assert default_port("pop3", "implicit") == 995
    assert default_port("pop3", "starttls") == 110
    assert default_port("pop3", "none") == 110


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    rnd = random.Random(1)
    for failures, full in [(1, 60), (2, 120), (3, 240), (7, 3600), (200, 3600)]:
        delays = [backoff_delay(failures, 60, 3600, rnd) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # spread, not one instant


def test_fetch_settings_defaults_and_limits() -> None:
    fetch = Settings().fetch
    assert (fetch.poll_interval, fetch.max_parallel, fetch.enabled) == (300.0, 4, True)
    assert fetch.backoff_initial <= fetch.backoff_max
    with pytest.raises(ValidationError, match="backoff_max"):
        Settings.model_validate({"fetch": {"backoff_initial": 600, "backoff_max": 60}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"fetch": {"poll_interval": 1}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"fetch": {"max_parallel": 0}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"fetch": {"unknown": 1}})


def test_error_notice_names_the_source_and_never_the_password() -> None:
    account = FetchAccount(AccountId(3), "pop3", "pop.example.net", 995, "implicit", "al", "v1:SECRET", id=9)
    data = error_notice(
        account, "a@example.org", FetchError("auth", "login refused: [AUTH] no"), "mx.example.org"
    )
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Subject: Cannot fetch mail from al@pop.example.net" in head
    assert b"Auto-Submitted: auto-generated" in head
    assert b"login refused: [AUTH] no" in body
    assert b"pochta fetch del" in body
    assert b"SECRET" not in data


async def test_add_external_account_refusals(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path, Settings(), indexer=False)
    try:
        await store.add_domain("example.org")
        account = await store.add_account("a@example.org", "$argon2id$not-a-real-hash", None)
        refusals = {
            AccountRequest("imap", "imap.example.net", "l", "p", imap_folders="INBOX,,Work"): "empty folder",
            AccountRequest("pop3", "pop.example.net", "l", "p", imap_folders="Work"): "for IMAP accounts",
            AccountRequest("pop3", "pop.example.net", "l", "p", mirror_flags=True): "for IMAP accounts",
            AccountRequest("pop3", "pop.example.net:99999", "l", "p"): "not a port number",
            AccountRequest("pop3", "pop.example.net", "l", "p", "none"): "loopback address only",
            AccountRequest("pop3", "192.0.2.1", "l", "p", "none"): "loopback address only",
            AccountRequest("pop3", "h", "l\r\nDELE 1", "p"): "one line",
            AccountRequest("pop3", "h", "", "p"): "one line",
        }
        for request, reason in refusals.items():
            with pytest.raises(InvalidRequest, match=reason):
                await add_external_account(store, account, request, b"k" * 32)
        for server in ("127.0.0.1", "[::1]", "localhost"):
            added = await add_external_account(
                store, account, AccountRequest("pop3", server, "l", "p", "none", False), b"k" * 32
            )
            assert (added.port, added.tls, added.keep) == (110, "none", False)
        assert await store.fetch_accounts(AccountId(999)) == []
        imap = await add_external_account(
            store,
            account,
            AccountRequest(
                "imap", "imap.example.net", "l", "p", imap_folders="inbox, Work,Work", mirror_flags=True
            ),
            b"k" * 32,
        )
        assert (imap.protocol, imap.port, imap.tls) == ("imap", 993, "implicit")
        assert ImapOptions.from_json(imap.options) == ImapOptions(("INBOX", "Work"), True)
        assert len(await store.fetch_accounts(account.id)) == 4
    finally:
        await store.close()
