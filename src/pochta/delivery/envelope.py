"""What a delivery is given and what it gives back: the SMTP envelope (``Envelope``), the answer to
each RCPT (``RecipientResult``), where a message goes per recipient (``Placement``) and the result of
the commit (``CommitResult``). The transaction that fills them is ``pochta.delivery.pipeline``'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pochta.delivery.headers import HeaderFacts
from pochta.delivery.resolve import Destination
from pochta.delivery.sieve_step import Work
from pochta.mime.address import SmtpPath
from pochta.proto.smtp import Reply
from pochta.store.model import AccountId, MailboxId, Target
from pochta.store.queue_model import NewQueueRecipient
from pochta.store.send_limit_model import SendLimitReached


@dataclass(frozen=True)
class Envelope:
    sender: SmtpPath
    helo: str | None = None
    peer: str = "unknown"
    protocol: str = "ESMTP"  # RFC 3848 WITH keyword for the Received field
    declared_size: int = 0  # RFC 1870 SIZE=, 0 when not given
    submission: bool = False  # add Message-ID/Date when missing (RFC 6409 §8)
    author: str | None = None  # submission: the authenticated account, the From: added when missing
    relay: bool = False  # remote recipients are queued (authenticated submission); else refused
    # MAIL FROM parameters the queue passes on (RFC 1652, RFC 6531, RFC 3461 §4.3-4.4)
    body: str | None = None
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    requiretls: bool = False  # RFC 8689: the queue delivers it over validated TLS only
    # The MX, for a client outside trusted_networks: remove forged Authentication-Results,
    # verify DKIM and SPF (mailauth.dkim_verify, spf_verify) and add ours (docs/deliverability.md).
    authenticate: bool = False
    scan: bool = False  # [clamav] applies to this listener: clamd scans it at end of DATA


@dataclass(frozen=True)
class RecipientResult:
    """The answer to one RCPT: ``reply`` (250 or a refusal). ``remote`` means the domain is not
    ours: the caller decides (relay denied on the MX, the outbound queue on submission)."""

    path: SmtpPath
    reply: Reply
    remote: bool = False

    @property
    def accepted(self) -> bool:
        return 200 <= self.reply.code < 300


@dataclass
class PendingRecipient:
    """A recipient the transaction accepted, as the commit will place it."""

    path: SmtpPath
    destinations: tuple[Destination, ...]  # local mailboxes
    queued: tuple[str, ...] = ()  # addresses for the outbound queue: the recipient itself when
    # remote, or the external targets of an alias (forwarding)
    notify: tuple[str, ...] = ()  # RFC 3461 §4.1 NOTIFY, passed on with queued copies
    orcpt: tuple[str, str] | None = None  # RFC 3461 §4.2 ORCPT

    def queue_recipients(self) -> list[NewQueueRecipient]:
        # RFC 3461 §4.2 / §5.2.3: the original recipient travels with forwarded copies, so a DSN
        # names the address the sender used.
        orcpt = self.orcpt or (("rfc822", self.path.address) if self.path.domain else None)
        return [NewQueueRecipient(address, self.notify, orcpt) for address in self.queued]


@dataclass
class Placement:
    """Where one message goes, per recipient: a refusal or None, the (account, mailbox) pairs it
    files into and what it puts in the outbound queue."""

    results: list[Reply | None] = field(default_factory=list)
    filing: list[tuple[tuple[AccountId, MailboxId], ...]] = field(default_factory=list)
    queueing: list[list[NewQueueRecipient]] = field(default_factory=list)
    # Sieve (docs/sieve.md "At delivery"): the flags of each mailbox filed into, and per recipient
    # the work carried out once the message is stored.
    flags: dict[MailboxId, frozenset[str]] = field(default_factory=dict)
    sieve: list[list[Work]] = field(default_factory=list)

    def add(
        self,
        refusal: Reply | None,
        filing: Sequence[tuple[AccountId, MailboxId]] = (),
        queueing: Sequence[NewQueueRecipient] = (),
        work: Sequence[Work] = (),
    ) -> None:
        self.results.append(refusal)
        self.filing.append(tuple(filing) if refusal is None else ())
        self.queueing.append(list(queueing) if refusal is None else [])
        self.sieve.append(list(work) if refusal is None else [])

    @property
    def refused(self) -> bool:
        return any(r is not None for r in self.results)

    @property
    def targets(self) -> dict[MailboxId, Target]:
        """The local mailboxes of the accepted recipients, each once."""
        return {
            mailbox: Target(mailbox, self.flags.get(mailbox, frozenset()))
            for pairs in self.filing
            for _, mailbox in pairs
        }

    @property
    def work(self) -> list[Work]:
        return [work for works in self.sieve for work in works]

    @property
    def queued(self) -> list[NewQueueRecipient]:
        return [rcpt for rcpts in self.queueing for rcpt in rcpts]

    def refuse(self, accounts: frozenset[AccountId], refusal: Reply) -> bool:
        """Refuse every accepted recipient filing into one of ``accounts``; True if any was."""
        changed = False
        for index, pairs in enumerate(self.filing):
            if self.results[index] is None and any(account in accounts for account, _ in pairs):
                self.results[index] = refusal
                self.filing[index] = ()
                self.queueing[index] = []
                self.sieve[index] = []
                changed = True
        return changed


@dataclass
class CommitResult:
    """One reply per accepted recipient, in RCPT order, and whether anything was stored."""

    replies: list[Reply]
    delivered: int = 0  # recipients stored into a local mailbox
    size: int = 0
    facts: HeaderFacts | None = None
    queued: int = 0  # recipients (remote, or an alias forwarding elsewhere) put in the outbound queue
    limit_hit: SendLimitReached | None = None  # submission refused by a sending limit (nothing stored)
