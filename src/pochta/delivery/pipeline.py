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
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pochta.config import Settings
from pochta.delivery.clamav import ClamavScanner
from pochta.delivery.dmarc_actions import DmarcActions
from pochta.delivery.forwarding import Forwarding
from pochta.delivery.headers import HeaderBuffer, HeaderFacts, received_field, submission_fields
from pochta.delivery.resolve import Destination, Resolution, Resolver
from pochta.delivery.send_limits import (
    SendLimitPolicy,
    account_send_limits,
    notice_recipient,
    send_limit_reply,
)
from pochta.delivery.sieve_carry import Outgoing
from pochta.delivery.sieve_run import SieveRunner
from pochta.delivery.sieve_step import SieveInput, SieveStep
from pochta.delivery.spam_verdict import strip_fields
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.mailauth.check import MailAuth
from pochta.mailauth.results import AuthResults
from pochta.mime import ParsedMessage
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.proto.smtp import Reply, replies
from pochta.resolver import DnsResolver
from pochta.store.api import QuotaExceeded, Store, StoreError
from pochta.store.fetch_model import FetchMark
from pochta.store.model import AccountId, BlobRef, MailboxId
from pochta.store.queue_model import (
    NewQueueEntry,
    NewQueueRecipient,
    QueueEntry,
    QueueId,
    QueueOrigin,
    new_queue_id,
)
from pochta.store.send_limit_model import SendCharge, SendLimitReached
from pochta.store.spool import SpoolFile, parse_file, spool_directory

if TYPE_CHECKING:
    from pochta.delivery.milters import MilterChain

from pochta.delivery.envelope import CommitResult, Envelope, PendingRecipient, Placement, RecipientResult

INBOX = "INBOX"
# How long one free-space reading answers ``Delivery.disk_low``: a margin of server.min_free_disk
# (100 MB by default) is not used up by the mail of one second.
_DISK_CHECK_SECONDS = 1.0


def _not_stored() -> Reply:
    return Reply(451, ("Not delivered: another recipient was refused; try again later",), "4.3.0")


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
                refusal = _sieve_refusal(decided.refusals[index] or "")
            if refusal is not None:
                placement.add(refusal)
                continue
            filing = []
            for account, name, flags in entries:
                mailbox = _mailbox(account, name, current.mailboxes)
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
                    return CommitResult([r or _not_stored() for r in results], 0, size)
                return CommitResult([r or replies.local_error() for r in results], 0, size)
            blob = await spool.adopt(store)
            await delivery.file(blob, parsed, placement, all_or_nothing=all_or_nothing, fetched=self.fetched)
            if placement.refused and all_or_nothing:  # refused by the store: nothing was stored
                await self.abort()
                return CommitResult([r or _not_stored() for r in results], 0, size)
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


def _mailbox(account: AccountId, name: str, mailboxes: dict[tuple[int, str], MailboxId]) -> MailboxId:
    """The mailbox ``name`` when it exists, else INBOX; ``mailboxes`` as read by Resolver.refresh."""
    found = mailboxes.get((account, name)) if name != INBOX else None
    if found is None:
        found = mailboxes.get((account, INBOX))
    if found is None:
        raise StoreError(f"account {account} has no INBOX")
    return found


def _sieve_refusal(reason: str) -> Reply:
    """RFC 5429 §2.1.1, §2.5: reject/ereject in the transaction: 550 5.7.1 with the script's reason."""
    # RFC 5429 §2.5: a reason of several lines is a multiline reply, no line past SMTP's limit.
    lines = [
        "".join(c if " " <= c <= "~" else "?" for c in line)[:400]
        for line in reason.replace("\r\n", "\n").split("\n")
        if line.strip()
    ][:20]
    return Reply(550, tuple(lines) or ("Rejected by the recipient's filter",), "5.7.1")
