"""The login decision over an in-memory fake of the Directory methods it uses."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

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
from pochta.config import LoginSettings, LogSettings
from pochta.log import configure_logging, reset_logging
from pochta.metrics import Metrics
from pochta.proto.sasl import ClientMechanism, NeedScramCredentials, ServerMechanism, Success
from pochta.store.account_settings import AccountSettings
from pochta.store.api import StoreError
from pochta.store.model import (
    Account,
    AccountId,
    AppPassword,
    Domain,
    LoginUnblock,
    ProtocolSwitches,
    ScramCredentials,
)

T = TypeVar("T")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SECRET = b"k" * 32
PASSWORD_HASH = passwords.hash_password("right password")
SCRAM = passwords.make_scram_credentials("right password")
SETTINGS = LoginSettings(
    failures_before_delay=2,
    delay_base=0.5,
    delay_max=8.0,
    lockout_after=4,
    lockout_seconds=60.0,
    failure_window=600.0,
)


def app_password(app_id: int, account: Account, name: str, password: str, **fields: Any) -> AppPassword:
    """An app password as `pochta app-password add` stores it (hash and keyed lookup digest)."""
    lookup = passwords.app_password_lookup(SECRET, password)
    item = AppPassword(app_id, account.id, name, passwords.hash_password(password), T0, None, lookup)
    return replace(item, **fields)


class FakeReader:
    def __init__(self, directory: FakeDirectory) -> None:
        self._directory = directory

    def account(self, address: str) -> Account | None:
        if "@" not in address:
            raise ValueError(f"not an address: {address!r}")  # as the SQLite store does
        return self._directory.accounts.get(address.lower())

    def domain(self, name: str) -> Domain | None:
        return self._directory.domains.get(name.lower())

    def app_password(self, account_id: AccountId, lookup: bytes) -> AppPassword | None:
        for items in self._directory.app_passwords.values():
            for item in items:
                if item.account_id == account_id and item.lookup == lookup:
                    return item
        return None


class FakeDirectory:
    """Just the Directory methods the Authenticator calls."""

    def __init__(self) -> None:
        self.domains: dict[str, Domain] = {}
        self.accounts: dict[str, Account] = {}
        self.app_passwords: dict[str, list[AppPassword]] = {}
        self.touched: list[tuple[int, datetime]] = []
        self.updates: list[tuple[str, dict[str, object]]] = []
        self.unblocks: list[LoginUnblock] = []
        self.unblock_reads: list[int] = []
        self.fail_writes = False
        self.fail_reads = False
        self.directory_reads = 0  # read_directory calls (one thread hop each in the store)
        self.domain_reads = 0  # get_domain calls

    async def read_directory(self, fn: Callable[[FakeReader], T]) -> T:
        self.directory_reads += 1
        if self.fail_reads:
            raise StoreError("database is locked")
        return fn(FakeReader(self))

    async def login_unblocks_after(self, unblock_id: int) -> list[LoginUnblock]:
        self.unblock_reads.append(unblock_id)
        if self.fail_reads:
            raise StoreError("database is locked")
        return [u for u in self.unblocks if u.id > unblock_id]

    def unblock(self, target: str, created: datetime = T0) -> None:
        self.unblocks.append(LoginUnblock(len(self.unblocks) + 1, target, created))

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
        self.domain_reads += 1
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
        self.metrics = Metrics()
        self.auth = Authenticator(
            self.directory,  # type: ignore[arg-type]
            SETTINGS,
            self.clock,
            sleep=self._sleep,
            now=lambda: T0,
            server_secret=SECRET,
            metrics=self.metrics,
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
        app_password(7, h.tim, "old phone", "app-secret-0"),
        app_password(8, h.tim, "laptop", "app-secret-1"),
    ]
    assert await h.login("app-secret-1") == AuthOk(h.tim, app_password="laptop")
    assert h.directory.touched == [(8, T0)]
    assert await h.login("app-secret-2") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("right password") == AuthOk(h.tim)
    assert h.directory.touched == [(8, T0)]


async def test_app_password_of_another_account_does_not_log_in(h: Harness) -> None:
    ann = h.directory.add("ann@example.com")
    h.directory.app_passwords["ann@example.com"] = [app_password(9, ann, "phone", "app-secret-1")]
    assert await h.login("app-secret-1") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("app-secret-1", address="ann@example.com") == AuthOk(ann, app_password="phone")


async def test_app_password_whose_hash_disagrees_with_its_digest_fails(h: Harness) -> None:
    """Only the hash decides: a digest match alone (a forged row, say) logs nobody in."""
    h.directory.app_passwords["tim@example.com"] = [
        app_password(8, h.tim, "laptop", "app-secret-1", password_hash=passwords.hash_password("other"))
    ]
    assert await h.login("app-secret-1") == failed(AuthFailure.BAD_CREDENTIALS)


async def test_app_password_made_before_lookup_digests_no_longer_logs_in(h: Harness) -> None:
    h.directory.app_passwords["tim@example.com"] = [
        app_password(8, h.tim, "laptop", "app-secret-1", lookup=None)
    ]
    assert await h.login("app-secret-1") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("right password") == AuthOk(h.tim)


async def test_without_a_server_secret_no_app_password_logs_in(h: Harness) -> None:
    auth = Authenticator(h.directory, SETTINGS, h.clock, sleep=h._sleep)  # type: ignore[arg-type]
    h.directory.app_passwords["tim@example.com"] = [app_password(8, h.tim, "laptop", "app-secret-1")]
    result = await auth.check_password(
        "tim@example.com", "app-secret-1", protocol="imap", remote_ip="192.0.2.7"
    )
    assert result == failed(AuthFailure.BAD_CREDENTIALS)


class Argon2Counter:
    """Counts argon2 verifications, whichever function asks for them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = PasswordHasher.verify

        def verify(hasher: PasswordHasher, encoded: str | bytes, password: str | bytes) -> bool:
            self.count += 1
            return real(hasher, encoded, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)


