"""Transactional delivery with per-recipient status (maddy ``delivery_target`` style).

    txn = delivery.begin(envelope)                 # MAIL FROM accepted
    result = await txn.add_recipient(path)         # RCPT TO: one RecipientResult each
    txn.start_body(); txn.write(chunk) ...         # DATA/BDAT, streamed to a spool file
    results = await txn.commit()                   # one reply per accepted recipient
    await txn.abort()                              # anywhere: nothing is kept

``commit`` parses the message once (off the event loop), adopts the spool file as one blob and
places it in every recipient's mailbox with one ``store.deliver`` (single-instance store, one
commit): all recipients or none become durable together; a recipient refused at commit (quota)
gets its own reply. Remote recipients (authenticated submission) and alias targets outside our
domains (forwarding) go into the outbound queue (``store.enqueue``) with the same blob. The blob is
fsync'ed by the store before any metadata refers to it, and the reply is sent only after
``deliver`` and ``enqueue`` returned (DESIGN.md principle 1).

The quota is checked three times, each by THE rule (``mail.quota``: account and domain): at RCPT with the
declared SIZE and before the commit with the real size (cheap first answers, on usage read
before), then by the store inside the write transaction, the authority. When another delivery (of
this process or another worker) filled an account in between, ``store.deliver`` raises
QuotaExceeded having stored nothing; the recipients of those accounts get the quota reply, and the
message is delivered to the others with another call (``Delivery.file``; SMTP, with one reply for
all, stores for none).

``Delivery.deliver_queued`` is the queue worker's way into the same placement, for queued mail
whose recipient is local (a bounce to a local sender, for example).

This module is ``Delivery``, the service every session shares (placement, quota, queueing); one
transaction (``txn`` above) is ``transaction.DeliveryTransaction``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pochta.config import Settings
from pochta.delivery.clamav import ClamavScanner
from pochta.delivery.dmarc_actions import DmarcActions
from pochta.delivery.envelope import Envelope, PendingRecipient, Placement
from pochta.delivery.forwarding import Forwarding
from pochta.delivery.resolve import Destination, Resolver
from pochta.delivery.send_limits import (
    SendLimitPolicy,
    account_send_limits,
    notice_recipient,
    send_limit_reply,
)
from pochta.delivery.sieve_carry import Outgoing
from pochta.delivery.sieve_run import SieveRunner
from pochta.delivery.sieve_step import SieveInput, SieveStep
from pochta.delivery.transaction import INBOX, DeliveryTransaction, mailbox_or_inbox, sieve_refusal
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.mailauth.check import MailAuth
from pochta.mime import ParsedMessage
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.proto.smtp import Reply, replies
from pochta.resolver import DnsResolver
from pochta.store.api import QuotaExceeded, Store, StoreError
from pochta.store.fetch_model import FetchMark
from pochta.store.model import AccountId, BlobRef
from pochta.store.queue_model import (
    NewQueueEntry,
    NewQueueRecipient,
    QueueEntry,
    QueueId,
    QueueOrigin,
    new_queue_id,
)
from pochta.store.send_limit_model import SendCharge, SendLimitReached
from pochta.store.spool import parse_file, spool_directory

# How long one free-space reading answers ``Delivery.disk_low``: a margin of server.min_free_disk
# (100 MB by default) is not used up by the mail of one second.
_DISK_CHECK_SECONDS = 1.0


def free_disk(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def sieve_filing(destination: Destination, parsed: ParsedMessage) -> str:
    """Where mail goes for an account without a Sieve script: the subaddress folder when the
    resolver chose one (and it exists), else INBOX. Accounts with scripts: ``SieveStep``."""
    del parsed
    return destination.folder or INBOX


def _quota_refusal(settings: Settings) -> Reply:
    return replies.mailbox_full(settings.smtp.quota_reply == "552")  # 452 4.2.2 / 552 5.2.2


class Delivery:
    """Shared by every SMTP/LMTP session of a server."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        data_dir: Path,
        *,
        ops: MailOps | None = None,
        dns: DnsResolver | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.spool_dir = spool_directory(self.data_dir)  # same filesystem as the blobs: a rename adopts
        self.ops = ops or MailOps.from_settings(store, settings)
        self.resolver = Resolver(store, settings.smtp, settings.hostname)
        self.sieve = SieveStep(SieveRunner(store, settings), self.ops, settings)
        # The process's one DNS resolver (its cache): mail authentication, the gate's blocklists,
        # DMARC report checks and, handed on by the server, the queue.
        self.dns = dns or DnsResolver.from_settings(settings)
        self.mailauth = MailAuth(settings, self.dns)
        self.forwarding = Forwarding(settings, self.data_dir, self.is_local_domain)
        self.dmarc = DmarcActions(store, settings)
        self.send_limits = SendLimitPolicy(store, account_send_limits(settings), self._enqueue_notice)
        self.clamav = ClamavScanner(settings.clamav)
        self.on_queued: Callable[[], None] | None = None  # the queue worker's wake-up
        self._disk_low = False
        self._disk_checked = -_DISK_CHECK_SECONDS  # monotonic time of the last statvfs

    def reconfigure(self, settings: Settings) -> None:
        """Settings from a reload, for transactions from now on."""
        self.settings = settings
        self.ops = MailOps.from_settings(self.store, settings)
        self.resolver = Resolver(self.store, settings.smtp, settings.hostname)
        self.dns.configure(settings)
        self.mailauth = MailAuth(settings, self.dns)
        self.forwarding = Forwarding(settings, self.data_dir, self.is_local_domain)
        self.dmarc = DmarcActions(self.store, settings)
        self.send_limits.defaults = account_send_limits(settings)
        self.clamav = ClamavScanner(settings.clamav)
        runner = self.sieve.runner
        runner.configure(settings)
        self.sieve = SieveStep(runner, self.ops, settings)

    async def is_local_domain(self, domain: str) -> bool:
        return await self.resolver.is_local_domain(domain)

    async def postmaster_address(self) -> str:
        """Where notices to the postmaster go (a sending limit hit)."""
        primary = await self.resolver.primary_domain()
        return notice_recipient(self.settings.smtp.postmaster, primary, self.settings.hostname)

    async def _enqueue_notice(self, data: bytes, recipient: str) -> None:
        blob = await self.store.put_blob(data)
        # The null sender: a notice is never bounced back (RFC 5321 §4.5.5).
        await self.enqueue(blob, "", [NewQueueRecipient(recipient, (), None)], "report")

    async def limit_refusal(self, hit: SendLimitReached, account: str) -> Reply:
        """A submission over a sending limit: logged, the postmaster told once; the reply."""
        await self.send_limits.record(hit, account, await self.postmaster_address(), self.settings.hostname)
        return send_limit_reply(hit)

    async def postmaster_reachable(self) -> bool:
        """Does ``<Postmaster>`` reach a mailbox (RFC 5321 §4.5.1)? ``pochta serve`` warns if not."""
        return (await self.resolver.resolve(SmtpPath("postmaster", ""))).kind != "unknown"

    async def place(
        self,
        recipients: Sequence[PendingRecipient],
        parsed: ParsedMessage,
        size: int,
        sieve: SieveInput | None = None,
    ) -> Placement:
        """Per recipient, with the message's real size: the Sieve scripts of its accounts (when
        ``sieve`` is given and any has one), quota, then the mailboxes it files into. The accounts,
        their quota usage and the mailboxes: one read for all."""
        decided = None
        if sieve is not None:
            # The directory version the recipients were resolved under (at RCPT): who has a script
            # is known without another read (a script activated since counts from the next message).
            decided = await self.sieve.decide(
                [(r.path.address, r.destinations, bool(r.queued)) for r in recipients],
                sieve,
                self.resolver.cache.version,
            )
        filed: list[list[tuple[AccountId, str, frozenset[str]]]] = []
        for index, rcpt in enumerate(recipients):
            entries: list[tuple[AccountId, str, frozenset[str]]] = []
            for spot, destination in enumerate(rcpt.destinations):
                effects = decided.effects[index][spot] if decided is not None else None
                if effects is None:
                    entries.append((destination.account.id, sieve_filing(destination, parsed), frozenset()))
                else:  # the script's keep and fileinto (discard: none)
                    entries.extend((f.account_id, f.name, f.flags) for f in effects.filings)
            filed.append(entries)
        every = [entry for entries in filed for entry in entries]
        current = await self.resolver.refresh(
            [d.account.id for rcpt in recipients for d in rcpt.destinations],
            [(account, box) for account, name, _ in every for box in (name, INBOX)],
        )
        placement = Placement()
        for index, (rcpt, entries) in enumerate(zip(recipients, filed, strict=True)):
            refusal = await self.quota(current.current(rcpt.destinations), size)
            if refusal is None and decided is not None and decided.refusals[index] is not None:
                refusal = sieve_refusal(decided.refusals[index] or "")
            if refusal is not None:
                placement.add(refusal)
                continue
            filing = []
            for account, name, flags in entries:
                mailbox = mailbox_or_inbox(account, name, current.mailboxes)
                filing.append((account, mailbox))
                if flags:
                    placement.flags[mailbox] = placement.flags.get(mailbox, frozenset()) | flags
            work = decided.work[index] if decided is not None else ()
            placement.add(None, filing, rcpt.queue_recipients(), work)
        return placement

    async def finish_sieve(self, placement: Placement, *, checked: bool = False) -> None:
        """After the message is stored: what the scripts of the accepted recipients send and copy.
        ``checked``: the MX checked the message in this transaction (its redirects are ARC-sealed)."""
        work = placement.work
        if work:
            await self.sieve.finish(work, functools.partial(self.send_outgoing, checked=checked))

    async def send_outgoing(self, outgoing: Outgoing, *, checked: bool = False) -> None:
        """A message a Sieve script sends (at delivery or on an IMAP event), into the outbound queue.
        ``checked``: sent at delivery of a message the MX checked in this transaction."""
        blob = await self.store.put_blob(outgoing.data)
        origin: QueueOrigin = "dsn" if outgoing.kind == "reject" else "forward"
        if checked and outgoing.kind == "redirect" and outgoing.original:
            origin = "checked-forward"  # our Authentication-Results at its top are the MX's own
        # RFC 5230 §5.1: a vacation reply asks for no DSN (NOTIFY=NEVER).
        notify = ("NEVER",) if outgoing.kind == "vacation" else ()
        recipients = [NewQueueRecipient(address, notify, None) for address in outgoing.recipients]
        sender = outgoing.sender
        if outgoing.kind == "redirect" and outgoing.forwarder:
            # SRS: the redirecting user's domain forwards it (docs/deliverability.md "SRS").
            sender = await self.forwarding.sender(sender, outgoing.forwarder.rpartition("@")[2])
        await self.enqueue(blob, sender, recipients, origin)

    async def file(
        self,
        blob: BlobRef,
        parsed: ParsedMessage,
        placement: Placement,
        *,
        all_or_nothing: bool = False,
        fetched: Sequence[FetchMark] = (),
    ) -> None:
        """``store.deliver`` into the mailboxes of the accepted recipients. The store's quota check
        is the authority (see the module docstring): the recipients of the accounts it refuses get
        the quota reply in ``placement``, and the message goes to the others with another call (none
        with ``all_or_nothing``: the caller then stores nothing at all)."""
        while placement.targets:
            try:
                await self.store.deliver(blob, parsed, list(placement.targets.values()), fetched=fetched)
                return
            except QuotaExceeded as exc:
                # RFC 9208 §3.1.2 / RFC 3463 X.2.2: over quota, now that the usage is what it is.
                if not placement.refuse(exc.accounts, _quota_refusal(self.settings)):
                    raise  # none of ours: a store bug, answered as a local error
                if all_or_nothing:
                    return

    def quota_known(self, destinations: Sequence[Destination], size: int) -> tuple[bool, Reply | None]:
        """``quota`` from the usage read with the destinations alone: (True, its answer), or
        (False, None) when a usage was not read and the store must be asked (``quota`` does)."""
        for destination in destinations:
            exceeded = destination.exceeds_quota(size)
            if exceeded is None:
                return False, None
            if exceeded:
                return True, _quota_refusal(self.settings)
        return True, None

    async def quota(self, destinations: Sequence[Destination], size: int) -> Reply | None:
        for destination in destinations:
            try:
                exceeded = destination.exceeds_quota(size)  # by the usage read with the account
                if exceeded is None:  # not read: ask the store
                    await self.ops.check_quota(destination.account.id, size)
                elif exceeded:
                    return _quota_refusal(self.settings)
            except OpsError:
                return _quota_refusal(self.settings)
            except StoreError:
                return replies.local_error()
        return None

    async def enqueue(
        self,
        blob: BlobRef,
        sender: SmtpPath | str,
        recipients: Sequence[NewQueueRecipient],
        origin: QueueOrigin,
        envelope: Envelope | None = None,
        queue_id: QueueId | None = None,
        charge: SendCharge | None = None,
    ) -> None:
        """Durable in the outbound queue when it returns; wakes this process's worker. ``queue_id``:
        the id the SMTP transaction told the client (a new one when None). ``charge``: counted
        against the sending limits in the same transaction (raises SendLimitReached)."""
        address = sender if isinstance(sender, str) else sender.address
        await self.store.enqueue(
            NewQueueEntry(
                id=queue_id or new_queue_id(),
                blob=blob,
                sender=address,
                recipients=tuple(recipients),
                origin=origin,
                arrival=datetime.now(UTC),
                envid=envelope.envid if envelope else None,
                ret=envelope.ret if envelope else None,
                body=envelope.body if envelope else None,
                smtputf8=(envelope.smtputf8 if envelope else False) or not address.isascii(),
                requiretls=envelope.requiretls if envelope else False,
                charge=charge,
            )
        )
        if self.on_queued is not None:
            self.on_queued()

    async def enqueue_forwards(
        self,
        blob: BlobRef,
        sender: str,
        recipients: Sequence[PendingRecipient],
        placement: Placement,
        envelope: Envelope | None = None,
        queue_id: QueueId | None = None,
        *,
        checked: bool = False,
    ) -> None:
        """The forwarded copies of ``placement``: one queue entry per forwarding domain (the
        domain of the address that forwarded: an alias, or an SRS address taking a bounce back),
        each with that domain's SRS envelope sender. The first entry takes ``queue_id``.
        ``checked``: the MX checked the message in this transaction (the queue ARC-seals them)."""
        origin: QueueOrigin = "checked-forward" if checked else "forward"
        groups: dict[str, list[NewQueueRecipient]] = {}
        for rcpt, queued in zip(recipients, placement.queueing, strict=True):
            if queued:
                groups.setdefault(rcpt.path.domain.lower(), []).extend(queued)
        for index, (domain, queued) in enumerate(groups.items()):
            forwarded_from = await self.forwarding.sender(sender, domain)
            await self.enqueue(
                blob, forwarded_from, queued, origin, envelope, queue_id if index == 0 else None
            )

    async def deliver_queued(self, entry: QueueEntry, addresses: Sequence[str]) -> dict[str, Reply]:
        """For the queue worker: the queued message into local mailboxes, one reply per address.

        External targets of a local alias are queued again as forwards (with the same blob)."""
        out: dict[str, Reply] = {}
        recipients: list[PendingRecipient] = []
        for address in addresses:
            path = parse_smtp_path(f"<{address}>")
            if not isinstance(path, SmtpPath):
                out[address] = replies.bad_address(f"<{address}>: {path.reason}")
                continue
            resolution = await self.resolver.resolve(path)
            if resolution.kind == "unknown":
                out[address] = replies.unknown_user()
            elif resolution.kind == "remote":  # no longer ours: the next attempt routes it out
                out[address] = Reply(451, (f"{path.domain} is no longer a local domain",), "4.3.0")
            else:
                recipients.append(PendingRecipient(path, resolution.destinations, resolution.external))
        if not recipients:
            return out
        parsed = await asyncio.to_thread(self._parse_blob, entry.blob)
        given = SieveInput(
            sender=entry.sender,
            helo=None,
            peer="unknown",
            phase="post",  # RFC 5183 §4.1: after the transaction
            read=lambda: asyncio.to_thread(self.store.read_blob, entry.blob),
            can_refuse=False,  # RFC 5429 §2.1: a reject is a DSN now
        )
        placement = await self.place(recipients, parsed, entry.blob.size, given)
        try:
            if placement.targets:
                await self.file(entry.blob, parsed, placement)
            if placement.queued:
                await self.enqueue_forwards(entry.blob, entry.sender, recipients, placement)
            await self.finish_sieve(placement)
        except StoreError as exc:
            failure = Reply(451, (f"local delivery failed: {exc}",), "4.3.0")
            return out | {r.path.address: failure for r in recipients}
        done = replies.delivered("Delivered")
        for rcpt, result in zip(recipients, placement.results, strict=True):
            out[rcpt.path.address] = result or done
        # Addresses as queued may differ in case from SmtpPath.address: answer under both.
        for address in addresses:
            if address not in out:
                path = parse_smtp_path(f"<{address}>")
                key = path.address if isinstance(path, SmtpPath) else address
                out[address] = out.get(key, replies.local_error())
        return out

    def _parse_blob(self, blob: BlobRef) -> ParsedMessage:
        with self.store.open_blob(blob) as f:
            return parse_file(f, self.settings.mime)

    def disk_low(self) -> bool:
        """RFC 5321 §4.5.3.1.10 / RFC 3463 X.3.1: below ``server.min_free_disk`` new mail is deferred.

        Asked at MAIL, RCPT and DATA of every message: the answer is kept for
        ``_DISK_CHECK_SECONDS`` rather than calling statvfs three times per message."""
        minimum = self.settings.server.min_free_disk
        if minimum <= 0:
            return False
        now = time.monotonic()
        if now < self._disk_checked + _DISK_CHECK_SECONDS:
            return self._disk_low
        try:
            low = free_disk(self.data_dir) < minimum
        except OSError:
            low = True
        self._disk_low, self._disk_checked = low, now
        return low

    def begin(self, envelope: Envelope) -> DeliveryTransaction:
        return DeliveryTransaction(self, envelope)
