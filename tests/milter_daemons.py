"""Real milters started by the tests, each with its own configuration in a temporary directory and
listening on a free port of 127.0.0.1 (never the system service): rspamd's proxy worker in milter
mode, OpenDKIM signing. Each skips with the reason when its binary is missing (CI installs them:
.ci/run). Nothing they do reaches another address: rspamd's resolver points at a closed loopback
port and the modules that fetch maps or ask DNS lists are off; OpenDKIM only signs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["opendkim_milter", "rspamd_milter"]

# rspamd modules that fetch maps over HTTP or ask DNS (lists, SPF, DKIM, reputation): off, so a
# test makes no traffic and a scan takes milliseconds.
_RSPAMD_OFF = (
    "rbl",
    "surbl",
    "fuzzy_check",
    "whitelist",
    "phishing",
    "multimap",
    "mime_types",
    "mid",
    "asn",
    "spf",
    "dkim",
    "dmarc",
    "arc",
    "hfilter",
    "rspamd_update",
    "emails",
    "url_redirector",
    "neural",
    "reputation",
    "greylist",
    "ratelimit",
)

RSPAMD_CONF = """\
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    dns {{ nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }}
worker "rspamd_proxy" {{
    bind_socket = "127.0.0.1:{port}";
    milter = yes;
    timeout = 60s;
    count = 1;
    upstream "local" {{ default = yes; self_scan = yes; }}
}}
"""
# Which headers rspamd's milter adds; by default it adds none for local or authenticated clients,
# and every test client is local.
MILTER_HEADERS = """\
use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id", "x-spam-status"];
skip_local = false;
skip_authenticated = false;
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"milter exited with {process.returncode}: {detail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    pytest.fail(f"milter not listening on 127.0.0.1:{port} after {seconds} s")


@contextlib.contextmanager
def _running(command: list[str], port: int, log: Path, seconds: float) -> Iterator[None]:
    with open(log.with_suffix(".out"), "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(port, process, seconds, log)
        yield
    finally:
        # Only what this test started: its own process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _private_dir(owner: str) -> Path:
    """A directory under /tmp the daemon's own user can use (pytest's tmp dirs are root-only)."""
    root = Path(tempfile.mkdtemp(prefix=f"pochta-{owner}-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    return root


@contextlib.contextmanager
def rspamd_milter() -> Iterator[str]:
    """rspamd's proxy worker in milter mode (self-scan); yields its ``inet:`` socket."""
    binary = shutil.which("rspamd")
    if binary is None:
        pytest.skip("rspamd not installed (Debian package rspamd)")
    root = _private_dir("_rspamd" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
    try:
        port = free_port()
        (root / "local.d").mkdir()
        (root / "db").mkdir()
        (root / "rspamd.conf").write_text(RSPAMD_CONF.format(port=port))
        (root / "local.d" / "milter_headers.conf").write_text(MILTER_HEADERS)
        for module in _RSPAMD_OFF:
            (root / "local.d" / f"{module}.conf").write_text("enabled = false;\n")
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                shutil.chown(path, "_rspamd", "_rspamd")
        command = [binary, "-f", "-c", str(root / "rspamd.conf")]
        command += ["--var", f"LOCAL_CONFDIR={root}", "--var", f"DBDIR={root / 'db'}"]
        command += ["--var", f"RUNDIR={root}", "--var", f"LOGDIR={root}"]
        if os.geteuid() == 0:
            command += ["-u", "_rspamd", "-g", "_rspamd"]
        # rspamd compiles its TLD list at start: tens of seconds on a loaded machine.
        with _running(command, port, root / "rspamd.log", 120):
            yield f"inet:127.0.0.1:{port}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def opendkim_milter(domain: str, selector: str, private_key_pem: bytes) -> Iterator[str]:
    """OpenDKIM signing mail of ``domain`` from internal hosts (127.0.0.1); yields its socket."""
    binary = shutil.which("opendkim")
    if binary is None:
        pytest.skip("opendkim not installed (Debian package opendkim)")
    root = _private_dir("opendkim" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
    try:
        port = free_port()
        key = root / "key.private"
        key.write_bytes(private_key_pem)
        key.chmod(0o600)
        lines = [
            "Syslog no",
            "Mode s",
            f"Socket inet:{port}@127.0.0.1",
            f"Domain {domain}",
            f"Selector {selector}",
            f"KeyFile {key}",
            f"PidFile {root / 'opendkim.pid'}",
            "Canonicalization relaxed/relaxed",
            "InternalHosts 127.0.0.1",
            "SignatureAlgorithm rsa-sha256",
            # The key sits under /tmp (world-writable, sticky): OpenDKIM refuses such paths by default.
            "RequireSafeKeys false",
        ]
        if os.geteuid() == 0:
            lines.append("UserID opendkim:opendkim")
            shutil.chown(key, "opendkim", "opendkim")
        (root / "opendkim.conf").write_text("\n".join(lines) + "\n")
        command = [binary, "-f", "-x", str(root / "opendkim.conf")]
        with _running(command, port, root / "opendkim.log", 30):
            yield f"inet:127.0.0.1:{port}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
