"""The MX gate of a server process: the settings, the per-address counters every session shares
(``MxLimits``, shared with the other processes by the server), the DNS resolver of mail
authentication and the store's greylisting table. ``session`` gives a connection its checks."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Protocol

from pochta.config import Settings
from pochta.delivery.gate.limits import MxLimits
from pochta.delivery.gate.session import GateSession
from pochta.mime.address import SmtpPath
from pochta.resolver import DnsResolver
from pochta.store.api_features import GreylistStore

if TYPE_CHECKING:
    from pochta.server.connection import Connection

__all__ = ["Gate"]


class HasResolver(Protocol):
    @property
    def resolver(self) -> DnsResolver: ...


class Gate:
    def __init__(self, settings: Settings, store: GreylistStore, mailauth: HasResolver) -> None:
        self.settings = settings
        self.store = store
        self.mailauth = mailauth
        self.limits = MxLimits(settings.connection_checks)
        self._configure(settings)

    def _configure(self, settings: Settings) -> None:
        self.settings = settings
        self.limits.reconfigure(settings.connection_checks)
        greylisting = settings.greylisting
        self._allowed_networks = greylisting.allowed_networks()
        self._allowed_domains = greylisting.allowed_domains()

    def reconfigure(self, settings: Settings, mailauth: HasResolver) -> None:
        self.mailauth = mailauth
        self._configure(settings)

    @property
    def resolver(self) -> DnsResolver:
        return self.mailauth.resolver  # the one of the delivery pipeline: its cache

    def session(self, conn: Connection) -> GateSession | None:
        """The checks of a connection; None for a client of trusted_networks (never checked)."""
        if self.settings.trusts(conn.peer_ip) or conn.peer_ip == "unix":
            return None
        return GateSession(self, conn)

    def greylist_allows(self, ip: str, sender: SmtpPath) -> bool:
        """Is the client or the sender's domain in ``greylisting.allow``?"""
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if any(address in network for network in self._allowed_networks):
            return True
        domain = sender.domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self._allowed_domains)
