"""One SMTP/LMTP transaction's delivery (``Delivery.begin``): its recipients as they are
accepted, the message streamed to a spool file with our trace fields in front, and the commit that
places it in every local mailbox and queues the rest (the module docstring of ``pipeline`` tells the
whole story; ``Delivery`` there is the shared service this uses)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pochta.delivery.envelope import CommitResult, Envelope, PendingRecipient, RecipientResult
from pochta.delivery.headers import HeaderBuffer, HeaderFacts, received_field, submission_fields
from pochta.delivery.resolve import Resolution
from pochta.delivery.sieve_step import SieveInput
from pochta.delivery.spam_verdict import strip_fields
from pochta.mailauth.results import AuthResults
from pochta.mime.address import SmtpPath
from pochta.proto.smtp import Reply, replies
from pochta.store.api import StoreError
from pochta.store.fetch_model import FetchMark
from pochta.store.model import AccountId, MailboxId
from pochta.store.queue_model import (
    QueueId,
    new_queue_id,
)
from pochta.store.send_limit_model import SendLimitReached
from pochta.store.spool import SpoolFile

if TYPE_CHECKING:
    from pochta.delivery.milters import MilterChain
    from pochta.delivery.pipeline import Delivery

INBOX = "INBOX"


def not_stored() -> Reply:
    return Reply(451, ("Not delivered: another recipient was refused; try again later",), "4.3.0")


@dataclass
class DeliveryTransaction:
    delivery: Delivery
    envelope: Envelope
    # One id for everything about this message: the reply ("Delivered as"/"queued as"), the
    # Received field, the log, and the outbound queue (``pochta queue show ID``).
    id: QueueId = field(default_factory=new_queue_id)
    recipients: list[PendingRecipient] = field(default_factory=list)
    _spool: SpoolFile | None = None
    _header: HeaderBuffer | None = None
    _closed: bool = False
    # What the MX's checks found (``Envelope.authenticate``), set by ``commit`` before the message is
    # placed: for Sieve, DMARC and filters, besides the Authentication-Results field it wrote.
    auth: AuthResults | None = None
    # The session's milters (docs/antispam.md), asked at end of message after the MX's own checks.
    milters: MilterChain | None = None
    # The fetcher's records of the message (docs/fetch.md), committed with it by ``store.deliver``.
    fetched: Sequence[FetchMark] = ()
    # Flags every stored copy starts with, besides those a Sieve script sets: the remote's flags
    # when the fetcher mirrors them (docs/fetch.md "IMAP").
    flags: frozenset[str] = frozenset()

    # --- recipients ------------------------------------------------------------------------------

    async def add_recipient(
        self, path: SmtpPath, *, notify: tuple[str, ...] = (), orcpt: tuple[str, str] | None = None
    ) -> RecipientResult:
        delivery = self.delivery
        if delivery.disk_low():
            return RecipientResult(path, replies.insufficient_storage())  # 452 4.3.1
        if delivery.forwarding.handles(path.local):
            bounce = await delivery.forwarding.bounce_target(path.address, self.envelope.sender.address)
            if bounce is not None and bounce.refusal is not None:
                return RecipientResult(path, bounce.refusal)
            if bounce is not None and bounce.address is not None:
                # A bounce to a forward of ours: queued back to the address it encodes.
                self.recipients.append(PendingRecipient(path, (), (bounce.address,), notify, orcpt))
                return RecipientResult(path, replies.recipient_ok())
        resolution = await delivery.resolver.resolve(path)
        quota = None
        if resolution.kind in ("local", "external"):
            quota = await delivery.quota(resolution.destinations, self.envelope.declared_size)
        return self._decide(path, resolution, notify, orcpt, quota)

    def add_recipient_now(
        self, path: SmtpPath, *, notify: tuple[str, ...] = (), orcpt: tuple[str, str] | None = None
    ) -> RecipientResult | None:
        """``add_recipient`` without waiting for anything, when all it needs is at hand: the
        resolution this process keeps, and quota usage read with it (recipients without a quota).
        None when it is not: then ``add_recipient`` answers."""
        delivery = self.delivery
        if delivery.disk_low():
            return RecipientResult(path, replies.insufficient_storage())  # 452 4.3.1
        resolution = delivery.resolver.resolve_cached(path)
        if resolution is None or delivery.forwarding.handles(path.local):
            return None
        quota = None
        if resolution.kind in ("local", "external"):
            known, quota = delivery.quota_known(resolution.destinations, self.envelope.declared_size)
            if not known:
                return None
        return self._decide(path, resolution, notify, orcpt, quota)

    def _decide(
        self,
        path: SmtpPath,
        resolution: Resolution,
        notify: tuple[str, ...],
        orcpt: tuple[str, str] | None,
        quota: Reply | None,
    ) -> RecipientResult:
        """The answer to RCPT, given the resolution and (local destinations) the quota refusal."""
        match resolution.kind:
            case "remote":
                if not self.envelope.relay:
                    return RecipientResult(path, replies.relay_denied(), remote=True)
                # Authenticated submission: queued for delivery to the remote domain.
                self.recipients.append(PendingRecipient(path, (), (path.address,), notify, orcpt))
                return RecipientResult(path, replies.recipient_ok(), remote=True)
            case "unknown":
                return RecipientResult(path, replies.unknown_user())  # RFC 3463 X.1.1
        if quota is not None:
            return RecipientResult(path, quota)
        # "local", or "external": an alias whose targets include outside addresses (forwarded
        # through the queue, besides any local targets).
        self.recipients.append(
            PendingRecipient(path, resolution.destinations, resolution.external, notify, orcpt)
        )
        return RecipientResult(path, replies.recipient_ok())

    def remote_recipients(self) -> int:
        """Recipients accepted so far that go to the outbound queue as themselves (submission)."""
        return sum(1 for rcpt in self.recipients if rcpt.path.address in rcpt.queued)

    def withdraw_recipient(self, path: SmtpPath) -> None:
        """A recipient taken back (refused by a milter at RCPT, or deleted by one at the end)."""
        self.recipients = [r for r in self.recipients if r.path.address.lower() != path.address.lower()]

    def change_sender(self, sender: SmtpPath) -> None:
        """The envelope sender a milter set (SMFIR_CHGFROM)."""
        self.envelope = dataclasses.replace(self.envelope, sender=sender)

    # --- body ------------------------------------------------------------------------------------

    def start_body(self) -> None:
        """Opens the spool file (DATA accepted with 354, or the first BDAT chunk)."""
        delivery = self.delivery
        # A small message stays in memory (server.inline_message_max): no spool file to create,
        # close and rename, and it is parsed without a trip to a worker thread.
        memory_max = delivery.settings.server.inline_message_max
        self._spool = SpoolFile(delivery.spool_dir, f"smtp-{self.id}", memory_max=memory_max)
        self._header = HeaderBuffer(delivery.settings.smtp.max_header_size)

    def write(self, chunk: bytes) -> None:
        """Message octets as they arrive. Buffered writes to the page cache; the fsync happens once,
        in a worker thread, when the store adopts the file."""
        assert self._spool is not None
        assert self._header is not None
        if not self._header.complete:
            rest = self._header.feed(chunk)
            if not self._header.complete:
                return
            self._write_header()
            chunk = rest
        if chunk:
            self._spool.write(chunk)

    def _write_header(self) -> None:
        assert self._spool is not None
        assert self._header is not None
        env = self.envelope
        now = datetime.now(UTC)
        single = _written(self.recipients[0].path) if len(self.recipients) == 1 else None
        prefix = received_field(
            helo=env.helo,
            peer=env.peer,
            hostname=self.delivery.settings.hostname,
            protocol=env.protocol,
            queue_id=self.id,
            recipient=single,
            when=now,
        )
        if env.submission:
            prefix += submission_fields(
                self._header.facts(),
                hostname=self.delivery.settings.hostname,
                queue_id=self.id,
                when=now,
                author=env.author,
            )
        self._spool.write(prefix)
        if env.authenticate:  # RFC 7601 §5: fields claiming our authserv-id are forged
            header = self.delivery.mailauth.strip_forged(bytes(self._header.data))
            # A client brings no spam verdict of its own (docs/antispam.md "rspamd").
            self._spool.write(strip_fields(header, self.delivery.settings.antispam.stripped()))
        else:
            self._spool.write(self._header.data)

    def end_body(self) -> HeaderFacts:
        """The message is complete; returns what its header says (for the caller's checks)."""
        assert self._header is not None
        if not self._header.complete:
            self._header.finish()
            self._write_header()
        return self._header.facts()

    async def read_message(self) -> bytes:
        """The finished message as stored so far (for the milters)."""
        assert self._spool is not None
        assert self._spool.finished
        return await self._spool.read()

    async def replace_message(self, data: bytes) -> None:
        """The message as the milters changed it replaces the spooled one (a new spool file)."""
        old = self._spool
        assert old is not None
        memory_max = self.delivery.settings.server.inline_message_max
        fresh = SpoolFile(self.delivery.spool_dir, f"milter-{self.id}", memory_max=memory_max)
        self._spool = fresh
        fresh.write(data)
        await fresh.finish()
        await old.discard()

    # --- commit / abort --------------------------------------------------------------------------

    async def commit(self, *, all_or_nothing: bool = False) -> CommitResult:
        """Stores the message for every accepted recipient; one reply per recipient, RCPT order.

        ``all_or_nothing`` (SMTP, which has one reply for all): when any recipient is refused
        now, nothing is stored and the others get a temporary refusal.
        """
        spool = self._spool
        assert spool is not None
        assert not spool.finished
        delivery, store = self.delivery, self.delivery.store
        size = spool.size
        try:
            await spool.finish()
            env = self.envelope
            if env.scan and delivery.settings.clamav.enabled:
                scanned = await delivery.clamav.scan(
                    size, spool.chunks(delivery.settings.clamav.chunk_size), self.id
                )
                if scanned.refusal is not None:  # a virus (or clamd failing): nothing stored
                    await self.abort()
                    return CommitResult([scanned.refusal] * len(self.recipients), 0, size)
            if env.authenticate and delivery.settings.mailauth.checks:
                mailauth = delivery.mailauth
                self.auth = await mailauth.check(
                    await spool.read(),
                    peer_ip=env.peer.strip("[]") if env.peer.startswith("[") else "",
                    mail_from=env.sender.address,
                    helo=env.helo,
                )
                # RFC 7601 §5: our field goes at the top, above the fields of other hops.
                await spool.prepend(mailauth.field(self.auth))
                size = spool.size
                refusal = await delivery.dmarc.reject(
                    self.auth, env, [r.path.domain for r in self.recipients]
                )
                if refusal is not None:  # RFC 7489 section 6.6.4 / 10.3: p=reject, nothing stored
                    await self.abort()
                    return CommitResult([refusal] * len(self.recipients), 0, size)
            quarantine = None
            if self.milters is not None:
                filtered = await self.milters.end_of_message(self)
                if filtered.refusal is not None or filtered.discard or not self.recipients:
                    await self.abort()
                    # A discard is accepted and dropped (logged by the chain).
                    kept = replies.delivered(f"Delivered as {self.id}")
                    return CommitResult([filtered.refusal or kept] * max(len(self.recipients), 1), 0, size)
                spool = self._spool
                assert spool is not None
                size, quarantine = spool.size, filtered.quarantine or filtered.junk
                env = self.envelope  # the sender a milter may have changed
            # Forwarded copies of a message the MX checked now carry our own results: ARC-sealed.
            checked = self.auth is not None
            parsed = await spool.parse(delivery.settings.mime)
            given = SieveInput(
                sender=env.sender.address,
                helo=env.helo,
                peer=env.peer,
                phase="during",  # RFC 5183 §4.1: in the SMTP/LMTP transaction
                read=spool.read,
                # RFC 5429 §2.1: a reject is answered per recipient (LMTP, or SMTP with one).
                can_refuse=not all_or_nothing or len(self.recipients) == 1,
            )
            # Per recipient, now with the real size (RCPT checked the declared SIZE only).
            placement = await delivery.place(self.recipients, parsed, size, given)
            if self.flags:
                for mailbox in placement.targets:
                    placement.flags[mailbox] = placement.flags.get(mailbox, frozenset()) | self.flags
            if self.auth is not None:  # RFC 7489 section 6.6.4: quarantine, into Junk
                await delivery.dmarc.quarantine(self.auth, placement)
            # A milter's quarantine (pochta has no hold queue) or its spam header: into Junk.
            if quarantine is not None:
                await delivery.dmarc.to_junk(placement)
            results = placement.results
            if (
                placement.work
                and not placement.targets
                and not placement.queued
                and not (placement.refused and all_or_nothing)
            ):
                # Every accepted recipient's scripts discarded or sent the message on: nothing to store.
                await delivery.finish_sieve(placement, checked=checked)
                await self.abort()
                done = replies.delivered(f"Delivered as {self.id}")
                return CommitResult([r or done for r in results], 0, size)
            if (not placement.targets and not placement.queued) or (placement.refused and all_or_nothing):
                await self.abort()
                if placement.refused and all_or_nothing:
                    return CommitResult([r or not_stored() for r in results], 0, size)
                return CommitResult([r or replies.local_error() for r in results], 0, size)
            blob = await spool.adopt(store)
            await delivery.file(blob, parsed, placement, all_or_nothing=all_or_nothing, fetched=self.fetched)
            if placement.refused and all_or_nothing:  # refused by the store: nothing was stored
                await self.abort()
                return CommitResult([r or not_stored() for r in results], 0, size)
            if placement.queued:
                remote = any(
                    rcpt.path.address in rcpt.queued
                    for rcpt, refusal in zip(self.recipients, results, strict=True)
                    if refusal is None
                )
                if remote:  # authenticated submission: the user's own address sends it
                    author = self.envelope.author
                    charge = delivery.send_limits.charge(author, len(placement.queued)) if author else None
                    try:
                        await delivery.enqueue(
                            blob,
                            self.envelope.sender,
                            placement.queued,
                            "submission",
                            self.envelope,
                            self.id,
                            charge,
                        )
                    except SendLimitReached as hit:
                        # Only at the edge (MAIL checked the counts): nothing queued. Local copies
                        # filed above stay (docs/antispam.md "Sending limits").
                        await self.abort()
                        assert author is not None
                        refusal = await delivery.limit_refusal(hit, author)
                        return CommitResult([refusal] * len(self.recipients), 0, size, limit_hit=hit)
                else:
                    sender = self.envelope.sender.address
                    await delivery.enqueue_forwards(
                        blob, sender, self.recipients, placement, self.envelope, self.id, checked=checked
                    )
            await delivery.finish_sieve(placement, checked=checked)
        except OSError:
            await self.abort()
            return CommitResult([replies.insufficient_storage()] * len(self.recipients), 0, size)
        except StoreError:
            await self.abort()
            return CommitResult([replies.local_error()] * len(self.recipients), 0, size)
        done = replies.delivered(f"Delivered as {self.id}")
        if placement.queued:
            done = replies.queued(self.id)
        final = [r or done for r in results]
        self._closed = True
        if self.auth is not None:
            await delivery.dmarc.record(self.auth, self.envelope, [r.path.domain for r in self.recipients])
        accepted = [rcpt for rcpt, r in zip(self.recipients, results, strict=True) if r is None]
        return CommitResult(
            final,
            delivered=sum(1 for rcpt in accepted if rcpt.destinations),
            size=size,
            queued=sum(1 for rcpt in accepted if rcpt.queued),
        )

    async def abort(self) -> None:
        """Drops the transaction: the spool file is removed; nothing was stored."""
        self._closed = True
        spool, self._spool = self._spool, None
        if spool is not None:
            await spool.discard()


def _written(path: SmtpPath) -> str:
    """A recipient as the client wrote it: ``postmaster`` for RCPT TO:<Postmaster> (no domain)."""
    return path.address if path.domain else path.local


def mailbox_or_inbox(account: AccountId, name: str, mailboxes: dict[tuple[int, str], MailboxId]) -> MailboxId:
    """The mailbox ``name`` when it exists, else INBOX; ``mailboxes`` as read by Resolver.refresh."""
    found = mailboxes.get((account, name)) if name != INBOX else None
    if found is None:
        found = mailboxes.get((account, INBOX))
    if found is None:
        raise StoreError(f"account {account} has no INBOX")
    return found


def sieve_refusal(reason: str) -> Reply:
    """RFC 5429 §2.1.1, §2.5: reject/ereject in the transaction: 550 5.7.1 with the script's reason."""
    # RFC 5429 §2.5: a reason of several lines is a multiline reply, no line past SMTP's limit.
    lines = [
        "".join(c if " " <= c <= "~" else "?" for c in line)[:400]
        for line in reason.replace("\r\n", "\n").split("\n")
        if line.strip()
    ][:20]
    return Reply(550, tuple(lines) or ("Rejected by the recipient's filter",), "5.7.1")
