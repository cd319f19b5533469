"""Transactional local delivery: recipient resolution, quota, spool, one store commit per message."""

from pochta.delivery.envelope import CommitResult, Envelope, RecipientResult
from pochta.delivery.headers import HeaderFacts
from pochta.delivery.pipeline import INBOX, Delivery, DeliveryTransaction, sieve_filing
from pochta.delivery.resolve import Destination, Resolution, Resolver

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
