"""A JMAP upload as the store keeps it (revision 0040; ``pochta.web.jmap_upload`` owns the rules:
limits, lifetime, who may use it)."""

from __future__ import annotations

from dataclasses import dataclass

from pochta.store.model import AccountId

__all__ = ["Upload"]


@dataclass(frozen=True)
class Upload:
    account_id: AccountId
    sha256: str  # the blob's SHA-256 (hex): the store's name of the octets
    type: str  # the media type the client sent (RFC 8620 section 6.1), as given
    size: int  # octets
    created: int  # epoch seconds
