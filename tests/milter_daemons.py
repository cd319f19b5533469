"""Real milters started by the tests, each with its own configuration in a temporary directory and
listening on a free port of 127.0.0.1 (never the system service): rspamd's proxy worker in milter
mode, OpenDKIM signing. Each skips with the reason when its binary is missing (CI installs them:
.ci/run). Nothing they do reaches another address: rspamd's resolver points at a closed loopback
port and the modules that fetch maps or ask DNS lists are off; OpenDKIM only signs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "RspamdLearning",
    "opendkim_milter",
    "opendmarc_milter",
    "redis_server",
    "rspamd_learning",
    "rspamd_milter",
]

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
# The controller worker (learning, /stat) for the training tests; every test client is local,
# so rspamd would take it without the password: it is set and sent all the same.
RSPAMD_CONTROLLER = """\
worker "controller" {{
    bind_socket = "127.0.0.1:{port}";
    count = 1;
    password = "{password}";
    enable_password = "{password}";
    secure_ip = [];
}}
"""
# Bayes statistics in the test's own redis; learning needs no minimum of earlier learns.
CLASSIFIER_BAYES = """\
backend = "redis";
servers = "127.0.0.1:{port}";
min_learns = 1;
users_enabled = true;
"""
# Which headers rspamd's milter adds; by default it adds none for local or authenticated clients,
# and every test client is local.
MILTER_HEADERS = """\
use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id", "x-spam-status"];
skip_local = false;
skip_authenticated = false;
"""


# Symbols of the tests' own: a Subject containing POCHTA-TEST-SPAM scores 8, past rspamd's default
# add-header threshold (6) and below its reject (15), a full scan (its milter headers added); one
# containing POCHTA-TEST-SOFT is rspamd's soft reject.
LOCAL_LUA = """\
rspamd_config.POCHTA_TEST_SPAM = {
  callback = function(task)
    local subject = task:get_subject()
    return subject ~= nil and subject:find("POCHTA-TEST-SPAM", 1, true) ~= nil
  end,
  score = 8.0,
  description = "pochta's tests: a message meant to be spam",
}
-- POCHTA-TEST-SOFT: rspamd's "soft reject" action (what its greylist and ratelimit modules decide).
rspamd_config:register_symbol({
  name = "POCHTA_TEST_SOFT",
  type = "prefilter",
  priority = 10,
  callback = function(task)
    local subject = task:get_subject()
    if subject ~= nil and subject:find("POCHTA-TEST-SOFT", 1, true) ~= nil then
      task:set_pre_result("soft reject", "Try again later", "pochta")
    end
  end,
})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect(where: int | Path) -> socket.socket:
    if isinstance(where, Path):
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(1)
            sock.connect(str(where))
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection(("127.0.0.1", where), timeout=1)


