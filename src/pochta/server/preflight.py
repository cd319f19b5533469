"""Every check a valid ``pochta.toml`` must still pass before a server can run with it.

The settings model (``pochta.config``) checks each value on its own. What it cannot see is checked
here, once, for all three users: ``pochta serve`` before it opens anything, ``pochta config check``
on demand, and a reload (SIGHUP) before it replaces the running configuration. Each problem names
the key it is about (``listeners.imaps: 127.0.0.1:1993 is also the address of listeners.imap``).

- TLS: the certificate and key files exist and load as a pair (only when a listener uses TLS; the
  default pair is created by the first start if both are missing);
- addresses: no two listeners (nor the metrics endpoint) on one address and port, counting ``*``
  as every address; no two on one UNIX socket path; a socket path that is not a socket;
- with ``bind=True``: each TCP address is bound and closed at once (in use, no permission for a
  port below 1024, an address this machine does not have); a UNIX socket path with a live listener
  behind it. Ports of a running server are in use by that server, so callers skip this while one
  runs (``pidfile.server_state``).
"""

from __future__ import annotations

import errno
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from pochta.config import LISTENER_KINDS, ListenAddress, Settings, TlsMode, parse_listen_address, resolve_path
from pochta.config import TlsSettings as _TlsSettings
from pochta.server.tls import CertificateError, server_context

__all__ = ["Problem", "check_settings"]


@dataclass(frozen=True)
class Problem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def check_settings(data_dir: Path, settings: Settings, *, bind: bool) -> list[Problem]:
    """Every problem that would stop ``pochta serve`` with these settings, short of opening
    sockets (and, with ``bind``, trying each address). An empty list means it would start."""
    problems = _check_tls(data_dir, settings)
    if settings.tls.acme and "http" not in settings.enabled_listeners():
        # RFC 8555 section 8.3: the CA fetches http-01 answers over plain HTTP (docs/certificates.md).
        problems.append(Problem("tls.acme", "needs the http listener (port 80) to answer http-01 challenges"))
    addresses = _addresses(settings)
    clashes = _check_clashes(addresses)
    problems += clashes
    problems += _check_unix_paths(addresses)
    if bind:
        clashing = {problem.key for problem in clashes}
        problems += _check_bind({key: a for key, a in addresses.items() if key not in clashing})
    return problems


def _check_tls(data_dir: Path, settings: Settings) -> list[Problem]:
    if all(LISTENER_KINDS[name].tls is TlsMode.NONE for name in settings.enabled_listeners()):
        return []
    tls, defaults = settings.tls, _TlsSettings()
    cert, key = resolve_path(data_dir, tls.certificate), resolve_path(data_dir, tls.key)
    if (tls.certificate, tls.key) == (defaults.certificate, defaults.key) and not cert.exists():
        return []  # the start creates the self-signed pair (server.listeners: ensure_certificate)
    missing = [
        Problem(name, f"no such file: {path}")
        for name, path in (("tls.certificate", cert), ("tls.key", key))
        if not path.is_file()
    ]
    if missing:
        return missing
    try:
        server_context(cert, key)
    except CertificateError as exc:
        return [Problem("tls.certificate", str(exc))]
    return []


def _addresses(settings: Settings) -> dict[str, ListenAddress]:
    """Config key -> address, for every socket the server would open."""
    result = {f"listeners.{name}": address for name, address in settings.enabled_listeners().items()}
    if settings.metrics.listen != "off":
        result["metrics.listen"] = parse_listen_address(settings.metrics.listen, allow_unix=False)
    return result


def _hosts(address: ListenAddress) -> set[str] | None:
    """The IP addresses a TCP listener binds; None for all of them (``*``)."""
    if address.host == "*":
        return None
    if address.host == "localhost":
        return {"127.0.0.1", "::1"}
    assert address.host is not None
    return {address.host}


def _check_clashes(addresses: dict[str, ListenAddress]) -> list[Problem]:
    problems: list[Problem] = []
    seen: list[tuple[str, ListenAddress]] = []
    for key, address in addresses.items():
        for other_key, other in seen:
            if address.path is not None or other.path is not None:
                clash = address.path == other.path
            elif address.port == 0 or address.port != other.port:
                clash = False  # port 0: the system picks a free port for each
            else:
                mine, theirs = _hosts(address), _hosts(other)
                clash = mine is None or theirs is None or bool(mine & theirs)
            if clash:
                also = f"is also the address of {other_key} ({other.describe()})"
                problems.append(Problem(key, f"{address.describe()} {also}"))
                break
        else:
            seen.append((key, address))
    return problems


def _check_unix_paths(addresses: dict[str, ListenAddress]) -> list[Problem]:
    problems = []
    for key, address in addresses.items():
        if address.path is None:
            continue
        try:
            mode = Path(address.path).lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISSOCK(mode):
            problems.append(Problem(key, f"{address.path} exists and is not a socket"))
    return problems


def _check_bind(addresses: dict[str, ListenAddress]) -> list[Problem]:
    problems = []
    for key, address in addresses.items():
        if address.path is not None:
            problem = _probe_unix(address.path)
        elif address.port == 0:
            continue
        else:
            problem = _probe_tcp(address)
        if problem is not None:
            problems.append(Problem(key, problem))
    return problems


def _probe_unix(path: str) -> str | None:
    if not Path(path).exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return None  # nobody answers: a stale socket file, which serve replaces
    return f"{path}: another process is listening on this socket"


def _probe_tcp(address: ListenAddress) -> str | None:
    """Bind every socket ``asyncio.create_server`` would bind for this address, then close them."""
    host = None if address.host == "*" else address.host
    try:
        infos = socket.getaddrinfo(host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{address.describe()}: cannot resolve: {exc}"
    for family, kind, proto, _name, sockaddr in {info for info in infos}:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                return _bind_failure(address, exc)
    return None


def _bind_failure(address: ListenAddress, exc: OSError) -> str:
    where = address.describe()
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is in use (another program listens there)"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: not an address of this machine"
    return f"{where}: cannot bind: {exc.strerror or exc}"