@pytest.mark.parametrize("app_passwords", [0, 1, 5])
@pytest.mark.parametrize(
    ("address", "password", "ok"),
    [
        ("nobody@example.com", "right password", False),
        ("nobody@example.com", "app-secret-0", False),
        ("not an address", "x", False),
        ("tim@example.com", "wrong", False),
        ("tim@example.com", "app-secret-77", False),
        ("tim@example.com", "right password", True),
        ("tim@example.com", "app-secret-0", True),  # an app password (when the account has one)
    ],
)
async def test_one_argon2_verification_per_login_whatever_the_account_has(
    h: Harness, monkeypatch: pytest.MonkeyPatch, app_passwords: int, address: str, password: str, ok: bool
) -> None:
    h.directory.app_passwords["tim@example.com"] = [
        app_password(n, h.tim, f"device {n}", f"app-secret-{n}") for n in range(app_passwords)
    ]
    counter = Argon2Counter(monkeypatch)
    result = await h.login(password, address=address)
    expected_ok = ok and (password == "right password" or app_passwords > 0)
    assert isinstance(result, AuthOk) == expected_ok
    assert counter.count == 1


async def test_store_errors_in_book_keeping_do_not_fail_the_login(h: Harness) -> None:
    h.directory.app_passwords["tim@example.com"] = [app_password(8, h.tim, "laptop", "app-secret-1")]
    h.directory.fail_writes = True
    assert await h.login("app-secret-1") == AuthOk(h.tim, app_password="laptop")


