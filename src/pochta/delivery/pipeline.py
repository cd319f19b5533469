"""Transactional delivery with per-recipient status (maddy ``delivery_target`` style).

    txn = delivery.begin(envelope)                 # MAIL FROM accepted
    result = await txn.add_recipient(path)         # RCPT TO: one RecipientResult each
    txn.start_body(); txn.write(chunk) ...         # DATA/BDAT, streamed to a spool file
    results = await txn.commit()                   # one reply per accepted recipient
    await txn.abort()                              # anywhere: nothing is kept

``commit`` parses the message once (off the event loop), adopts the spool file as one blob and
places it in every recipient's mailbox with one ``store.deliver`` (single-instance store, one
commit): all recipients or none become durable together; a recipient refused at commit (quota)
gets its own reply. The blob is fsync'ed by the store before any metadata refers to it, and the
reply is sent only after ``deliver`` returned (DESIGN.md principle 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pochta.config import Settings
from pochta.delivery.headers import HeaderBuffer, HeaderFacts, received_field, submission_fields
from pochta.delivery.resolve import Destination, Resolution, Resolver
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.mime import ParsedMessage, parse_message
from pochta.mime.address import SmtpPath
from pochta.proto.smtp import Reply, replies
from pochta.store.api import Store, StoreError
from pochta.store.model import Account, MailboxId, Target

INBOX = "INBOX"


def needs_queue() -> Reply:
    """Forwarding and remote delivery wait for the outbound queue (issue 3, later part)."""
    return Reply(
        451, ("Forwarding to external addresses needs the outbound queue, not implemented yet",), "4.3.0"
    )


@dataclass(frozen=True)
class Envelope:
    sender: SmtpPath
    helo: str | None = None
    peer: str = "unknown"
    protocol: str = "ESMTP"  # RFC 3848 WITH keyword for the Received field
    declared_size: int = 0  # RFC 1870 SIZE=, 0 when not given
    submission: bool = False  # add Message-ID/Date when missing (RFC 6409 §8)


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
class _Recipient:
    path: SmtpPath
    destinations: tuple[Destination, ...]


@dataclass
class CommitResult:
    """One reply per accepted recipient, in RCPT order, and whether anything was stored."""

    replies: list[Reply]
    delivered: int = 0  # recipients that got the message
    size: int = 0
    facts: HeaderFacts | None = None


def _not_stored() -> Reply:
    return Reply(451, ("Not delivered: another recipient was refused; try again later",), "4.3.0")


def free_disk(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def sieve_filing(destination: Destination, parsed: ParsedMessage) -> str:
    """THE place Sieve (RFC 5228) will run, per recipient, in a later issue.

    Today: the subaddress folder when the resolver chose one (and it exists), else INBOX.
    """
    del parsed  # Sieve will read the parsed header here
    return destination.folder or INBOX


def _read_and_parse(path: Path, settings: Settings) -> ParsedMessage:
    return parse_message(path.read_bytes(), settings.mime)


class Delivery:
    """Shared by every SMTP/LMTP session of a server."""

    def __init__(
        self, store: Store, settings: Settings, data_dir: Path, *, ops: MailOps | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.spool_dir = self.data_dir / "blobs" / "tmp"  # same filesystem as the blobs: a rename adopts
        self.ops = ops or MailOps.from_settings(store, settings)
        self.resolver = Resolver(store, settings.smtp, settings.hostname)

    def disk_low(self) -> bool:
        """RFC 5321 §4.5.3.1.10 / RFC 3463 X.3.1: below ``server.min_free_disk`` new mail is deferred."""
        minimum = self.settings.server.min_free_disk
        if minimum <= 0:
            return False
        try:
            return free_disk(self.data_dir) < minimum
        except OSError:
            return True

    def begin(self, envelope: Envelope) -> DeliveryTransaction:
        return DeliveryTransaction(self, envelope)


@dataclass
class DeliveryTransaction:
    delivery: Delivery
    envelope: Envelope
    id: str = field(default_factory=lambda: secrets.token_hex(8).upper())
    recipients: list[_Recipient] = field(default_factory=list)
    _spool: Path | None = None
    _file: BinaryIO | None = None
    _header: HeaderBuffer | None = None
    _size: int = 0
    _closed: bool = False

    # --- recipients ------------------------------------------------------------------------------

    async def add_recipient(self, path: SmtpPath) -> RecipientResult:
        delivery = self.delivery
        if delivery.disk_low():
            return RecipientResult(path, replies.insufficient_storage())  # 452 4.3.1
        resolution = await delivery.resolver.resolve(path)
        return await self._decide(path, resolution)

    async def _decide(self, path: SmtpPath, resolution: Resolution) -> RecipientResult:
        match resolution.kind:
            case "remote":
                return RecipientResult(path, replies.relay_denied(), remote=True)
            case "unknown":
                return RecipientResult(path, replies.unknown_user())  # RFC 3463 X.1.1
            case "external":
                # An alias forwarding outside: refused honestly until the queue exists.
                return RecipientResult(path, needs_queue())
        quota = await self._quota(resolution.destinations, self.envelope.declared_size)
        if quota is not None:
            return RecipientResult(path, quota)
        self.recipients.append(_Recipient(path, resolution.destinations))
        return RecipientResult(path, replies.recipient_ok())

    async def _quota(self, destinations: Sequence[Destination], size: int) -> Reply | None:
        permanent = self.delivery.settings.smtp.quota_reply == "552"
        for destination in destinations:
            try:
                await self.delivery.ops.check_quota(destination.account.id, size)
            except OpsError:
                return replies.mailbox_full(permanent)  # 452 4.2.2 / 552 5.2.2
            except StoreError:
                return replies.local_error()
        return None

    # --- body ------------------------------------------------------------------------------------

    def start_body(self) -> None:
        """Opens the spool file (DATA accepted with 354, or the first BDAT chunk)."""
        delivery = self.delivery
        delivery.spool_dir.mkdir(parents=True, exist_ok=True)
        self._spool = delivery.spool_dir / f"smtp-{os.getpid()}-{self.id}-{secrets.token_hex(4)}.spool"
        self._file = open(self._spool, "xb")  # noqa: SIM115 - closed by commit/abort
        self._header = HeaderBuffer(delivery.settings.smtp.max_header_size)
        self._size = 0

    def write(self, chunk: bytes) -> None:
        """Message octets as they arrive. Buffered writes to the page cache; the fsync happens once,
        in a worker thread, when the store adopts the file."""
        assert self._file is not None
        assert self._header is not None
        if not self._header.complete:
            rest = self._header.feed(chunk)
            if not self._header.complete:
                return
            self._write_header()
            chunk = rest
        if chunk:
            self._file.write(chunk)
            self._size += len(chunk)

    def _write_header(self) -> None:
        assert self._file is not None
        assert self._header is not None
        env = self.envelope
        now = datetime.now(UTC)
        single = self.recipients[0].path.address if len(self.recipients) == 1 else None
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
                self._header.facts(), hostname=self.delivery.settings.hostname, queue_id=self.id, when=now
            )
        self._file.write(prefix)
        self._file.write(self._header.data)
        self._size += len(prefix) + len(self._header.data)

    def end_body(self) -> HeaderFacts:
        """The message is complete; returns what its header says (for the caller's checks)."""
        assert self._header is not None
        if not self._header.complete:
            self._header.finish()
            self._write_header()
        return self._header.facts()

    # --- commit / abort --------------------------------------------------------------------------

    async def commit(self, *, all_or_nothing: bool = False) -> CommitResult:
        """Stores the message for every accepted recipient; one reply per recipient, RCPT order.

        ``all_or_nothing`` (SMTP, which has one reply for all): when any recipient is refused
        now, nothing is stored and the others get a temporary refusal.
        """
        assert self._file is not None
        assert self._spool is not None
        delivery, store = self.delivery, self.delivery.store
        size = self._size
        file, self._file = self._file, None
        try:
            await asyncio.to_thread(file.close)
            parsed = await asyncio.to_thread(_read_and_parse, self._spool, delivery.settings)
            # Per recipient, now with the real size (RCPT checked the declared SIZE only).
            results: list[Reply | None] = []
            targets: dict[MailboxId, Target] = {}
            for rcpt in self.recipients:
                refusal = await self._quota(rcpt.destinations, size)
                if refusal is not None:
                    results.append(refusal)
                    continue
                for destination in rcpt.destinations:
                    mailbox = await self._mailbox(destination.account, sieve_filing(destination, parsed))
                    targets.setdefault(mailbox, Target(mailbox))
                results.append(None)
            refused = any(r is not None for r in results)
            if not targets or (refused and all_or_nothing):
                await self.abort()
                if refused and all_or_nothing:
                    return CommitResult([r or _not_stored() for r in results], 0, size)
                return CommitResult([r or replies.local_error() for r in results], 0, size)
            blob = await store.put_blob_file(str(self._spool))
            self._spool = None  # adopted (moved) by the store
            await store.deliver(blob, parsed, list(targets.values()))
        except OSError:
            await self.abort()
            return CommitResult([replies.insufficient_storage()] * len(self.recipients), 0, size)
        except StoreError:
            await self.abort()
            return CommitResult([replies.local_error()] * len(self.recipients), 0, size)
        done = replies.delivered(f"Delivered as {self.id}")
        final = [r or done for r in results]
        self._closed = True
        return CommitResult(final, sum(r is None for r in results), size)

    async def _mailbox(self, account: Account, name: str) -> MailboxId:
        if name != INBOX:
            info = await self.delivery.store.get_mailbox(account.id, name)
            if info is not None:
                return info.id
        info = await self.delivery.store.get_mailbox(account.id, INBOX)
        if info is None:
            raise StoreError(f"account {account.address} has no INBOX")
        return info.id

    async def abort(self) -> None:
        """Drops the transaction: the spool file is removed; nothing was stored."""
        self._closed = True
        file, self._file = self._file, None
        spool, self._spool = self._spool, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        if spool is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(spool.unlink, True)
