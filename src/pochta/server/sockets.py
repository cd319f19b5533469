"""Binding listener sockets: the one place that turns a ``ListenAddress`` into listening sockets.

Used by ``Server`` when it runs alone, and by the supervisor, which binds every listener once and
hands the same sockets to all its workers (``server.supervisor``): the kernel queues a connection
on the one socket and whichever worker accepts first serves it, so a worker that dies loses no
queued connection (with SO_REUSEPORT each worker would have its own queue, lost with it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from pochta.config import ListenAddress
from pochta.log import get_logger

__all__ = ["BACKLOG", "BindError", "BoundListener", "bind", "close_all", "release_unix_path"]

# Listening socket backlog: generous, so that a burst of connects is queued rather than refused.
BACKLOG = 512
_UNIX_SOCKET_MODE = 0o660
# Seconds to find out whether an existing UNIX socket file still has a live listener behind it.
_PROBE_TIMEOUT = 1.0


class BindError(Exception):
    """The address cannot be bound; the message says why (for ``StartupError``). ``complete``: the
    message names the address itself and stands alone (else the caller names listener and address)."""

    def __init__(self, message: str, *, complete: bool = False) -> None:
        super().__init__(message)
        self.complete = complete


@dataclass
class BoundListener:
    """The listening sockets of one listener. ``unix_identity`` (device, inode) is set when this
    process created the UNIX socket file, and only then may it remove the file again."""

    sockets: list[socket.socket]
    unix_identity: tuple[int, int] | None = None

    def names(self) -> list[tuple[str, int] | str]:
        """(host, port) of each TCP socket (port 0 in the config shows as the real port), or the path."""
        names: list[tuple[str, int] | str] = []
        for sock in self.sockets:
            name = sock.getsockname()
            names.append(name if isinstance(name, str) else (str(name[0]), int(name[1])))
        return names


def bind(address: ListenAddress, backlog: int = BACKLOG) -> BoundListener:
    """Bind and listen; raises BindError. A TCP host of ``*`` means every address family (one
    socket each, IPv6 ones IPV6_V6ONLY), as asyncio's ``create_server`` does with host None."""
    if address.path is not None:
        return _bind_unix(address.path, backlog)
    assert address.port is not None
    host = None if address.host == "*" else address.host
    try:
        infos = socket.getaddrinfo(host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(str(exc)) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _canon, sockaddr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # One socket per family: without V6ONLY the IPv6 one would also claim the IPv4 port.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        close_all(sockets)
        raise BindError(str(exc)) from None
    return BoundListener(sockets)


def _bind_unix(path: str, backlog: int) -> BoundListener:
    _clear_stale_unix_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, _UNIX_SOCKET_MODE)
        sock.listen(backlog)
        sock.setblocking(False)
        info = os.stat(path)
    except OSError as exc:
        sock.close()
        raise BindError(str(exc)) from None
    return BoundListener([sock], unix_identity=(info.st_dev, info.st_ino))


def _clear_stale_unix_path(path: str) -> None:
    """Remove a stale socket file left by a crashed run, but never a live one or a non-socket."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise BindError(f"{path} exists and is not a socket; refusing to replace it", complete=True)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_TIMEOUT)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: stale
        get_logger().info("removed stale socket", path=path)
        return
    finally:
        probe.close()
    raise BindError(f"{path}: another process is listening on this socket", complete=True)


def release_unix_path(path: str, identity: tuple[int, int] | None) -> None:
    """Remove our socket file, unless another process has replaced it meanwhile."""
    if identity is None:
        return
    with contextlib.suppress(OSError):
        info = os.stat(path)
        if (info.st_dev, info.st_ino) == identity:
            os.unlink(path)


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