async def test_store_errors_in_the_lookup_fail_like_an_unknown_account(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.directory.fail_reads = True
    counter = Argon2Counter(monkeypatch)
    assert await h.login("right password") == failed(AuthFailure.BAD_CREDENTIALS)
    assert counter.count == 1


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


@pytest.mark.parametrize("protocol", ["imap", "pop3", "submission", "managesieve"])
async def test_protocol_switched_off_for_the_account(h: Harness, protocol: LoginProtocol) -> None:
    h.directory.add("limited@example.com", settings=AccountSettings(own={f"{protocol}.enabled": False}))
    for other in ("imap", "pop3", "submission", "managesieve"):
        result = await h.login("right password", address="limited@example.com", protocol=other)  # type: ignore[arg-type]
        assert isinstance(result, AuthOk) == (other != protocol)
    assert await h.login("right password", address="limited@example.com", protocol=protocol) == failed(
        AuthFailure.PROTOCOL_DISABLED
    )
    assert await h.login("wrong", address="limited@example.com", protocol=protocol) == failed(
        AuthFailure.BAD_CREDENTIALS
    )


async def test_protocol_switched_off_by_the_accounts_unit(h: Harness) -> None:
    # The effective switch: the account's own, else the nearest unit's (docs/units.md).
    chain = (("sales", {}), ("staff", {"pop3.enabled": False}), ("root", {"pop3.enabled": True}))
    h.directory.add("unit@example.com", settings=AccountSettings(chain=chain))
    assert await h.login("right password", address="unit@example.com", protocol="pop3") == failed(
        AuthFailure.PROTOCOL_DISABLED
    )
    assert isinstance(await h.login("right password", address="unit@example.com", protocol="imap"), AuthOk)
    h.directory.add("own@example.com", settings=AccountSettings(own={"pop3.enabled": True}, chain=chain))
    assert isinstance(await h.login("right password", address="own@example.com", protocol="pop3"), AuthOk)


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
    for _ in range(4):
        await h.login("wrong", ip="198.51.100.1")
    checked: list[str] = []
    monkeypatch.setattr(authenticator_module, "_verify", lambda *a: checked.append("x"))
    assert await h.login("right password", ip="198.51.100.1") == failed(AuthFailure.LOCKED_OUT)
    assert await h.login("right password", ip="198.51.100.1", address="ann@example.com") == failed(
        AuthFailure.LOCKED_OUT
    )
    assert checked == []
    monkeypatch.undo()
    h.clock.now += 61
    assert await h.login("right password", ip="198.51.100.1") == AuthOk(h.tim)


async def test_smart_lockout_the_owner_at_another_address_is_neither_refused_nor_delayed(
    h: Harness,
) -> None:
    for n in range(40):  # a distributed guesser: forty addresses, several locked out
        await h.login("wrong", ip=f"198.51.100.{n % 8}")
    h.slept.clear()
    assert await h.login("right password", ip="203.0.113.1") == AuthOk(h.tim)
    assert h.slept == []
    # an address that failed for tim is slowed by tim's counter, though it has one failure only
    await h.login("wrong", ip="203.0.113.2")
    assert await h.login("right password", ip="203.0.113.2") == AuthOk(h.tim)
    assert h.slept == [8.0]


async def test_lockout_is_logged_and_counted(h: Harness) -> None:
    out = io.StringIO()
    configure_logging(LogSettings(), stream=out)
    try:
        for _ in range(5):
            await h.login("wrong", address="Tim@example.com", ip="::ffff:198.51.100.1")
    finally:
        reset_logging()
    lines = [line for line in out.getvalue().splitlines() if "login lockout" in line]
    assert len(lines) == 1
    assert lines[0].endswith(
        "warning login lockout address=198.51.100.1 account=tim@example.com failures=4 seconds=60"
    )
    assert h.metrics.login_lockouts._value.get() == 1.0
    assert b"pochta_login_lockouts_total 1.0" in h.metrics.render()
    h.metrics.watch_locked_addresses(h.auth.limiter.locked_addresses)
    assert b"pochta_login_locked_addresses 1.0" in h.metrics.render()
    h.clock.now += 61
    assert b"pochta_login_locked_addresses 0.0" in h.metrics.render()


async def test_unblock_lifts_a_lockout_at_the_next_attempt(h: Harness) -> None:
    for _ in range(4):
        await h.login("wrong", ip="198.51.100.1")
    assert await h.login("right password", ip="198.51.100.1") == failed(AuthFailure.LOCKED_OUT)
    h.directory.unblock("198.51.100.1/32")
    h.clock.now += 0.05  # within the poll interval of the refusal above: not read yet
    assert await h.login("right password", ip="198.51.100.1") == failed(AuthFailure.LOCKED_OUT)
    h.clock.now += 0.1
    h.slept.clear()
    assert await h.login("right password", ip="198.51.100.1") == AuthOk(h.tim)
    assert h.slept == []
    # later failures count again
    for _ in range(4):
        await h.login("wrong", ip="198.51.100.1")
    h.clock.now += 1
    assert await h.login("right password", ip="198.51.100.1") == failed(AuthFailure.LOCKED_OUT)


async def test_unblock_of_an_account_stops_its_counter_slowing_an_address(h: Harness) -> None:
    for n in range(3):
        await h.login("wrong", ip=f"198.51.100.{n}")
    h.slept.clear()
    await h.login("wrong", ip="198.51.100.9")
    await h.login("wrong", ip="198.51.100.9")  # slowed by tim's counter
    assert h.slept == [2.0]
    h.directory.unblock("tim@example.com")
    h.clock.now += 1
    await h.login("wrong", ip="198.51.100.9")  # only its own two failures count now
    assert h.slept == [2.0, 0.5]


async def test_unblocks_are_read_only_when_a_login_is_delayed_or_refused(h: Harness) -> None:
    h.directory.unblock("192.0.2.0/24", created=T0 - timedelta(seconds=30))  # older than any failure
    assert await h.login("right password") == AuthOk(h.tim)
    await h.login("wrong")
    await h.login("wrong")
    assert h.directory.unblock_reads == []  # nothing delayed yet: no query
    await h.login("wrong")  # delayed: reads, applies (nothing to forget: older than the failures)
    assert h.directory.unblock_reads == [0]
    assert h.slept == [0.5]
    h.clock.now += 1
    await h.login("wrong")
    assert h.directory.unblock_reads == [0, 1]  # from where it stopped
    assert h.slept == [0.5, 1.0]


async def test_an_unreadable_unblock_table_leaves_the_verdict(h: Harness) -> None:
    for _ in range(4):
        await h.login("wrong")
    h.directory.unblock("192.0.2.7")
    h.directory.fail_reads = True
    assert await h.login("right password") == failed(AuthFailure.LOCKED_OUT)
    h.directory.fail_reads = False
    h.directory.unblocks.insert(0, LoginUnblock(0, "garbage", T0))
    h.clock.now += 1
    assert await h.login("right password") == AuthOk(h.tim)


async def test_lockout_of_an_unknown_address_looks_the_same(h: Harness) -> None:
    for _ in range(4):
        await h.login("wrong", address="nobody@example.com", ip="203.0.113.5")
    assert await h.login("x", address="nobody@example.com", ip="203.0.113.5") == failed(
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

    h.directory.add("nopop@example.com", settings=AccountSettings(own={"pop3.enabled": False}))
    assert await complete(True, "nopop@example.com", "pop3") == failed(AuthFailure.PROTOCOL_DISABLED)
    assert await complete(True, "deleted@example.com") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(False) == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(False) == failed(AuthFailure.BAD_CREDENTIALS)
    assert await complete(True) == AuthOk(h.tim)
    assert h.slept == [0.5, 1.0]
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.8")
    assert await complete(True) == AuthOk(h.tim)  # another address's failure: not even slowed
    assert h.slept == [0.5, 1.0, 1.0]
    h.auth.record_failure("tim@example.com", remote_ip="192.0.2.7")
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


# --- successful checks remembered (auth.verified) -------------------------------------------------


async def test_a_repeated_login_with_the_same_password_skips_argon2(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.directory.app_passwords["tim@example.com"] = [app_password(3, h.tim, "phone", "app-secret-3")]
    counter = Argon2Counter(monkeypatch)
    for _ in range(3):
        assert await h.login("right password") == AuthOk(h.tim)
        assert await h.login("app-secret-3") == AuthOk(h.tim, app_password="phone")
    assert counter.count == 2  # one each, the first time
    # A wrong password never matches what was remembered: a full check, and a failure counted.
    assert await h.login("right passwor") == failed(AuthFailure.BAD_CREDENTIALS)
    assert counter.count == 3
    # Past verified_cache_seconds it is checked again.
    h.clock.now += SETTINGS.verified_cache_seconds + 1
    assert await h.login("right password") == AuthOk(h.tim)
    assert counter.count == 4


async def test_a_changed_password_or_revoked_app_password_is_not_remembered(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.directory.app_passwords["tim@example.com"] = [app_password(3, h.tim, "phone", "app-secret-3")]
    assert await h.login("right password") == AuthOk(h.tim)
    assert await h.login("app-secret-3") == AuthOk(h.tim, app_password="phone")
    # The admin sets a new password and revokes the app password: the old ones no longer log in,
    # however recently they did.
    h.directory.accounts["tim@example.com"] = replace(h.tim, password_hash=passwords.hash_password("new one"))
    h.directory.app_passwords["tim@example.com"] = []
    assert await h.login("right password") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("app-secret-3") == failed(AuthFailure.BAD_CREDENTIALS)
    counter = Argon2Counter(monkeypatch)
    assert isinstance(await h.login("new one"), AuthOk)
    assert counter.count == 1


async def test_remembering_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()
    h.auth.reconfigure(SETTINGS.model_copy(update={"verified_cache_seconds": 0.0}))
    counter = Argon2Counter(monkeypatch)
    for _ in range(2):
        assert await h.login("right password") == AuthOk(h.tim)
    assert counter.count == 2


async def test_a_password_login_is_one_directory_read(h: Harness) -> None:
    """Account, app password and domain (for its switches) come from one read: one thread hop."""
    assert await h.login("right password") == AuthOk(h.tim)
    assert await h.login("right password") == AuthOk(h.tim)
    assert (h.directory.directory_reads, h.directory.domain_reads) == (2, 0)
    h.directory.domains["example.com"] = replace(
        h.directory.domains["example.com"], protocols=ProtocolSwitches(imap=False)
    )
    assert await h.login("right password") == failed(AuthFailure.PROTOCOL_DISABLED)
    assert await h.auth.complete_login("tim@example.com", True, protocol="pop3", remote_ip="192.0.2.7") == (
        AuthOk(h.tim)
    )
    assert h.directory.domain_reads == 1  # complete_login reads the domain itself


async def test_a_success_is_shared_only_when_it_clears_failures(h: Harness) -> None:
    """Failures are shared with the other processes, so a success with none to forget here has none
    to forget there: it is not sent (one datagram per login saved)."""
    shared: list[tuple[str, str, bool]] = []
    h.auth.share = lambda ip, address, failed: shared.append((ip, address, failed))
    assert await h.login("right password") == AuthOk(h.tim)
    assert shared == []
    assert await h.login("wrong password") == failed(AuthFailure.BAD_CREDENTIALS)
    assert await h.login("right password") == AuthOk(h.tim)
    assert shared == [("192.0.2.7", "tim@example.com", True), ("192.0.2.7", "tim@example.com", False)]
    assert await h.login("right password") == AuthOk(h.tim)
    assert len(shared) == 2


async def test_with_peers_the_housekeeper_reports_a_lockout_once_whoever_failed_last() -> None:
    """Two processes share their failures late (each one's limit is reached by the other's shared
    failures, not its own): the housekeeper reports the lockout, exactly once, the other never."""
    worker, housekeeper = Harness(), Harness()
    housekeeper.auth.reports_lockouts = True
    in_flight: dict[Harness, list[tuple[str, str, bool]]] = {worker: [], housekeeper: []}
    worker.auth.share = lambda *attempt: in_flight[housekeeper].append(attempt)
    housekeeper.auth.share = lambda *attempt: in_flight[worker].append(attempt)
    out = io.StringIO()
    configure_logging(LogSettings(), stream=out)
    try:
        for side in (worker, housekeeper):
            for _ in range(2):  # SETTINGS lock out after four failures: two here, two there
                await side.login("wrong", ip="198.51.100.1")
        for side, attempts in in_flight.items():
            for attempt in attempts:
                side.auth.apply_shared(*attempt)
    finally:
        reset_logging()
    lines = [line for line in out.getvalue().splitlines() if "login lockout" in line]
    assert len(lines) == 1, lines
    assert "address=198.51.100.1 account=tim@example.com failures=4" in lines[0]
    assert housekeeper.metrics.login_lockouts._value.get() == 1.0
    assert worker.metrics.login_lockouts._value.get() == 0.0
    for side in (worker, housekeeper):  # both refuse the address all the same
        assert await side.login("right password", ip="198.51.100.1") == failed(AuthFailure.LOCKED_OUT)
