"""Debian's Dovecot as a peer: started by hand with its own configuration in a temporary directory.

Used by the differential test (tests/interop/test_dovecot_differential.py) and by the side-by-side
benchmark (bench/vs_dovecot.py). Nothing is installed here: ``dovecot_missing`` says what is absent
(``apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd``).

``dovecot -F -c CONFIG`` runs in the foreground, stopped by its PID. Everything lives under one
temporary directory: ``base_dir`` (run/), ``state_dir`` (state/), the log (dovecot.log), mail
(mail/%u, maildir or sdbox) and homes. Each listener binds 127.0.0.1 on a free port. As root, mail
is kept as ``nobody`` (Dovecot refuses uid 0) and Dovecot's own processes use the users the Debian
package created (dovecot, dovenull); otherwise everything runs as the current user, no chroot.

Passwords: either one static password for every user (``password=``) or a passwd-file of
``user -> {SCHEME}secret`` lines (``users=``), for example ``{ARGON2ID}$argon2id$...`` so that a login
costs Dovecot the same hash verification as pochta.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

APT_LINE = "apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved dovecot-sieve"
LIBEXEC = Path("/usr/lib/dovecot")

_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = {protocols}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = {uid}
first_valid_gid = {gid}
{users}
mail_location = {mail_format}:{root}/mail/%u
passdb {{
  driver = {passdb_driver}
  args = {passdb_args}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u allow_all_users=yes
}}
"""

_LOGIN_SERVICE = """\
service {proto}-login {{
  inet_listener {proto} {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener {proto}s {{
    port = 0
  }}
  {chroot}
}}
"""

_LMTP_SERVICE = """\
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


def dovecot_missing(protocols: Iterable[str]) -> str | None:
    """Why Dovecot cannot serve ``protocols`` here (None when it can)."""
    if dovecot_binary() is None:
        return f"dovecot is not installed ({APT_LINE})"
    absent = [proto for proto in protocols if not (LIBEXEC / proto).exists()]
    if absent:
        return f"dovecot's {', '.join(absent)} is not installed ({APT_LINE})"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DovecotServer:
    """A running Dovecot: its directory, process and ports by protocol (imap, pop3, lmtp,
    managesieve)."""

    root: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def imap(self) -> int:
        return self.ports["imap"]

    @property
    def lmtp(self) -> int:
        return self.ports["lmtp"]

    @property
    def pop3(self) -> int:
        return self.ports["pop3"]

    @property
    def managesieve(self) -> int:
        return self.ports["managesieve"]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports.values():
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {self.log_text()}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not listen on {port}: {self.log_text()}")
                time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the master by its PID (it stops its children), SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)


def write_config(
    root: Path,
    *,
    protocols: Iterable[str],
    mail_format: str = "maildir",
    password: str | None = None,
    users: Mapping[str, str] | None = None,
    extra: str = "",
) -> tuple[Path, dict[str, int]]:
    """The directories and ``dovecot.conf`` under ``root``; the config path and the chosen ports.
    ``extra`` is appended to the configuration (plugins and their settings, say)."""
    protocols = list(protocols)
    # Dovecot's processes (mail as an unprivileged user when we are root) must reach the directory.
    root.chmod(0o755)
    if os.geteuid() == 0:
        for parent in root.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                # Else its auth processes cannot reach the passwd-file and every login answers
                # "Temporary authentication failure" (a tempfile.mkdtemp parent is 0700).
                raise RuntimeError(f"{parent} is not searchable by Dovecot's processes: chmod o+x it")
        # Dovecot refuses to keep mail as root: store it as nobody. Its own processes use the
        # users the Debian package created (dovecot, dovenull).
        uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        user_lines, chroot = "", ""
    else:
        # Unprivileged: everything runs as the current user, no chroot.
        uid, gid = os.getuid(), os.getgid()
        name, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        user_lines = (
            f"default_login_user = {name}\ndefault_internal_user = {name}\n"
            f"default_internal_group = {group}\n"  # its sockets cannot be given to group dovecot
        )
        chroot = "chroot ="
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(exist_ok=True)
    for sub in ("mail", "home"):
        os.chown(root / sub, uid, gid)
    if users is not None:
        passwd = root / "passwd"
        passwd.write_text("".join(f"{user}:{secret}::::::\n" for user, secret in users.items()))
        passwd.chmod(0o644)
        driver, args = "passwd-file", str(passwd)
    elif password is not None:
        driver, args = "static", f"password={password}"
    else:
        raise ValueError("a password or users")
    ports = {proto: free_port() for proto in protocols}
    text = _CONF.format(
        root=root,
        # Dovecot's protocol is "sieve"; its service and binary are managesieve(-login).
        protocols=" ".join("sieve" if proto == "managesieve" else proto for proto in protocols),
        uid=uid,
        gid=gid,
        users=user_lines,
        mail_format=mail_format,
        passdb_driver=driver,
        passdb_args=args,
    )
    for proto in protocols:
        if proto == "lmtp":
            text += _LMTP_SERVICE.format(port=ports[proto])
        else:
            text += _LOGIN_SERVICE.format(proto=proto, port=ports[proto], chroot=chroot)
    config = root / "dovecot.conf"
    config.write_text(text + extra)
    return config, ports


@contextlib.contextmanager
def dovecot_server(
    *,
    protocols: Iterable[str] = ("imap", "lmtp"),
    mail_format: str = "maildir",
    password: str | None = None,
    users: Mapping[str, str] | None = None,
    parent: Path | None = None,
    keep: bool = False,
    extra: str = "",
) -> Iterator[DovecotServer]:
    """A Dovecot on free loopback ports in a new temporary directory, stopped and removed on exit
    (kept when ``keep``). Check ``dovecot_missing`` first."""
    protocols = list(protocols)
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError(f"dovecot is not installed ({APT_LINE})")
    root = Path(tempfile.mkdtemp(prefix="pochta-dovecot-", dir=parent))
    server: DovecotServer | None = None
    try:
        config, ports = write_config(
            root, protocols=protocols, mail_format=mail_format, password=password, users=users, extra=extra
        )
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        server = DovecotServer(root, process, ports)
        server.wait_listening()
        yield server
    finally:
        if server is not None:
            server.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def dovecot_peer(
    protocols: Iterable[str] = ("imap",), *, password: str, extra: str = ""
) -> Iterator[DovecotServer]:
    """The body of a test module's Dovecot fixture: ``yield from dovecot_peer(...)``. Skips with
    the reason when Dovecot or a protocol of it is missing (an interop test: CI's
    POCHTA_REQUIRE_INTEROP=1 turns that skip into a failure)."""
    import pytest  # here, not at the top: bench/ imports this module without pytest

    protocols = tuple(protocols)
    missing = dovecot_missing(protocols)
    if missing:
        pytest.skip(missing)
    with dovecot_server(protocols=protocols, password=password, extra=extra) as server:
        yield server
