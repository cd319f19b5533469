"""What the web routes use: settings, the store (and its directory), the authenticator, the data
directory and the addresses the server listens on; and the lookups every route shares (is a domain
ours?)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.naming import InvalidName, normalize_domain, split_address
from pochta.store.api import Directory, Store, StoreError

if TYPE_CHECKING:
    from pochta.delivery.pipeline import Delivery

__all__ = ["Listening", "WebServices"]

# Listener name -> (host, port) of its first socket, or a UNIX socket path (``Server.bound_addresses``).
Listening = Callable[[], Mapping[str, tuple[str, int] | str]]


def _nothing_bound() -> Mapping[str, tuple[str, int] | str]:
    return {}


@dataclass
class WebServices:
    settings: Settings
    data_dir: Path
    store: Store
    authenticator: Authenticator
    # Set once the server is bound (``pochta.server.main``): the ports clients are told are the
    # ones really listened on (a configured port 0 becomes the real one).
    listening: Listening = field(default=_nothing_bound)
    # The server's delivery pipeline (JMAP EmailSubmission sends through it as SMTP submission
    # does); None in a web application built without one.
    delivery: Delivery | None = None

    @property
    def directory(self) -> Directory:
        return self.store

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings

    async def our_domain(self, name: str) -> str | None:
        """``name`` normalised (IDNA A-labels, lower case) if it is a domain of this server."""
        try:
            key = normalize_domain(name)
        except InvalidName:
            return None
        try:
            found = await self.directory.get_domain(key)
        except (ValueError, StoreError):
            return None
        return found.name if found is not None else None

    async def our_address(self, address: str) -> tuple[str, str] | None:
        """(address as given, normalised domain) if the address is in one of our domains; whether
        the account exists is not looked at (that would tell strangers which addresses exist)."""
        try:
            local, domain = split_address(address)
        except InvalidName:
            return None
        ours = await self.our_domain(domain)
        return (f"{local}@{ours}", ours) if ours is not None else None
