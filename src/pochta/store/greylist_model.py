"""A greylisting triplet as the store keeps it (``greylist``, revision 0029); what the times mean and
how a row moves on is ``pochta.delivery.gate.greylist``'s."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GreylistRow"]


@dataclass(frozen=True)
class GreylistRow:
    client: str  # the client's network: "192.0.2.0/24", "2001:db8::/64"
    sender: str  # the normalised envelope sender ("" for the null sender)
    recipient: str  # the recipient address, lower-case
    sender_domain: str  # the sender's domain ("" for the null sender)
    first_seen: int  # epoch seconds of the first attempt (of this round)
    last_seen: int  # epoch seconds of the last accepted message (or the first attempt)
    passed: int = 0  # epoch seconds the triplet passed; 0: still waiting for its retry