def _wait_listening(where: int | Path, process: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = ""
            for path in (log, log.with_suffix(".out")):
                detail += path.read_text(errors="replace")[-2000:] if path.exists() else ""
            pytest.fail(f"milter exited with {process.returncode}: {detail}")
        with contextlib.suppress(OSError), _connect(where):
            return
        time.sleep(0.2)
    pytest.fail(f"milter not listening on {where} after {seconds} s")


@contextlib.contextmanager
def _running(command: list[str], port: int | Path, log: Path, seconds: float) -> Iterator[None]:
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
def redis_server() -> Iterator[int]:
    """A redis of the test's own on a free loopback port, without persistence; yields the port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    root = Path(tempfile.mkdtemp(prefix="pochta-redis-"))
    try:
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(root), "--logfile", str(root / "redis.log"), "--daemonize", "no"]
        with _running(command, port, root / "redis.log", 30):
            yield port
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class RspamdLearning:
    milter: str  # the milter's inet: socket
    controller: str  # http://127.0.0.1:PORT
    password: str


@contextlib.contextmanager
def rspamd_learning() -> Iterator[RspamdLearning]:
    """rspamd's milter with its controller worker and Bayes statistics in a redis of its own."""
    password = "learn-" + os.urandom(6).hex()
    with redis_server() as redis_port:
        controller_port = free_port()
        extra = RSPAMD_CONTROLLER.format(port=controller_port, password=password)
        local = {"classifier-bayes.conf": CLASSIFIER_BAYES.format(port=redis_port)}
        with rspamd_milter(extra, local) as milter:
            yield RspamdLearning(milter, f"http://127.0.0.1:{controller_port}", password)


@contextlib.contextmanager
def rspamd_milter(extra: str = "", local: dict[str, str] | None = None) -> Iterator[str]:
    """rspamd's proxy worker in milter mode (self-scan); yields its ``inet:`` socket. ``extra``:
    more of rspamd.conf (another worker); ``local``: more local.d files by name."""
    binary = shutil.which("rspamd")
    if binary is None:
        pytest.skip("rspamd not installed (Debian package rspamd)")
    root = _private_dir("_rspamd" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
    try:
        port = free_port()
        (root / "local.d").mkdir()
        (root / "db").mkdir()
        (root / "rspamd.conf").write_text(RSPAMD_CONF.format(port=port) + extra)
        (root / "local.d" / "milter_headers.conf").write_text(MILTER_HEADERS)
        (root / "rspamd.local.lua").write_text(LOCAL_LUA)
        for module in _RSPAMD_OFF:
            (root / "local.d" / f"{module}.conf").write_text("enabled = false;\n")
        for name, text in (local or {}).items():
            (root / "local.d" / name).write_text(text)
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


# Run inside OpenDMARC's own network namespace: the loopback DNS stub (tests/dns_stub.py) on port 53,
# since OpenDMARC asks the system resolver, which /etc/resolv.conf (bind-mounted in a private mount
# namespace) points at it. argv: tests directory, the zone as JSON.
_DNS_IN_NAMESPACE = """\
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from dns_stub import DnsStub
zone = {tuple(key.split(" ")): value for key, value in json.loads(sys.argv[2]).items()}
async def main():
    stub = DnsStub(zone)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: stub, local_addr=("127.0.0.1", 53))
    stub._transport = transport  # what __aenter__ does, on port 53
    await asyncio.Event().wait()
asyncio.run(main())
"""


@contextlib.contextmanager
def opendmarc_milter(authserv_id: str, zone: dict[tuple[str, str], list[str]]) -> Iterator[str]:
    """OpenDMARC rejecting DMARC failures, checking SPF itself; yields its ``unix:`` socket.

    It runs in its own network and mount namespaces (``unshare``, root only): its DNS questions
    reach only a DNS stub inside the namespace answering from ``zone``, and the milter socket is
    a UNIX socket in the temporary directory, reachable from outside."""
    binary, unshare = shutil.which("opendmarc"), shutil.which("unshare")
    if binary is None:
        pytest.skip("opendmarc not installed (Debian package opendmarc)")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("OpenDMARC's DNS is kept on a namespace's loopback: needs unshare and root")
    root = _private_dir("opendmarc")
    try:
        sock = root / "opendmarc.sock"
        (root / "ignore").write_text("")
        (root / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        lines = [
            "Syslog false",
            f"Socket local:{sock}",
            f"PidFile {root / 'opendmarc.pid'}",
            f"AuthservID {authserv_id}",
            f"TrustedAuthservIDs {authserv_id}",
            f"IgnoreHosts {root / 'ignore'}",  # not the default 127.0.0.1: every test client is local
            "RejectFailures true",
            "SPFSelfValidate true",
            "SPFIgnoreResults true",
            "FailureReports false",
            "RequiredHeaders false",
            "DNSTimeout 2",
            "UserID opendmarc",
            "UMask 000",
        ]
        (root / "opendmarc.conf").write_text("\n".join(lines) + "\n")
        (root / "namespace_dns.py").write_text(_DNS_IN_NAMESPACE)  # not dns.py: it would hide dnspython
        zone_json = json.dumps({f"{name} {rdtype}": records for (name, rdtype), records in zone.items()})
        tests = str(Path(__file__).resolve().parent)
        script = (
            'set -e; ip link set lo up; mount --bind "$1/resolv.conf" /etc/resolv.conf; '
            f'"{sys.executable}" "$1/namespace_dns.py" "$2" "$3" & '
            f'exec {binary} -f -c "$1/opendmarc.conf"'
        )
        command = [unshare, "--net", "--mount", "sh", "-c", script, "sh", str(root), tests, zone_json]
        with _running(command, sock, root / "opendmarc.log", 30):
            yield f"unix:{sock}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@contextlib.contextmanager
def clamd_daemon() -> Iterator[tuple[str, str]]:
    """clamd (Debian clamav-daemon) with a signature database of its own: the EICAR test file by
    MD5 and size (no freshclam, no internet). Yields its ``unix:`` and ``inet:`` sockets."""
    binary = shutil.which("clamd") or ("/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None)
    if binary is None:
        pytest.skip("clamd not installed (Debian package clamav-daemon)")
    root = Path(tempfile.mkdtemp(prefix="pochta-clamd-"))
    try:
        (root / "db").mkdir()
        digest = hashlib.md5(EICAR).hexdigest()
        (root / "db" / "eicar.hdb").write_text(f"{digest}:{len(EICAR)}:Eicar-Test-Signature\n")
        port = free_port()
        lines = [
            "Foreground yes",
            f"LocalSocket {root / 'clamd.sock'}",
            "TCPAddr 127.0.0.1",
            f"TCPSocket {port}",
            f"DatabaseDirectory {root / 'db'}",
            f"LogFile {root / 'clamd.log'}",
            f"TemporaryDirectory {root}",
            f"PidFile {root / 'clamd.pid'}",
            "SelfCheck 0",
        ]
        if os.geteuid() == 0:
            lines.append("User root")
        (root / "clamd.conf").write_text("\n".join(lines) + "\n")
        with _running([binary, "-c", str(root / "clamd.conf")], port, root / "clamd.log", 60):
            yield f"unix:{root / 'clamd.sock'}", f"inet:127.0.0.1:{port}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
