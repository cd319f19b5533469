"""Transactional local delivery: recipient resolution, quota, spool, one store commit per message.

The names below are loaded when first asked for (PEP 562): a command that needs only a light module
of this package (``pochta.delivery.send_limits``) does not import the whole pipeline (Sieve, mail
authentication, milters), which would add about half a second to every ``pochta`` command."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pochta.delivery.envelope import CommitResult, Envelope, RecipientResult
    from pochta.delivery.headers import HeaderFacts
    from pochta.delivery.pipeline import Delivery, sieve_filing
    from pochta.delivery.resolve import Destination, Resolution, Resolver
    from pochta.delivery.transaction import INBOX, DeliveryTransaction

_HOMES = {
    "CommitResult": "envelope",
    "Envelope": "envelope",
    "RecipientResult": "envelope",
    "HeaderFacts": "headers",
    "INBOX": "transaction",
    "Delivery": "pipeline",
    "DeliveryTransaction": "transaction",
    "sieve_filing": "pipeline",
    "Destination": "resolve",
    "Resolution": "resolve",
    "Resolver": "resolve",
}

__all__ = [
    "INBOX",
    "CommitResult",
    "Delivery",
    "DeliveryTransaction",
    "Destination",
    "Envelope",
    "HeaderFacts",
    "RecipientResult",
    "Resolution",
    "Resolver",
    "sieve_filing",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # asked once
    return value
