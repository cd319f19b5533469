"""One run of one external account (docs/fetch.md): connect, list, download what is new, deliver it
through the normal local delivery, delete on the remote what the account says to, record the state.

The rules that make a run safe to kill at any instant:
- A message's record (``fetched_messages``) commits in the same store transaction as the message
  (``DeliveryTransaction.fetched``): after a crash it is either stored and recorded, or neither,
  and the next run fetches it again in the second case only.
- DELE is sent only for messages whose record is committed, and POP3 deletes at QUIT (RFC 1939 §6):
  a run killed before QUIT deletes nothing; the next one sees the records and deletes them then.
  IMAP the same way: \\Deleted and UID EXPUNGE at the end of the run (``imap_source``).
- Two runs of one account never overlap: each holds the store lock ``fetch-<id>`` (a ``flock``, or
  an advisory lock on PostgreSQL), across the server's workers and ``pochta fetch run``.

Quota full, a message over ``fetch.max_message_size``, or a delivery refused otherwise: the message
stays on the remote (never deleted) and the run reports it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import random
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pochta.config import Settings
from pochta.delivery import Delivery, Destination, Envelope
from pochta.fetch import imap_keys
from pochta.fetch.imap_source import connect_imap
from pochta.fetch.pop3_remote import connect_pop3
from pochta.fetch.remote import ACTIONABLE, FetchError, RemoteMessage, RemoteSource, client_tls_context
from pochta.fetch.secrets import SecretError, decrypt_password
from pochta.log import get_logger
from pochta.mail import flags as flagrules
from pochta.mail.errors import Code, InvalidFlag, OpsError
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.store.api import StoreError
from pochta.store.fetch_model import FetchAccount, FetchMark, FetchRunResult
from pochta.store.model import Account

__all__ = ["FetchReport", "Fetcher", "backoff_delay", "lock_name"]


def lock_name(fetch_id: int) -> str:
    return f"fetch-{fetch_id}"


def backoff_delay(failures: int, initial: float, cap: float, rnd: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: doubling from ``initial`` up to
    ``cap``, then a random part of it from half to all ("equal jitter"), so accounts failing
    together (a remote host down) do not all retry at the same instant."""
    full = min(cap, initial * 2.0 ** max(0, min(failures - 1, 30)))
    jitter = rnd.uniform(0, full / 2) if rnd is not None else random.uniform(0, full / 2)
    return full / 2 + jitter


@dataclass
class FetchReport:
    """What one run did, for ``pochta fetch run``, the log and the account's state."""

    fetch_id: int
    source: str  # "pop3://login@host:port"
    busy: bool = False  # another run of the account held its lock: nothing was done
    listed: int = 0
    fetched: int = 0
    deleted: int = 0
    known: int = 0  # fetched before (and still on the remote in keep mode)
    left: list[str] = field(default_factory=list)  # why each left message was left
    error: FetchError | None = None
    notified: bool = False  # this run told the user about its error by a message

    @property
    def result(self) -> str:
        return "ok" if self.error is None else self.error.kind

    def summary(self) -> str:
        if self.busy:
            return f"{self.source}: another run of this account is in progress; nothing done"
        text = f"{self.source}: {self.fetched} fetched, {self.deleted} deleted on the remote"
        text += f", {self.known} fetched before, {len(self.left)} left on the remote"
        if self.error is not None:
            text += f"; failed ({self.error.kind}): {self.error.message}"
        return text


def describe(account: FetchAccount) -> str:
    host = f"[{account.host}]" if ":" in account.host else account.host
    return f"{account.protocol}://{account.login}@{host}:{account.port}"


