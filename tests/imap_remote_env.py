"""Remote IMAP servers for the IMAP client and `pochta migrate` tests: Debian's Dovecot with a
trustme certificate (STARTTLS on its imap port, implicit TLS on an imaps port), filled through
our client with known messages, and what a pochta data directory holds afterwards, read from its
store. Also used by bench/migrate_imap.py."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from dovecot_env import DovecotServer, dovecot_server, free_port
from pochta.config import CONFIG_FILE_NAME, load_settings
from pochta.fetch.imap_remote import ImapRemote, RemoteServer, TlsMode
from pochta.store.factory import open_store
from serve_process import POCHTA, pochta_env

REMOTE_PASSWORD = "remote-secret"
REMOTE_USER = "old@legacy.example"
LOCAL_USER = "bob@example.org"

# Dovecot's folders with RFC 6154 attributes (it then advertises SPECIAL-USE), "/" as separator.
SPECIAL_USE_NAMESPACE = """
namespace inbox {
  inbox = yes
  separator = /
  mailbox "Sent Items" {
    auto = subscribe
    special_use = \\Sent
  }
  mailbox Brouillons {
    auto = subscribe
    special_use = \\Drafts
  }
  mailbox Rubbish {
    auto = subscribe
    special_use = \\Trash
  }
  mailbox Old {
    auto = subscribe
    special_use = \\Archive
  }
}
"""


@dataclass(frozen=True)
class TlsDovecot:
    server: DovecotServer
    imaps: int
    ca_file: Path

    @property
    def imap(self) -> int:
        return self.server.imap

    def remote(self, tls: TlsMode = TlsMode.STARTTLS, **options: object) -> RemoteServer:
        port = self.imaps if tls is TlsMode.IMPLICIT else self.imap
        return RemoteServer("127.0.0.1", port, tls, str(self.ca_file), **options)  # type: ignore[arg-type]


@contextlib.contextmanager
def tls_dovecot(extra: str = "") -> Iterator[TlsDovecot]:
    """A Dovecot (imap) with a trustme certificate for 127.0.0.1: STARTTLS on ``imap``, implicit
    TLS on ``imaps``. Check ``dovecot_missing(("imap",))`` first."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory(prefix="pochta-remote-tls-") as tmp:
        files = Path(tmp)
        files.chmod(0o755)  # Dovecot's config process reads them
        cert.private_key_pem.write_to_path(str(files / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(files / "cert.pem"))
        ca.cert_pem.write_to_path(str(files / "ca.pem"))
        for path in files.iterdir():
            path.chmod(0o644)
        imaps = free_port()
        tls = f"""
auth_failure_delay = 0
ssl = yes
ssl_cert = <{files}/cert.pem
ssl_key = <{files}/key.pem
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
"""
        with dovecot_server(protocols=("imap",), password=REMOTE_PASSWORD, extra=tls + extra) as server:
            server.ports["imaps"] = imaps
            server.wait_listening()
            yield TlsDovecot(server, imaps, files / "ca.pem")


@dataclass(frozen=True)
class Sample:
    """A message put on the remote: where, its bytes, flags and internal date."""

    folder: str
    data: bytes
    flags: frozenset[str]
    date: datetime


def sample_messages(folders: Sequence[str], per_folder: int, *, size: int = 300) -> list[Sample]:
    """Distinct messages with varied flags, keywords and dates."""
    flag_cycle = [
        frozenset(),
        frozenset({"\\Seen"}),
        frozenset({"\\Seen", "\\Flagged", "$Work"}),
        frozenset({"\\Answered", "\\Seen"}),
        frozenset({"\\Draft", "Later"}),
        frozenset({"$Label1", "$Label2", "\\Deleted"}),
    ]
    samples: list[Sample] = []
    start = datetime(2019, 5, 17, 8, 30, tzinfo=UTC)
    for f, folder in enumerate(folders):
        for n in range(per_folder):
            body = (f"Line {n} of {folder}. " * (size // 30 + 1))[:size]
            data = (
                f"From: Old Sender <sender{n}@legacy.example>\r\nTo: {REMOTE_USER}\r\n"
                f"Subject: {folder} {n}\r\nMessage-ID: <{f}.{n}@legacy.example>\r\n\r\n{body}\r\n"
            ).encode()
            date = start + timedelta(days=n, minutes=f)
            samples.append(Sample(folder, data, flag_cycle[(n + f) % len(flag_cycle)], date))
    return samples


async def fill(
    server: RemoteServer,
    folders: Sequence[str],
    samples: Sequence[Sample],
    subscribe: bool = True,
    user: str = REMOTE_USER,
) -> None:
    async with await ImapRemote.connect(server) as client:
        await client.login(user, REMOTE_PASSWORD)
        existing = {folder.name for folder in await client.folders()}
        for name in folders:
            if name not in existing and name.upper() != "INBOX":
                await client.create(name)
            if subscribe:
                await client.subscribe(name)
        for sample in samples:
            await client.append(sample.folder, sample.data, sorted(sample.flags), sample.date)


def run_pochta(
    *args: str, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POCHTA, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=pochta_env()
    )


def migrate_args(data: Path, remote: RemoteServer, *extra: str, user: str = REMOTE_USER) -> list[str]:
    args = ["migrate", LOCAL_USER, f"imap://{user.replace('@', '%40')}@{remote.host}:{remote.port}"]
    args += ["--password-stdin", "--tls", remote.tls.value, "--data", str(data)]
    if remote.ca_file:
        args += ["--ca-file", remote.ca_file]
    return [*args, *extra]


def migrate(data: Path, remote: RemoteServer, *extra: str, user: str = REMOTE_USER) -> str:
    """`pochta migrate` of ``user`` into LOCAL_USER; its output (fails the test on an error)."""
    result = run_pochta(*migrate_args(data, remote, *extra, user=user), stdin=REMOTE_PASSWORD + "\n")
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def summary_value(output: str, label: str) -> int:
    """The number after ``label:`` in a migrate summary."""
    for line in output.splitlines():
        if line.startswith(label + ":"):
            return int(line.split(":", 1)[1].split()[0])
    raise AssertionError(f"no {label!r} in {output}")


@dataclass(frozen=True)
class LocalMessage:
    data: bytes
    flags: frozenset[str]
    date: datetime


async def local_messages(data_dir: Path, address: str = LOCAL_USER) -> dict[str, list[LocalMessage]]:
    """Every message of the account by mailbox name, in UID order, read from the store."""
    store = await open_store(data_dir, load_settings(data_dir / CONFIG_FILE_NAME))
    try:
        account = await store.get_account(address)
        assert account is not None
        found: dict[str, list[LocalMessage]] = {}
        for box in await store.mailboxes(account.id):
            view = await store.open_view(box.id)
            blobs = await store.read_blobs([entry.blob for entry in view])
            found[box.name] = [
                LocalMessage(blobs[entry.blob.sha256], frozenset(entry.flags), entry.internal_date)
                for entry in view
            ]
        return found
    finally:
        await store.close()


async def local_mailboxes(data_dir: Path, address: str = LOCAL_USER) -> dict[str, tuple[str | None, bool]]:
    """Mailbox name -> (special use, subscribed)."""
    store = await open_store(data_dir, load_settings(data_dir / CONFIG_FILE_NAME))
    try:
        account = await store.get_account(address)
        assert account is not None
        return {box.name: (box.special_use, box.subscribed) for box in await store.mailboxes(account.id)}
    finally:
        await store.close()
