"""The login decision over an in-memory fake of the Directory methods it uses."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher

from pochta.auth import authenticator as authenticator_module
from pochta.auth import passwords
from pochta.auth.authenticator import (
    Authenticator,
    AuthFailed,
    AuthFailure,
    AuthOk,
    LoginProtocol,
    plaintext_allowed,
)
from pochta.config import LoginSettings
from pochta.proto.sasl import ClientMechanism, NeedScramCredentials, ServerMechanism, Success
from pochta.store.api import StoreError
from pochta.store.model import Account, AppPassword, Domain, ProtocolSwitches, ScramCredentials

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PASSWORD_HASH = passwords.hash_password("right password")
APP_HASH = passwords.hash_password("app-secret-1")
SCRAM = passwords.make_scram_credentials("right password")
SETTINGS = LoginSettings(
    failures_before_delay=2,
    delay_base=0.5,
    delay_max=8.0,
    lockout_after=4,
    lockout_seconds=60.0,
    failure_window=600.0,
)


class FakeDirectory:
    """Just the Directory methods the Authenticator calls."""

    def __init__(self) -> None:
        self.domains: dict[str, Domain] = {}
        self.accounts: dict[str, Account] = {}
        self.app_passwords: dict[str, list[AppPassword]] = {}
        self.touched: list[tuple[int, datetime]] = []
        self.updates: list[tuple[str, dict[str, object]]] = []
        self.fail_writes = False

    def add(self, address: str, password_hash: str = PASSWORD_HASH, **fields: object) -> Account:
        domain = address.rpartition("@")[2].lower()
        if domain not in self.domains:
            self.domains[domain] = Domain(len(self.domains) + 1, domain, ProtocolSwitches(), T0)
        account = Account(
            id=len(self.accounts) + 1,
            address=address,
            domain_id=self.domains[domain].id,
            password_hash=password_hash,
            scram=SCRAM,
            quota_bytes=None,
            protocols=ProtocolSwitches(),
            apop_secret=None,
            enabled=True,
            created=T0,
        )
        account = replace(account, **fields)  # type: ignore[arg-type]
        self.accounts[address.lower()] = account
        return account

    async def get_account(self, address: str) -> Account | None:
        if "@" not in address:
            raise ValueError(f"not an address: {address!r}")  # as the SQLite store does
        return self.accounts.get(address.lower())

    async def get_domain(self, name: str) -> Domain | None:
        return self.domains.get(name)

    async def list_app_passwords(self, address: str) -> list[AppPassword]:
        return list(self.app_passwords.get(address.lower(), []))

    async def touch_app_password(self, app_password_id: int, when: datetime) -> None:
        if self.fail_writes:
            raise StoreError("disk full")
        self.touched.append((app_password_id, when))

    async def update_account(self, address: str, **fields: object) -> Account:
        if self.fail_writes:
            raise StoreError("disk full")
        self.updates.append((address, fields))
        account = replace(self.accounts[address.lower()], **fields)  # type: ignore[arg-type]
        self.accounts[address.lower()] = account
        return account


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self) -> None:
        self.directory = FakeDirectory()
        self.clock = FakeClock()
        self.slept: list[float] = []
        self.auth = Authenticator(
            self.directory,  # type: ignore[arg-type]
            SETTINGS,
            self.clock,
            sleep=self._sleep,
            now=lambda: T0,
        )
        self.tim = self.directory.add("tim@example.com")

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def login(
        self,
        password: str,
        address: str = "tim@example.com",
        protocol: LoginProtocol = "imap",
        ip: str = "192.0.2.7",
    ) -> AuthOk | AuthFailed:
        return await self.auth.check_password(address, password, protocol=protocol, remote_ip=ip)


@pytest.fixture
def h() -> Harness:
    return Harness()


def failed(reason: AuthFailure) -> AuthFailed:
    return AuthFailed(reason)


async def test_right_password(h: Harness) -> None:
    assert await h.login("right password") == AuthOk(h.tim)
    assert await h.login("right password", address="TIM@Example.COM") == AuthOk(h.tim)


async def test_wrong_password(h: Harness) -> None:
    assert await h.login("wrong") == failed(AuthFailure.BAD_CREDENTIALS)


async def test_unknown_address_verifies_the_dummy_hash(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = passwords.verify_dummy

    def spy(password: str) -> None:
        calls.append(password)
        real(password)

    monkeypatch.setattr(passwords, "verify_dummy", spy)
    assert await h.login("whatever", address="nobody@example.com") == failed(AuthFailure.BAD_CREDENTIALS)
    assert calls == ["whatever"]


@pytest.mark.parametrize("name", ["tim", "", "@", "tim@\udcff"])
async def test_names_that_are_not_addresses_fail_like_unknown_ones(
    h: Harness, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(passwords, "verify_dummy", calls.append)
    assert await h.login("right password", address=name) == failed(AuthFailure.BAD_CREDENTIALS)
    assert calls == ["right password"]
    assert await h.auth.scram_credentials(name) is None


async def test_verification_runs_off_the_event_loop(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = passwords.verify_password

    def spy(encoded: str, password: str) -> passwords.Verification:
        threads.append(threading.current_thread())
        return real(encoded, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    await h.login("right password")
    await h.login("wrong", address="nobody@example.com")
    assert threads
    assert threading.main_thread() not in threads


async def test_app_password(h: Harness) -> None:
    h.directory.app_passwords["tim@example.com"] = [
        AppPassword(7, h.tim.id, "old phone", passwords.hash_password("app-secret-0"), T0, None),
        AppPassword(8, h.tim.id, "laptop", APP_HASH, T0, None),
    ]
    assert await h.login("app-secret-1") == AuthOk(h.tim, app_password="laptop")
    assert h.directory.touched == [(8, T0)]
    assert await h.login("app-secret-2") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("right password") == AuthOk(h.tim)
    assert h.directory.touched == [(8, T0)]


async def test_store_errors_in_book_keeping_do_not_fail_the_login(h: Harness) -> None:
    h.directory.app_passwords["tim@example.com"] = [AppPassword(8, h.tim.id, "laptop", APP_HASH, T0, None)]
    h.directory.fail_writes = True
    assert await h.login("app-secret-1") == AuthOk(h.tim, app_password="laptop")


async def test_old_hash_is_replaced_on_login(h: Harness) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("legacy")
    account = h.directory.add("old@example.com", password_hash=old)
    assert await h.login("legacy", address="old@example.com") == AuthOk(account)
    [(address, fields)] = h.directory.updates
    assert address == "old@example.com"
    new_hash = fields["password_hash"]
    assert isinstance(new_hash, str)
    assert new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(new_hash, "legacy").ok
    await h.login("legacy", address="old@example.com")
    assert len(h.directory.updates) == 1


async def test_disabled_account(h: Harness) -> None:
    h.directory.add("gone@example.com", enabled=False)
    assert await h.login("right password", address="gone@example.com") == failed(AuthFailure.ACCOUNT_DISABLED)
    # a wrong password learns nothing about the account's state
    assert await h.login("wrong", address="gone@example.com") == failed(AuthFailure.BAD_CREDENTIALS)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "submission"])
async def test_protocol_switched_off_for_the_account(h: Harness, protocol: LoginProtocol) -> None:
    switches = replace(ProtocolSwitches(), **{protocol: False})
    h.directory.add("limited@example.com", protocols=switches)
    for other in ("imap", "pop3", "submission", "managesieve"):
        result = await h.login("right password", address="limited@example.com", protocol=other)  # type: ignore[arg-type]
        assert isinstance(result, AuthOk) == (other != protocol)
    assert await h.login("right password", address="limited@example.com", protocol=protocol) == failed(
        AuthFailure.PROTOCOL_DISABLED
    )
    assert await h.login("wrong", address="limited@example.com", protocol=protocol) == failed(
        AuthFailure.BAD_CREDENTIALS
    )


async def test_protocol_switched_off_for_the_domain(h: Harness) -> None:
    h.directory.domains["example.com"] = replace(
        h.directory.domains["example.com"], protocols=ProtocolSwitches(pop3=False)
    )
    assert await h.login("right password", protocol="pop3") == failed(AuthFailure.PROTOCOL_DISABLED)
    assert await h.login("right password", protocol="imap") == AuthOk(h.tim)
    assert await h.login("right password", protocol="managesieve") == AuthOk(h.tim)


async def test_delays_grow_and_apply_before_any_reply(h: Harness) -> None:
    for _ in range(3):
        assert await h.login("wrong") == failed(AuthFailure.BAD_CREDENTIALS)
    assert h.slept == [0.5]  # the third attempt came after two failures
    assert await h.login("right password") == AuthOk(h.tim)  # the success waits too
    assert h.slept == [0.5, 1.0]
    # the success cleared the account, not the IP
    await h.login("right password", ip="198.51.100.1")
    assert h.slept == [0.5, 1.0]
    await h.login("right password")
    assert h.slept == [0.5, 1.0, 1.0]


async def test_lockout_refuses_without_checking(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(4):
        await h.login("wrong", ip=f"198.51.100.{n}")
    checked: list[str] = []
    monkeypatch.setattr(authenticator_module, "_verify_account_password", lambda *a: checked.append("x"))
    assert await h.login("right password", ip="203.0.113.1") == failed(AuthFailure.LOCKED_OUT)
    assert checked == []
    monkeypatch.undo()
    h.clock.now += 61
    assert await h.login("right password", ip="203.0.113.1") == AuthOk(h.tim)


async def test_lockout_of_an_unknown_address_looks_the_same(h: Harness) -> None:
    for _ in range(4):
        await h.login("wrong", address="nobody@example.com", ip="203.0.113.5")
    assert await h.login("x", address="nobody@example.com", ip="203.0.113.6") == failed(
        AuthFailure.LOCKED_OUT
    )


async def test_scram_login_through_the_authenticator(h: Harness) -> None:
    async def scram(password: str, address: str = "tim@example.com") -> AuthOk | AuthFailed:
        client = ClientMechanism.start("SCRAM-SHA-256", address, password)
        mech, out = ServerMechanism.start("SCRAM-SHA-256", client.initial_response(), scram_secret=b"s" * 32)
        assert isinstance(out, NeedScramCredentials)
        challenge = mech.supply_credentials(await h.auth.scram_credentials(out.username))
        out = mech.step(client.respond(challenge.data))  # type: ignore[union-attr]
        return await h.auth.complete_login(
            address, isinstance(out, Success), protocol="submission", remote_ip="192.0.2.7"
        )

    assert await scram("right password") == AuthOk(h.tim)
    assert await scram("wrong") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await scram("right password", address="nobody@example.com") == failed(AuthFailure.BAD_CREDENTIALS)
    h.directory.add("noscram@example.com", scram=None)
    assert await h.auth.scram_credentials("noscram@example.com") is None
    assert await scram("right password", address="noscram@example.com") == failed(AuthFailure.BAD_CREDENTIALS)


async def test_scram_credentials(h: Harness) -> None:
    creds = await h.auth.scram_credentials("Tim@example.com")
    assert isinstance(creds, ScramCredentials)
    assert creds == SCRAM
    assert await h.auth.scram_credentials("nobody@example.com") is None


async def test_complete_login_goes_through_limits_and_switches(h: Harness) -> None:
    async def complete(
        verified: bool, address: str = "tim@example.com", protocol: LoginProtocol = "imap"
    ) -> object:
        return await h.auth.complete_login(address, verified, protocol=protocol, remote_ip="192.0.2.7")

    h.directory.add("nopop@example.com", protocols=ProtocolSwitches(pop3=False))
    assert await complete(True, "nopop@example.com", "pop3") == failed(AuthFailure.PROTOCOL_DISABLED)
    assert await complete(True, "deleted@example.com") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(False) == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(False) == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(True) == AuthOk(h.tim)
    assert h.slept == [0.5, 1.0]
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.8")
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.8")
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.8")
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.8")
    assert await complete(True) == failed(AuthFailure.LOCKED_OUT)
    h.clock.now += 61
    h.auth.record_success("tim@example.com", remote_ip="192.0.2.8")
    assert await complete(True) == AuthOk(h.tim)


@pytest.mark.parametrize(
    ("policy", "secure", "ip", "allowed"),
    [
        ("loopback", True, "192.0.2.1", True),
        ("loopback", False, "192.0.2.1", False),
        ("loopback", False, "127.0.0.1", True),
        ("loopback", False, "127.45.6.7", True),
        ("loopback", False, "::1", True),
        ("loopback", False, "::ffff:127.0.0.1", True),
        ("loopback", False, "::ffff:192.0.2.1", False),
        ("loopback", False, "2001:db8::1", False),
        ("loopback", False, "128.0.0.1", False),
        ("loopback", False, "", False),
        ("loopback", False, "localhost", False),
        ("never", False, "127.0.0.1", False),
        ("never", True, "192.0.2.1", True),
        ("always", False, "192.0.2.1", True),
    ],
)
def test_plaintext_allowed(policy: str, secure: bool, ip: str, allowed: bool) -> None:
    settings = LoginSettings(plaintext_on_insecure=policy)  # type: ignore[arg-type]
    assert plaintext_allowed(settings, secure, ip) is allowed