class Fetcher:
    """Runs external accounts into local mailboxes; shared by the scheduler and the CLI."""

    def __init__(self, delivery: Delivery, data_dir: Path, server_secret: bytes) -> None:
        self.delivery = delivery
        self.store = delivery.store
        self.data_dir = Path(data_dir)
        self._secret = server_secret
        self.log = get_logger(task="fetch")

    @property
    def settings(self) -> Settings:
        """The delivery's: a reload of the configuration reaches both."""
        return self.delivery.settings

    async def run(self, account: FetchAccount) -> FetchReport:
        """One run under the account's lock, its state recorded (next run, counts, error notice)."""
        report = FetchReport(account.id, describe(account))
        lock = await self.store.try_lock(lock_name(account.id))
        if lock is None:
            report.busy = True
            return report
        try:
            # Read again under the lock: the state a run just before us left (and the row may be gone).
            current = await self.store.fetch_account(account.id)
            if current is None:
                report.error = FetchError("local", "the external account was deleted")
                return report
            await self._run_locked(current, report)
            await self._record(current, report)
        finally:
            await lock.release()
        self.log.info(
            "fetch run",
            fetch_id=account.id,
            source=report.source,
            result=report.result,
            fetched=report.fetched,
            deleted=report.deleted,
            left=len(report.left),
            error=report.error.message if report.error else None,
        )
        return report

    async def _run_locked(self, account: FetchAccount, report: FetchReport) -> None:
        local = await self.store.get_account_by_id(account.account_id)
        if local is None:
            report.error = FetchError("local", "the local account is gone")
            return
        remote: RemoteSource | None = None
        try:
            remote = await self._connect(account)
            await self._download(account, local, remote, report)
            await remote.finish()  # POP3 QUIT: the DELEs take effect only now
            remote = None
        except FetchError as exc:
            report.error = exc
        except StoreError as exc:
            report.error = FetchError("local", f"storing failed: {exc}")
        finally:
            if remote is not None:
                await remote.close()  # without QUIT: nothing marked is deleted

    async def _connect(self, account: FetchAccount) -> RemoteSource:
        try:
            password = decrypt_password(self._secret, account.account_id, account.secret)
        except SecretError as exc:
            raise FetchError("local", f"{exc}; set the password again (pochta fetch del, add)") from None
        fetch = self.settings.fetch
        try:
            context = client_tls_context(fetch.ca_file, self.data_dir)
        except (OSError, ssl.SSLError) as exc:
            raise FetchError("local", f"fetch.ca_file {fetch.ca_file!r} cannot be used: {exc}") from None
        if account.protocol == "imap":
            return await connect_imap(
                account.host,
                account.port,
                account.tls,
                account.login,
                password,
                imap_keys.ImapOptions.from_json(account.options).folders,
                context=context,
                connect_timeout=fetch.connect_timeout,
                command_timeout=fetch.command_timeout,
                max_message_size=fetch.max_message_size,
            )
        return await connect_pop3(
            account.host,
            account.port,
            account.tls,
            account.login,
            password,
            context=context,
            connect_timeout=fetch.connect_timeout,
            command_timeout=fetch.command_timeout,
            max_message_size=fetch.max_message_size,
        )

    async def _download(
        self, account: FetchAccount, local: Account, remote: RemoteSource, report: FetchReport
    ) -> None:
        fetch = self.settings.fetch
        listed = await remote.messages()
        report.listed = len(listed)
        report.left.extend(remote.problems)
        known = await self.store.fetched_keys(account.id)
        budget = fetch.max_messages_per_run
        wanted: list[RemoteMessage] = []
        for message in listed:
            if message.key in known:
                report.known += 1
                if not account.keep:  # recorded by a run that did not get to QUIT
                    await remote.delete(message)
                    report.deleted += 1
            elif message.size > fetch.max_message_size:
                report.left.append(f"{message.key}: {message.size} octets, over fetch.max_message_size")
            elif budget <= 0:
                report.left.append(f"{message.key}: over fetch.max_messages_per_run, next run")
            else:
                budget -= 1
                wanted.append(message)
        mirror = account.protocol == "imap" and imap_keys.ImapOptions.from_json(account.options).mirror_flags
        folders: dict[str | None, str | None] = {account.folder: account.folder}  # wanted -> made
        async for message, data in remote.retrieve(wanted):
            keys = remote.record_keys(message, data)
            marks = [FetchMark(account.id, key) for key in keys]
            if remote.stored_before(keys, known):
                # The same bytes, fetched before the folder's UIDVALIDITY changed: recorded, not
                # delivered again (docs/fetch.md "IMAP accounts").
                await self.store.mark_fetched(marks, int(time.time()))
                report.known += 1
            else:
                flags = _mirrored(message.flags) if mirror else frozenset()
                wanted_folder = remote.local_folder(message, account.folder)
                if wanted_folder not in folders:
                    folders[wanted_folder] = await self._make_folder(local, wanted_folder, account)
                folder = folders[wanted_folder]
                refusal = await self._deliver(account, local, remote.peer, data, marks, flags, folder)
                if refusal is not None:
                    report.left.append(f"{message.key}: {refusal}")
                    continue
                report.fetched += 1
            known.update(keys)
            if not account.keep:  # only now that its record is committed (docs/fetch.md)
                await remote.delete(message)
                report.deleted += 1
        # Records of messages no longer on the remote (deleted there, by us or another client)
        # serve nothing (the source says which: POP3 by unique-id, IMAP by folder and UID).
        gone = remote.stale(known)
        if gone:
            await self.store.forget_fetched(account.id, gone)

    async def _deliver(
        self,
        account: FetchAccount,
        local: Account,
        peer: str,
        data: bytes,
        marks: list[FetchMark],
        flags: frozenset[str],
        folder: str | None,
    ) -> str | None:
        """The message through the normal local delivery (quota, Sieve, a Received field naming
        the source), recorded as fetched in the same commit, each copy with ``flags``. None when it
        is stored (or a Sieve script discarded it: handled too), else why it was not."""
        delivery = self.delivery
        envelope = Envelope(
            sender=_return_path(data),
            helo=account.host,  # Received: from HOST (PEER) by us with POP3 (RFC 5321 §4.4)
            peer=peer,
            protocol=account.protocol.upper(),
            declared_size=len(data),
        )
        local_part, _, domain = local.address.rpartition("@")
        txn = delivery.begin(envelope)
        answer = await txn.add_recipient(SmtpPath(local_part, domain))
        if not answer.accepted:
            return f"{answer.reply.code} {' '.join(answer.reply.lines)}"
        if folder:
            rcpt = txn.recipients[0]
            rcpt.destinations = (
                tuple(_in_folder(d, folder) for d in rcpt.destinations if d.account.id == local.id)
                or rcpt.destinations
            )
        txn.fetched = marks
        txn.flags = flags
        txn.start_body()
        txn.write(data)
        txn.end_body()
        result = await txn.commit()
        reply = result.replies[0]
        if result.delivered:
            return None
        if 200 <= reply.code < 300:
            # Accepted without being stored: the account's Sieve script discarded or redirected it.
            await self.store.mark_fetched(marks, int(time.time()))
            return None
        return f"{reply.code} {' '.join(reply.lines)}"

    async def _make_folder(self, local: Account, name: str | None, account: FetchAccount) -> str | None:
        """The local folder a remote folder's mail goes to, made when missing (with its parents);
        when our rules refuse the name, the account's folder (or INBOX), said in the log."""
        if name is None:
            return None
        ops = self.delivery.ops
        try:
            canonical = ops.canonical_name(name, creating=True)
            if await self.store.get_mailbox(local.id, canonical) is None:
                await ops.create(local.id, canonical)
        except OpsError as exc:
            if exc.code != Code.ALREADYEXISTS:  # made meanwhile by a client: fine
                # Not left on the remote: filed, only elsewhere; the log says so.
                self.log.warning("fetch folder refused", fetch_id=account.id, folder=name, error=str(exc))
                return account.folder
            canonical = ops.canonical_name(name)
        return canonical

    async def _record(self, account: FetchAccount, report: FetchReport) -> None:
        fetch = self.settings.fetch
        now = int(time.time())
        notified: str | None = None
        if report.error is None:
            delay = fetch.poll_interval * random.uniform(0.9, 1.0)
            if account.notified:
                notified = ""  # a success: the next error is told again
        else:
            delay = backoff_delay(account.failures + 1, fetch.backoff_initial, fetch.backoff_max)
            kind = report.error.kind
            if kind in ACTIONABLE and account.notified != kind:
                # Told once: not again on every poll, only after a success or another error.
                await self._notify(account, report.error)
                notified = kind
                report.notified = True
        await self.store.record_fetch_run(
            account.id,
            FetchRunResult(
                when=now,
                result=report.result,
                error=report.error.message if report.error else "",
                fetched=report.fetched,
                left=len(report.left),
                next_run=now + int(delay),
                notified=notified,
            ),
        )

    async def _notify(self, account: FetchAccount, error: FetchError) -> None:
        """A message into the user's INBOX saying what failed and what to do."""
        local = await self.store.get_account_by_id(account.account_id)
        if local is None:
            return
        data = error_notice(account, local.address, error, self.settings.hostname)
        await self.delivery.ops.append(local.id, "INBOX", data)


