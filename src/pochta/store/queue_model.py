"""Records of the outbound queue, as the store hands them out and takes them in. No I/O.

A queued message is one blob with its envelope (sender, DSN parameters) and recipients, each with its
own state: ``pending`` (to be tried at ``next_attempt``), ``delivered`` or ``failed``. The queue
worker (``pochta.queue``) decides what happens; the store only records it atomically.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pochta.store.model import BlobRef
from pochta.store.send_limit_model import SendCharge

QueueId = str  # 16 upper-case hex digits, as told to the client: "250 2.0.0 Ok: queued as <id>"
RecipientStatus = Literal["pending", "delivered", "failed"]
# "checked-forward": a forwarded copy of mail the MX checked in the same transaction, as it was
# stored (our Authentication-Results at its top): the queue ARC-seals it (queue.arc_seal).
# "report": an aggregate report we send (DMARC, RFC 7489 section 7.2; TLS-RPT, RFC 8460).
QueueOrigin = Literal["submission", "forward", "checked-forward", "dsn", "report"]


def new_queue_id() -> QueueId:
    """THE message id of pochta: one per SMTP transaction (the reply, the Received field's ``id``, the
    log) and per queued message (``pochta queue``); 64 random bits, so several processes on one store
    never agree on one by chance."""
    return secrets.token_hex(8).upper()


_QUEUE_ID = re.compile(r"[0-9A-F]{16}\Z")


def parse_queue_id(text: str) -> QueueId:
    """An id as an administrator types it (any case), or ValueError."""
    queue_id = text.strip().upper()
    if not _QUEUE_ID.match(queue_id):
        raise ValueError(f"{text!r} is not a queue id (16 hexadecimal digits, as in 'queued as ...')")
    return queue_id


def epoch(when: datetime) -> int:
    return int(when.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class NewQueueRecipient:
    address: str
    notify: tuple[str, ...] = ()  # RFC 3461 §4.1: () when not given, ("NEVER",) or a subset
    orcpt: tuple[str, str] | None = None  # RFC 3461 §4.2: (addr-type, address), decoded


@dataclass(frozen=True)
class NewQueueEntry:
    """What ``enqueue`` takes: a blob already durable in the store, and its envelope."""

    blob: BlobRef
    sender: str  # "" is the null sender: never a DSN to it (RFC 5321 §4.5.5)
    recipients: tuple[NewQueueRecipient, ...]
    origin: QueueOrigin
    arrival: datetime
    envid: str | None = None
    ret: str | None = None
    body: str | None = None
    smtputf8: bool = False
    requiretls: bool = False  # RFC 8689: MAIL FROM ... REQUIRETLS
    next_attempt: datetime | None = None  # None: at once
    id: QueueId = field(default_factory=new_queue_id)  # the transaction's id when it has one
    # Submission: counted against the sending limits in the transaction that queues it (raises
    # SendLimitReached, and nothing is queued, when over a limit).
    charge: SendCharge | None = None


@dataclass(frozen=True)
class QueuedRecipient:
    id: int
    address: str
    notify: tuple[str, ...]
    orcpt: tuple[str, str] | None
    status: RecipientStatus
    attempts: int
    next_attempt: datetime
    last_attempt: datetime | None
    last_reply: str | None
    remote_mta: str | None
    delay_notified: bool

    def wants(self, kind: Literal["SUCCESS", "FAILURE", "DELAY"]) -> bool:
        """RFC 3461 §4.1: without NOTIFY, failures are reported (and delays at our discretion)."""
        if not self.notify:
            return kind in ("FAILURE", "DELAY")
        return kind in self.notify


@dataclass(frozen=True)
class QueueEntry:
    id: QueueId
    blob: BlobRef
    sender: str
    envid: str | None
    ret: str | None
    body: str | None
    smtputf8: bool
    origin: QueueOrigin
    arrival: datetime
    next_attempt: datetime
    lease_owner: str | None
    lease_until: datetime | None
    recipients: tuple[QueuedRecipient, ...]
    requiretls: bool = False  # RFC 8689: delivered only over validated TLS to a REQUIRETLS server

    @property
    def pending(self) -> tuple[QueuedRecipient, ...]:
        return tuple(r for r in self.recipients if r.status == "pending")


@dataclass(frozen=True)
class RecipientOutcome:
    """The result of one attempt for one recipient, as ``finish_attempt`` records it."""

    recipient_id: int
    status: RecipientStatus  # "pending" again: deferred until next_attempt
    reply: str | None = None
    remote_mta: str | None = None  # the host last tried, answered or not ("via" in `queue show`)
    next_attempt: datetime | None = None  # for "pending"
    delay_notified: bool = False  # a delay notice was sent with this attempt
