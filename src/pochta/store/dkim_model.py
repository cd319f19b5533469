"""The DKIM signing keys of a domain as the store keeps them (RFC 6376 §3.6: a key is found by its
selector under ``_domainkey`` of the signing domain). Generating keys, naming selectors and the
rotation rules are ``pochta.queue.dkim_keys``'s; the store keeps what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DkimKey", "KeyState"]


class KeyState(StrEnum):
    """Where a key is in its life: ``pending`` (made, its DNS record not yet seen: not signing),
    ``active`` (signing), ``retiring`` (replaced: not signing, its record must stay published while
    mail it signed may still be verified)."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRING = "retiring"


@dataclass(frozen=True)
class DkimKey:
    """One key. ``algorithm`` is ``ed25519`` (RFC 8463) or ``rsa`` (RFC 6376 §3.3.1);
    ``private_key`` is what the signer reads (base64 of the 32-octet seed, or PEM);
    ``public_key`` the base64 ``p=`` of the DNS record; times are epoch seconds."""

    domain: str
    selector: str
    algorithm: str
    private_key: str
    public_key: str
    state: KeyState
    created: int
    activated: int | None = None