_ADVICE = {
    "auth": "The server refused the user name or password. If the password changed, remove this "
    "account and add it again with the new one (pochta fetch del, pochta fetch add).",
    "certificate": "The server's certificate could not be verified (expired, self-signed, or for "
    "another name). Check the host name; an administrator may trust its authority with fetch.ca_file.",
    "unreachable": "The server could not be reached. Check the host name and port; it may also be "
    "down for a while, and fetching goes on trying.",
    "tls": "A secure connection could not be made as configured (the server offers no STARTTLS, "
    "or the TLS handshake failed). Check the TLS mode and port.",
}


def error_notice(account: FetchAccount, address: str, error: FetchError, hostname: str) -> bytes:
    """The notice the user gets once per error (docs/fetch.md "Errors")."""
    now = datetime.now(UTC)
    source = describe(account)
    body = (
        f"Fetching mail from {account.login} at {account.host} (external account {account.id}) failed:\r\n"
        f"\r\n    {error.message}\r\n\r\n{_ADVICE.get(error.kind, '')}\r\n\r\n"
        f"You get this message once; `pochta fetch status` shows the state of every run.\r\n"
    )
    head = (
        f"From: Mail fetcher <postmaster@{hostname}>\r\n"
        f"To: <{address}>\r\n"
        f"Subject: Cannot fetch mail from {account.login}@{account.host}\r\n"
        f"Date: {email.utils.format_datetime(now)}\r\n"
        f"Message-ID: <fetch-{account.id}-{int(now.timestamp())}@{hostname}>\r\n"
        f"Auto-Submitted: auto-generated\r\n"  # RFC 3834 section 5: no automatic reply to it
        f"X-Pochta-Fetch: {json.dumps({'id': account.id, 'source': source, 'kind': error.kind})}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + body).encode("utf-8")


# --mirror-flags: the remote's flags the local copy starts with. \Deleted is the remote's business
# (and \Recent a session's, RFC 3501 §2.3.2): neither is copied.
_MIRRORED_SYSTEM = frozenset({"\\seen", "\\flagged", "\\answered", "\\draft"})


def _mirrored(flags: frozenset[str]) -> frozenset[str]:
    kept: list[str] = []
    for flag in flags:
        if flag.startswith("\\"):
            if flag.lower() in _MIRRORED_SYSTEM:
                kept.append(flag)
            continue
        try:
            flagrules.canonical_flag(flag)  # a keyword our rules accept (RFC 9051 §9 flag-keyword)
        except InvalidFlag:
            continue
        kept.append(flag)
    return flagrules.normalize_flags(kept)


def _in_folder(destination: Destination, folder: str) -> Destination:
    return dataclasses.replace(destination, folder=folder)


def _return_path(data: bytes) -> SmtpPath:
    """The envelope sender the message was delivered with (its Return-Path field, RFC 5321 §4.4),
    for Sieve's envelope tests; the null path when it has none."""
    end = data.find(b"\r\n\r\n")
    header = data[: end if end >= 0 else min(len(data), 65536)]
    for line in header.split(b"\r\n"):
        if line[:12].lower() == b"return-path:":
            path = parse_smtp_path(line[12:].strip().decode("utf-8", "replace"))
            if isinstance(path, SmtpPath):
                return path
            break
    return SmtpPath("", "")
