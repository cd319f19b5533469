"""Organisational units against a real `pochta serve` (docs/units.md): units made and switched with the
CLI in another process, enforced at the next login by IMAP, POP3, submission and ManageSieve.

An account in a unit whose parent switches POP3 off cannot log in over POP3 but can over IMAP; an
account's own setting turns it back on; moving the account to another unit changes it at once for
the next login (the server's processes see the CLI's change through the store, no restart).
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import re
import smtplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_env import ServerProcess, ok, run
from pochta.config import LISTENER_KINDS

ANN = "ann@example.org"
PROTOCOLS = ("imap", "pop3", "submission", "managesieve")


@dataclass
class Running:
    ports: dict[str, int]
    password: str
    data: Path

    def pochta(self, *args: str) -> str:
        return ok(run(*args, data=self.data))

    def imap(self) -> tuple[bool, str]:
        client = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30)
        try:
            client.login(ANN, self.password)
        except imaplib.IMAP4.error as exc:
            return False, str(exc)
        finally:
            client.shutdown()
        return True, ""

    def pop3(self) -> tuple[bool, str]:
        client = poplib.POP3("127.0.0.1", self.ports["pop3"], timeout=30)
        try:
            client.user(ANN)
            client.pass_(self.password)
        except poplib.error_proto as exc:
            return False, str(exc)
        finally:
            client.close()
        return True, ""

    def submission(self) -> tuple[bool, str]:
        with smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=30) as client:
            client.ehlo()
            client.user, client.password = ANN, self.password
            try:
                client.auth("PLAIN", client.auth_plain)
            except smtplib.SMTPAuthenticationError as exc:
                return False, str(exc)
        return True, ""

    def managesieve(self) -> tuple[bool, str]:
        token = base64.b64encode(f"\0{ANN}\0{self.password}".encode())
        with socket.create_connection(("127.0.0.1", self.ports["managesieve"]), timeout=30) as sock:
            reader = sock.makefile("rb")
            while not reader.readline().startswith(b"OK"):  # the capabilities, then OK
                pass
            sock.sendall(b'AUTHENTICATE "PLAIN" "' + token + b'"\r\n')
            answer = reader.readline().decode()
            sock.sendall(b"LOGOUT\r\n")
        return answer.startswith("OK"), answer

    def logins(self) -> dict[str, bool]:
        return {protocol: getattr(self, protocol)()[0] for protocol in PROTOCOLS}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    data = tmp_path / "data"
    listen = [
        f"--listen={name}=" + ("127.0.0.1:0" if name in PROTOCOLS else "off") for name in LISTENER_KINDS
    ]
    init = ok(run("init", "--domain", "example.org", "--account", ANN, *listen, data=data))
    password = re.search(r"password:\s+(\S+)", init)
    assert password is not None, init
    with ServerProcess(data) as process:
        addresses = process.wait_listening(count=len(PROTOCOLS))
        yield Running({name: port for name, (_, port) in addresses.items()}, password.group(1), data)
        process.stop()


def test_a_parent_units_switch_is_enforced_by_every_protocol(server: Running) -> None:
    assert server.logins() == dict.fromkeys(PROTOCOLS, True)
    server.pochta("unit", "add", "staff")
    server.pochta("unit", "add", "sales", "--parent", "staff")
    server.pochta("unit", "add", "support", "--parent", "staff")
    server.pochta("unit", "set", "staff", "pop3.enabled=off")
    server.pochta("user", "set", ANN, "--unit", "sales")

    # The parent's switch reaches the account in sales: POP3 refused, IMAP and the rest still in.
    assert server.logins() == {"imap": True, "pop3": False, "submission": True, "managesieve": True}
    refused, text = server.pop3()
    assert not refused
    assert "[AUTH] POP3 access is disabled" in text

    # The account's own setting wins over its units.
    server.pochta("user", "set", ANN, "--pop3")
    assert server.pop3() == (True, "")
    shown = server.pochta("user", "show", ANN)
    assert re.search(r"pop3\.enabled\s+on\s+account", shown), shown
    server.pochta("user", "set", ANN, "--unset", "pop3.enabled")
    assert server.pop3()[0] is False
    shown = server.pochta("user", "show", ANN)
    assert re.search(r"pop3\.enabled\s+off\s+unit staff", shown), shown
    assert re.search(r"imap\.enabled\s+on\s+default", shown), shown

    # Moving the account applies at its next login; a unit's switch on another protocol too.
    server.pochta("user", "set", ANN, "--unit", "root")
    assert server.pop3() == (True, "")
    server.pochta(
        "unit", "set", "support", "imap.enabled=off", "submission.enabled=off", "managesieve.enabled=off"
    )
    server.pochta("user", "set", ANN, "--unit", "support")
    assert server.logins() == {"imap": False, "pop3": False, "submission": False, "managesieve": False}
    imap_text = server.imap()[1]
    assert "AUTHORIZATIONFAILED" in imap_text
    # A unit moved under another parent inherits from its new chain.
    server.pochta("unit", "set", "support", "--unset", "imap.enabled", "--parent", "root")
    assert server.logins() == {"imap": True, "pop3": True, "submission": False, "managesieve": False}


def test_unit_cli_tree_conflicts_and_errors(server: Running) -> None:
    server.pochta("unit", "add", "staff")
    server.pochta("unit", "add", "sales", "--parent", "staff")
    out = server.pochta("unit", "set", "sales", "pop3.login_delay=900", "pop3.mode=since-enabled")
    assert "pop3.login_delay=900" in out
    server.pochta("user", "set", ANN, "--unit", "sales")
    tree = server.pochta("unit", "list")
    lines = tree.splitlines()
    assert re.match(r"UNIT\s+ACCOUNTS\s+SETTINGS", lines[0])
    assert re.match(r"root\s+0\s+-", lines[1])
    assert re.match(r"  staff\s+0\s+-", lines[2])
    assert re.match(r"    sales\s+1\s+pop3\.login_delay=900, pop3\.mode=since-enabled", lines[3])
    assert re.search(r"ann@example\.org\s.*\ssales\s+yes", server.pochta("user", "list"))
    # A unit's sending limit is the default of the accounts under it (an account's own still wins).
    server.pochta("unit", "set", "staff", "send.messages_per_hour=50")
    shown = server.pochta("user", "show", ANN)
    assert re.search(r"account ann@example\.org\s+hour\s+0/50\s+0/\S+\s+unit staff", shown), shown
    assert re.search(r"send\.messages_per_hour\s+50\s+unit staff", shown), shown
    assert re.search(r"pop3\.mode\s+since-enabled\s+unit sales", shown), shown

    def fails(*args: str) -> str:
        result = run(*args, data=server.data)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result.stderr

    assert "sales is staff or below it" in fails("unit", "set", "staff", "--parent", "sales")
    assert "still has 1 account" in fails("unit", "del", "sales")
    assert "1 unit" in fails("unit", "del", "staff")
    assert "root unit" in fails("unit", "del", "root")
    assert "unknown setting" in fails("unit", "set", "staff", "pop3.nonsense=1")
    assert "not one of" in fails("unit", "set", "staff", "pop3.mode=sometimes")
    assert "not on or off" in fails("user", "set", ANN, "--set", "imap.enabled=maybe")
    assert "a unit cannot set it" in fails("unit", "set", "staff", "pop3.apop_secret=x")
    assert "no unit nowhere" in fails("user", "set", ANN, "--unit", "nowhere")
    assert "already exists" in fails("unit", "add", "staff")
    assert "not a unit name" in fails("unit", "add", "two words")
    server.pochta("user", "set", ANN, "--unit", "root")
    server.pochta("unit", "del", "sales")
    server.pochta("unit", "del", "staff")
    [_header, root] = server.pochta("unit", "list").splitlines()
    assert re.fullmatch(r"root\s+1\s+-", root)


def test_a_units_quota_is_set_shown_and_overridden_in_the_cli(server: Running) -> None:
    # docs/units.md: quota.bytes takes a size as `pochta user set --quota` does; the account's own
    # quota wins, and `user show` says where the effective one comes from.
    server.pochta("unit", "add", "staff")
    server.pochta("unit", "add", "sales", "--parent", "staff")
    out = server.pochta("unit", "set", "staff", "quota.bytes=2G", "quota.messages=10000")
    assert "quota.bytes=2G, quota.messages=10000" in out, out
    server.pochta("user", "set", ANN, "--unit", "sales")
    assert re.search(r"staff\s+0\s+quota\.bytes=2G, quota\.messages=10000", server.pochta("unit", "list"))
    shown = server.pochta("user", "show", ANN)
    assert "quota 2G (unit staff), messages 10000 (unit staff)" in shown, shown
    assert re.search(r"quota\.bytes\s+2G\s+unit staff", shown), shown
    assert re.search(r"ann@example\.org\s+2G\s+0\s+10000\s+0\s", server.pochta("user", "list"))
    # The nearest unit wins, per resource; the account's own quota wins over both.
    server.pochta("unit", "set", "sales", "quota.bytes=500M")
    assert "quota 500M (unit sales), messages 10000 (unit staff)" in server.pochta("user", "show", ANN)
    out = server.pochta("user", "set", ANN, "--quota", "1G")
    assert "quota 1G (own), messages 10000 (unit staff)" in out, out
    shown = server.pochta("user", "show", ANN)
    assert re.search(r"quota\.bytes\s+1G\s+account", shown), shown
    assert "quota 500M (unit sales)" in server.pochta("user", "set", ANN, "--quota", "none")
    server.pochta("unit", "set", "sales", "--unset", "quota.bytes")
    server.pochta("unit", "set", "staff", "quota.bytes=default", "--unset", "quota.messages")
    assert "quota unlimited, messages unlimited" in server.pochta("user", "show", ANN)

    def fails(*args: str) -> str:
        result = run(*args, data=server.data)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result.stderr

    assert "expected a size" in fails("unit", "set", "staff", "quota.bytes=lots")
    assert "--unset" in fails("unit", "set", "staff", "quota.bytes=none")
    assert "not a whole number" in fails("unit", "set", "staff", "quota.messages=-1")
    assert "a unit's setting" in fails("user", "set", ANN, "--set", "quota.bytes=1G")
