"""What mail clients are told to connect to: the access and submission listeners that are really
listening, in the order a client should prefer them, for autoconfig, Autodiscover and
.mobileconfig alike (one owner of that list).

Implicit TLS comes before STARTTLS (RFC 8314 section 3), IMAP before POP3. The port is the one the
server bound (``WebServices.listening``), which is the configured one unless that is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.config import parse_listen_address
from pochta.web.services import WebServices

__all__ = ["Endpoint", "endpoints", "preferred"]

Kind = Literal["imap", "pop3", "smtp"]

# Listener name -> (kind, implicit TLS), in order of preference.
_LISTENERS: tuple[tuple[str, Kind, bool], ...] = (
    ("imaps", "imap", True),
    ("imap", "imap", False),
    ("pop3s", "pop3", True),
    ("pop3", "pop3", False),
    ("submissions", "smtp", True),
    ("submission", "smtp", False),
)


@dataclass(frozen=True)
class Endpoint:
    kind: Kind
    listener: str
    port: int
    implicit_tls: bool  # False: STARTTLS (the listener offers it; password logins need it)


def endpoints(services: WebServices) -> list[Endpoint]:
    """Every client listener that is on, best first."""
    bound = services.listening()
    configured = services.settings.listeners
    found = []
    for name, kind, implicit in _LISTENERS:
        address = configured.get(name, "off")
        if address == "off":
            continue
        where = bound.get(name)
        port = where[1] if isinstance(where, tuple) else parse_listen_address(address, allow_unix=False).port
        if port:  # 0 with nothing bound (yet): nothing to tell a client
            found.append(Endpoint(kind, name, port, implicit))
    return found


def preferred(services: WebServices, kind: Kind) -> Endpoint | None:
    """The best endpoint of ``kind``, None when no such listener is on."""
    return next((endpoint for endpoint in endpoints(services) if endpoint.kind == kind), None)
