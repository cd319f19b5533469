"""The one SASL driver (server/sasl_driver.py) over a real store and authenticator: every mechanism,
SCRAM's final as a challenge or with the verdict, failures, cancel, and the account mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pochta.auth.authenticator import Authenticator, AuthFailed, AuthFailure, AuthOk
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LoginSettings, Settings
from pochta.log import get_logger
from pochta.proto.sasl import CANCEL, Cancel, ClientMechanism, Malformed
from pochta.server.sasl_driver import Aborted, SaslExchange, SendChallenge, Verdict, drive
from pochta.store.api import Store
from pochta.store.sqlite.store import open_sqlite_store

ALICE = "alice@example.org"
PASSWORD = "secret-1"
# Lockout after two failures: a test sees a failure counted by the login that it blocks next.
LOGIN = LoginSettings(failures_before_delay=100, lockout_after=2, delay_base=0.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_sqlite_store(tmp_path, Settings())
    await store.add_domain("example.org")
    await store.add_account(ALICE, hash_password(PASSWORD), make_scram_credentials(PASSWORD))
    try:
        yield store
    finally:
        await store.close()


def exchange(
    store: Store,
    *,
    authenticator: Authenticator | None = None,
    final_with_success: bool = False,
    account_of: Callable[[str], str] = str,
) -> SaslExchange:
    return SaslExchange(
        authenticator or Authenticator(store, LOGIN),
        protocol="managesieve",
        remote_ip="192.0.2.1",
        log=get_logger(),
        scram_secret=b"k" * 32,
        final_with_success=final_with_success,
        account_of=account_of,
    )


async def test_plain_with_initial_response(store: Store) -> None:
    out = await exchange(store).start("PLAIN", f"\0{ALICE}\0{PASSWORD}".encode())
    assert isinstance(out, Verdict)
    assert isinstance(out.result, AuthOk)
    assert out.authcid == ALICE


async def test_login_driven_by_challenges(store: Store) -> None:
    answers = iter([ALICE.encode(), PASSWORD.encode()])
    challenges: list[bytes] = []

    async def challenge(data: bytes) -> bytes:
        challenges.append(data)
        return next(answers)

    out = await drive(exchange(store), "LOGIN", None, challenge)
    assert challenges == [b"Username:", b"Password:"]
    assert isinstance(out, Verdict)
    assert isinstance(out.result, AuthOk)


@pytest.mark.parametrize("with_success", [False, True])
async def test_scram_final_as_challenge_or_with_the_verdict(store: Store, with_success: bool) -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", ALICE, PASSWORD)
    sasl = exchange(store, final_with_success=with_success)
    out = await sasl.start("SCRAM-SHA-256", client.initial_response())
    assert isinstance(out, SendChallenge)
    out = await sasl.respond(client.respond(out.data))
    if with_success:
        assert isinstance(out, Verdict)
        assert out.server_final is not None
        client.finish(out.server_final)
    else:
        assert isinstance(out, SendChallenge)  # the server-final, answered by an empty response
        client.finish(out.data)
        assert sasl.active
        out = await sasl.respond(b"")
        assert isinstance(out, Verdict)
        assert out.server_final is None
    assert isinstance(out.result, AuthOk)
    assert not sasl.active


async def test_a_wrong_scram_proof_fails_and_counts(store: Store) -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", ALICE, "wrong")
    sasl = exchange(store)
    out = await sasl.start("SCRAM-SHA-256", client.initial_response())
    assert isinstance(out, SendChallenge)
    out = await sasl.respond(client.respond(out.data))
    assert isinstance(out, Verdict)
    assert isinstance(out.result, AuthFailed)
    assert out.authcid == ALICE
    # A second failure (``fail``) locks the address out: even the right password is refused now.
    failed = await sasl.fail()
    assert isinstance(failed.result, AuthFailed)
    again = await exchange(store, authenticator=sasl.authenticator).start(
        "PLAIN", f"\0{ALICE}\0{PASSWORD}".encode()
    )
    assert isinstance(again, Verdict)
    assert again.result == AuthFailed(AuthFailure.LOCKED_OUT)


async def test_cancel_and_malformed_abort_and_count_as_failures(store: Store) -> None:
    authenticator = Authenticator(store, LOGIN)

    def new() -> SaslExchange:
        return exchange(store, authenticator=authenticator)

    async def cancel(data: bytes) -> bytes | Cancel | Malformed:
        return CANCEL

    async def garbage(data: bytes) -> bytes | Cancel | Malformed:
        return Malformed("invalid base64")

    client = ClientMechanism.start("SCRAM-SHA-256", ALICE, PASSWORD)
    sasl = new()
    out = await sasl.start("SCRAM-SHA-256", client.initial_response())
    assert isinstance(out, SendChallenge)
    aborted = sasl.abort(CANCEL)
    assert aborted == Aborted(CANCEL, ALICE)
    assert not sasl.active
    assert await drive(new(), "LOGIN", None, garbage) == Aborted(Malformed("invalid base64"), "")
    # Two failures from this address (the second one of no account yet): locked out.
    locked = await drive(new(), "PLAIN", f"\0{ALICE}\0{PASSWORD}".encode(), cancel)
    assert isinstance(locked, Verdict)
    assert locked.result == AuthFailed(AuthFailure.LOCKED_OUT)


async def test_account_of_maps_the_login_name(store: Store) -> None:
    sasl = exchange(store, account_of=lambda name: name.removeprefix("recent:"))
    out = await sasl.start("PLAIN", f"\0recent:{ALICE}\0{PASSWORD}".encode())
    assert isinstance(out, Verdict)
    assert isinstance(out.result, AuthOk)
    assert out.authcid == f"recent:{ALICE}"  # the caller sees what the client sent
