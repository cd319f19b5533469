"""The listener part of the settings: which listener names exist, their protocol, TLS mode and
default address, and the parser of the addresses an operator writes (``pochta.config`` re-exports
all of it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "LISTENER_KINDS",
    "NOT_YET_AVAILABLE",
    "UNIX_SOCKET_LISTENERS",
    "ListenAddress",
    "ListenerKind",
    "TlsMode",
    "parse_listen_address",
]


class TlsMode(StrEnum):
    """How a listener offers TLS."""

    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"


@dataclass(frozen=True)
class ListenerKind:
    """What a listener name means: its protocol, TLS mode and first-run default address."""

    protocol: str
    tls: TlsMode
    default: str


# The listener names an operator may configure. Defaults are the unprivileged ports of DESIGN.md so
# that a first run needs no root; production configs set the standard ports (25, 587, 465 ...).
LISTENER_KINDS: dict[str, ListenerKind] = {
    "smtp": ListenerKind("smtp", TlsMode.STARTTLS, "127.0.0.1:2525"),
    "submission": ListenerKind("submission", TlsMode.STARTTLS, "127.0.0.1:1587"),
    "submissions": ListenerKind("submission", TlsMode.IMPLICIT, "127.0.0.1:1465"),
    "lmtp": ListenerKind("lmtp", TlsMode.NONE, "127.0.0.1:2424"),
    "imap": ListenerKind("imap", TlsMode.STARTTLS, "127.0.0.1:1143"),
    "imaps": ListenerKind("imap", TlsMode.IMPLICIT, "127.0.0.1:1993"),
    "pop3": ListenerKind("pop3", TlsMode.STARTTLS, "127.0.0.1:1110"),
    "pop3s": ListenerKind("pop3", TlsMode.IMPLICIT, "127.0.0.1:1995"),
    "managesieve": ListenerKind("managesieve", TlsMode.STARTTLS, "127.0.0.1:4190"),  # RFC 5804 §1.8
    # HTTP (docs/http.md): the MTA-STS policy, client autoconfiguration, ACME http-01 challenges.
    "http": ListenerKind("http", TlsMode.NONE, "127.0.0.1:8080"),
    "https": ListenerKind("http", TlsMode.IMPLICIT, "127.0.0.1:8443"),
}

# Listener names of services pochta does not have yet. Nothing is ever listened for in their name
# (a server must not advertise what it cannot serve); configuring one with an address is an error
# that says so, and "off" is accepted so that a config written by an older `pochta init` still loads.
NOT_YET_AVAILABLE: dict[str, str] = {}

# Listeners that may also listen on a UNIX socket path instead of host:port.
UNIX_SOCKET_LISTENERS = frozenset({"lmtp"})


@dataclass(frozen=True)
class ListenAddress:
    """A parsed listener address: TCP ``host:port`` or a UNIX socket path."""

    host: str | None
    port: int | None
    path: str | None

    def describe(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        assert self.host is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen_address(value: str, *, allow_unix: bool) -> ListenAddress:
    """Parse ``host:port``, ``[v6]:port`` or (where allowed) an absolute socket path.

    Raises ValueError with a message fit for an operator.
    """
    value = value.strip()
    if value.startswith("/") or value.startswith("unix:"):
        if not allow_unix:
            raise ValueError("a UNIX socket path is only allowed for lmtp")
        path = value.removeprefix("unix:")
        if not path.startswith("/"):
            raise ValueError(f"UNIX socket path must be absolute, got {path!r}")
        return ListenAddress(None, None, path)
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or value[close + 1 : close + 2] != ":":
            raise ValueError(f"expected [ipv6]:port, got {value!r}")
        host, port_text = value[1:close], value[close + 2 :]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected host:port, got {value!r}")
        if ":" in host:
            raise ValueError(f"write IPv6 addresses as [addr]:port, got {value!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port}")
    if host not in ("localhost", "*"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"host must be an IP address, 'localhost' or '*', got {host!r}") from None
    return ListenAddress(host, port, None)
