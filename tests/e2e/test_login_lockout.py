"""Smart lockout against a real `pochta serve`: an attacker failing for bob from one address is slowed
and then locked out, bob logs in at once from another address, the lockout is logged and exported
as a metric, and `pochta auth unblock` lifts it in the running server.

Clients bind their source address to 127.0.0.x (every 127/8 address is loopback on Linux), so one
machine plays the attacker (127.0.0.9) and the victim (127.0.0.5).
"""

from __future__ import annotations

import concurrent.futures
import imaplib
import poplib
import re
import smtplib
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_env import ServerProcess, ok, run
from pochta.config import LISTENER_KINDS

ATTACKER = "127.0.0.9"
VICTIM = "127.0.0.5"
BOB = "bob@example.org"
# Small numbers so the test runs in seconds: the fourth attempt after three failures waits 1 s,
# later ones 2 s; the twelfth failure locks the address out.
LOGIN = """
[login]
failures_before_delay = 3
delay_base = 1.0
delay_max = 2.0
lockout_after = 12
lockout_seconds = 600.0
failure_window = 600.0

[metrics]
listen = "127.0.0.1:0"
"""
FAST = 0.9  # well under the 1 s and 2 s delays: "at once"


class _Imap(imaplib.IMAP4):
    def __init__(self, host: str, port: int, source: str) -> None:
        self._source = source
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


class _Pop3(poplib.POP3):
    def __init__(self, host: str, port: int, source: str) -> None:
        self._source = source
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


@dataclass
class Running:
    server: ServerProcess
    ports: dict[str, int]

    def imap_login(self, source: str, password: str) -> tuple[bool, str, float]:
        """(logged in, the server's text, seconds the LOGIN took)."""
        client = _Imap("127.0.0.1", self.ports["imap"], source)
        try:
            start = time.monotonic()
            try:
                client.login(BOB, password)
            except imaplib.IMAP4.error as exc:
                return False, str(exc), time.monotonic() - start
            return True, "", time.monotonic() - start
        finally:
            client.shutdown()

    def pop3_login(self, source: str, password: str) -> tuple[bool, str, float]:
        client = _Pop3("127.0.0.1", self.ports["pop3"], source)
        try:
            start = time.monotonic()
            client.user(BOB)
            try:
                client.pass_(password)
            except poplib.error_proto as exc:
                return False, str(exc), time.monotonic() - start
            client.quit()
            return True, "", time.monotonic() - start
        finally:
            client.close()

    def smtp_login(self, source: str, password: str) -> tuple[bool, str, float]:
        with smtplib.SMTP("127.0.0.1", self.ports["submission"], source_address=(source, 0), timeout=30) as c:
            c.ehlo()
            c.user, c.password = BOB, password
            start = time.monotonic()
            try:  # one AUTH PLAIN (login() would try LOGIN after a failed PLAIN: two failures)
                c.auth("PLAIN", c.auth_plain)
            except smtplib.SMTPAuthenticationError as exc:
                return False, str(exc), time.monotonic() - start
            return True, "", time.monotonic() - start

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.ports['metrics']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert found is not None, text
        return float(found.group(1))

    def wait_for_metric(self, name: str, wanted: float, timeout: float = 10.0) -> float:
        """The metric once it reads ``wanted``, or its last value after ``timeout`` seconds: a gauge
        every worker holds whole is scraped as the largest (server.worker_metrics), and a peer learns
        of an unblock from the peer channel, a moment after the worker that applied it."""
        deadline = time.monotonic() + timeout
        while (value := self.metric(name)) != wanted and time.monotonic() < deadline:
            time.sleep(0.05)
        return value

    def wait_for_log(self, fragment: str, timeout: float = 10.0) -> str:
        return self.server.wait_for(f".*{re.escape(fragment)}.*", timeout).group(0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Running, str, Path]]:
    data = tmp_path / "data"
    wanted = ("imap", "pop3", "submission")
    listen = [f"--listen={name}=" + ("127.0.0.1:0" if name in wanted else "off") for name in LISTENER_KINDS]
    init = ok(run("init", "--domain", "example.org", "--account", BOB, *listen, data=data))
    password = re.search(r"password:\s+(\S+)", init)
    assert password is not None, init
    with (data / "pochta.toml").open("a", encoding="utf-8") as config:
        config.write(LOGIN)
    with ServerProcess(data) as server:
        addresses = server.wait_listening(count=len(wanted) + 1)  # and the metrics endpoint
        yield Running(server, {name: port for name, (_, port) in addresses.items()}), password.group(1), data
        server.stop()


def test_a_dozen_failures_for_bob_elsewhere_do_not_keep_bob_waiting(
    server: tuple[Running, str, Path],
) -> None:
    running, password, _ = server
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: running.imap_login(ATTACKER, "wrong"), range(14)))
    assert not any(ok for ok, _, _ in results)
    ok, text, _ = running.imap_login(ATTACKER, password)
    assert not ok
    assert "too many failures" in text
    ok, text, took = running.imap_login(VICTIM, password)
    assert ok, text
    assert took < FAST


def test_attacker_is_slowed_then_locked_out_victim_logs_in_at_once_unblock_lifts_it(
    server: tuple[Running, str, Path],
) -> None:
    running, password, data = server
    # Three failures from the attacker's address, over three protocols that share one limiter.
    for login in (running.imap_login, running.pop3_login, running.smtp_login):
        ok, _, took = login(ATTACKER, "wrong")
        assert not ok
        assert took < FAST
    # Slowed: the fourth attempt waits the first delay before its answer.
    ok, _, took = running.imap_login(ATTACKER, "wrong")
    assert not ok
    assert took >= 1.0
    # Eight more at once (each waits 2 s): twelve failures lock the address out.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        logins = [running.imap_login, running.pop3_login] * 4
        results = list(pool.map(lambda login: login(ATTACKER, "wrong"), logins))
    assert not any(ok for ok, _, _ in results)
    # Refused: even the right password, at once, without a delay.
    ok, text, took = running.imap_login(ATTACKER, password)
    assert not ok
    assert "AUTHENTICATIONFAILED" in text
    assert "too many failures" in text
    assert took < FAST
    ok, text, _ = running.pop3_login(ATTACKER, password)
    assert not ok
    assert "Too many failed logins" in text

    # The victim, at an address with no failures, logs in at once, over every protocol.
    for login in (running.imap_login, running.pop3_login, running.smtp_login):
        ok, text, took = login(VICTIM, password)
        assert ok, text
        assert took < FAST

    line = running.wait_for_log("login lockout")
    assert f"address={ATTACKER} account={BOB} failures=12 seconds=600" in line
    assert running.metric("pochta_login_lockouts_total") == 1.0
    assert running.metric("pochta_login_locked_addresses") == 1.0

    unblock = run("auth", "unblock", ATTACKER, data=data)
    assert unblock.returncode == 0, unblock.stderr
    assert unblock.stdout.strip() == f"unblocked {ATTACKER}/32"
    ok, text, took = running.imap_login(ATTACKER, password)
    assert ok, text
    assert took < FAST
    assert f"target={ATTACKER}/32" in running.wait_for_log("login unblock")
    assert running.wait_for_metric("pochta_login_locked_addresses", 0.0) == 0.0


def test_unblock_refuses_what_is_neither_an_address_nor_an_account(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", "--domain", "example.org", data=data).returncode == 0
    result = run("auth", "unblock", "not-an-ip", data=data)
    assert result.returncode == 2
    assert "not an IP address, network or account address: 'not-an-ip'" in result.stderr
    result = run("auth", "unblock", "Bob@Example.org", data=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unblocked bob@example.org"
