"""The fetcher against Debian's Dovecot POP3 as the remote server (docs/fetch.md): STARTTLS and
implicit TLS with a certificate of a test CA given as fetch.ca_file, keep and delete modes, and no
message twice across runs. Mail reaches Dovecot over its LMTP."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from dovecot_env import DovecotServer, dovecot_peer, free_port
from fetch_env import fetch_settings, local_side

pytestmark = pytest.mark.interop

PASSWORD = "remote-password-7"
USER = "remote@example.org"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA file, certificate chain, key) for 127.0.0.1, readable by Dovecot's config process."""
    root = tmp_path_factory.mktemp("dovecot-tls")
    root.chmod(0o755)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", common_name="localhost")
    paths = (root / "ca.pem", root / "cert.pem", root / "key.pem")
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(paths[1]), append=True)
    cert.private_key_pem.write_to_path(str(paths[2]))
    for path in paths:
        path.chmod(0o644)
    return paths


@pytest.fixture
def dovecot(tls_files: tuple[Path, Path, Path]) -> Iterator[DovecotServer]:
    _, cert, key = tls_files
    pop3s = free_port()
    # ssl on, and a pop3s listener of our own (tests/dovecot_env.py leaves both off).
    extra = (
        f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
        f"service pop3-login {{\n  inet_listener pop3s {{\n    address = 127.0.0.1\n    port = {pop3s}\n"
        "    ssl = yes\n  }\n}\n"
    )
    for server in dovecot_peer(("pop3", "lmtp"), password=PASSWORD, extra=extra):
        server.ports["pop3s"] = pop3s
        server.wait_listening()
        yield server


def deliver(server: DovecotServer, count: int, start: int = 0) -> None:
    with smtplib.LMTP("127.0.0.1", server.lmtp, timeout=30) as lmtp:
        for n in range(start, start + count):
            text = (
                f"From: a@example.net\r\nTo: {USER}\r\nSubject: remote {n}\r\n"
                f"Message-ID: <{n}@example.net>\r\n\r\nBody {n}\r\n.leading dot\r\n"
            )
            lmtp.sendmail("a@example.net", [USER], text.encode())


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_fetch_from_dovecot_keep_then_delete(
    dovecot: DovecotServer, tls_files: tuple[Path, Path, Path], tmp_path: Path, tls: str
) -> None:
    deliver(dovecot, 5)
    port = dovecot.pop3 if tls == "starttls" else dovecot.ports["pop3s"]
    async with local_side(tmp_path, fetch_settings(str(tls_files[0]))) as local:
        keep = await local.add(port, USER, PASSWORD, tls=tls)  # type: ignore[arg-type]
        report = await local.fetcher.run(keep)
        assert report.error is None, report.summary()
        assert report.fetched == 5
        again = await local.fetcher.run(keep)
        assert (again.fetched, again.known, again.error) == (0, 5, None)
        got = await local.messages()
        assert sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in got) == [
            f"remote {n}".encode() for n in range(5)
        ]
        assert all(b"\r\n.leading dot\r\n" in m for m in got)  # dot-unstuffed
        # A second account on the same mailbox, deleting: Dovecot keeps a message only until QUIT.
        deliver(dovecot, 1, start=5)
        delete = await local.add(port, USER, PASSWORD, tls=tls, keep=False, folder=None)  # type: ignore[arg-type]
        report = await local.fetcher.run(delete)
        assert (report.fetched, report.deleted, report.error) == (6, 6, None)
        after = await local.fetcher.run(delete)
        assert (after.listed, after.fetched) == (0, 0)
        assert len(await local.messages()) == 11  # 5 + 6: the second account is another source


async def test_dovecot_certificate_not_trusted(dovecot: DovecotServer, tmp_path: Path) -> None:
    deliver(dovecot, 1)
    async with local_side(tmp_path, fetch_settings("")) as local:
        account = await local.add(dovecot.pop3, USER, PASSWORD, tls="starttls")
        report = await local.fetcher.run(account)
        assert report.error is not None
        assert report.error.kind == "certificate", report.summary()
        assert report.fetched == 0
