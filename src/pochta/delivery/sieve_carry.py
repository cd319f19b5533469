"""Carrying out what Sieve decided for one account (docs/sieve.md "At delivery"): the pure
``Outcome`` turned into mailboxes to file into, messages for the outbound queue and a refusal.

``carry`` resolves and checks everything that can fail before the message is stored: a mailbox
that does not exist (and may not be created), another user's mailbox without the post right
(RFC 4314 §2.1 ``p``), a redirect that would loop. What fails becomes an error for the user and
the message goes to INBOX instead (RFC 5228 §2.10.6: never lost). Vacation's once-per-period
record (RFC 5230 §4.2) is taken here, atomically in the store, so two workers never both reply.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pochta.delivery.sieve_messages import LOOP_FIELD, notify_message, rejection_report, vacation_reply
from pochta.delivery.sieve_run import Run
from pochta.mail.errors import Code, OpsError
from pochta.mail.names import is_inbox
from pochta.mail.ops import MailOps
from pochta.sieve import Envelope as SieveEnvelope
from pochta.sieve import SieveMessage
from pochta.sieve.actions import (
    Fcc,
    FileIntoAction,
    KeepAction,
    NotifyAction,
    RedirectAction,
    RejectAction,
    VacationAction,
)
from pochta.sieve.redirect import loops, redirect_sender, stamp
from pochta.store.api import StoreError
from pochta.store.model import Account, AccountId

__all__ = ["Copy", "Effects", "Filing", "Outgoing", "carry", "fileinto_target"]

INBOX = "INBOX"


@dataclass(frozen=True)
class Filing:
    """The message as it came, into ``name`` of ``account_id`` with ``flags``."""

    account_id: AccountId
    name: str
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Copy:
    """Other octets (the message as editheader left it, or an fcc copy) appended to a mailbox."""

    account_id: AccountId
    name: str
    flags: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """A message for the outbound queue: ``sender`` "" is the null reverse-path."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    kind: str  # "redirect", "vacation", "notify", "reject": for the log and the queue's origin
    forwarder: str = ""  # a redirect at delivery: the user's address (its domain forwards: SRS)
    original: bool = False  # a redirect of the message as received, no editheader change (ARC)


@dataclass
class Effects:
    filings: list[Filing] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    refusal: str | None = None  # the reject's reason, answered in the transaction
    errors: list[tuple[str, str]] = field(default_factory=list)  # (script, error) for the user
    duplicates: list[tuple[str, int, bool]] = field(default_factory=list)


def _shared_flags(flags: tuple[str, ...], rights: frozenset[str]) -> frozenset[str]:
    """RFC 4314 §4: the flags a user without every right may set (\\Seen: s, \\Deleted: t, others: w)."""
    kept = set()
    for flag in flags:
        need = {"\\seen": "s", "\\deleted": "t"}.get(flag.lower(), "w")
        if need in rights:
            kept.add(flag)
    return frozenset(kept)


async def fileinto_target(
    ops: MailOps, account: Account, run: Run, action: FileIntoAction, effects: Effects, label: str
) -> tuple[AccountId, str, frozenset[str]] | None:
    """Where a fileinto goes, or None (an error recorded) when it cannot go there."""
    name = action.mailbox
    if is_inbox(name):
        return account.id, INBOX, frozenset(action.flags)
    try:
        located = await ops.access.locate(account, name)
        if not located.own:
            located.require("p", "fileinto")  # RFC 4314 §2.1: post
            return located.account_id, located.name, _shared_flags(action.flags, located.rights)
        if not run.context.mailbox_exists(name):
            if not action.create:
                raise OpsError(Code.NONEXISTENT, f"mailbox {name!r} does not exist (RFC 5228 §4.1)")
            try:
                # RFC 5490 §3.2 / RFC 8579 §4: :create, with the special-use attribute when asked.
                await ops.create(account.id, name, action.special_use if action.special_use else None)
            except OpsError as error:
                if error.code != Code.ALREADYEXISTS:
                    raise
        return account.id, ops.canonical_name(name), frozenset(action.flags)
    except (OpsError, StoreError) as error:
        effects.errors.append((label, f"fileinto {name!r}: {error}; kept in INBOX"))
        return None


async def carry(
    run: Run,
    account: Account,
    data: bytes,
    envelope: SieveEnvelope,
    *,
    ops: MailOps,
    hostname: str,
    can_refuse: bool,
    max_redirects: int,
    redirect_from: str = "sender",
    now: datetime | None = None,
) -> Effects:
    """What to do for ``account``: resolved, checked, the messages to send composed."""
    moment = now or datetime.now(UTC)
    store = ops.store
    effects = Effects(errors=list(run.errors))
    label = run.labels[-1] if run.labels else "script"
    message = SieveMessage.from_bytes(data)
    fallback = False  # an action failed: the message goes to INBOX as the implicit keep would
    redirects = 0
    for action in run.outcome.actions:
        match action:
            case KeepAction():
                if action.message is not None:
                    effects.copies.append(Copy(account.id, INBOX, action.flags, action.message))
                else:
                    effects.filings.append(Filing(account.id, INBOX, frozenset(action.flags)))
            case FileIntoAction():
                target = await fileinto_target(ops, account, run, action, effects, label)
                if target is None:
                    fallback = True
                    continue
                owner, name, flags = target
                if action.message is not None:
                    effects.copies.append(Copy(owner, name, tuple(sorted(flags)), action.message))
                else:
                    effects.filings.append(Filing(owner, name, flags))
            case RedirectAction():
                address = action.address
                if (
                    address.lower() in {a.lower() for a in run.context.user_addresses}
                    or address.lower() == envelope.recipient.lower()
                ):
                    effects.errors.append(
                        (label, f"redirect to {address}: the recipient itself; kept in INBOX")
                    )
                    fallback = True
                    continue
                if loops(message, account.address, envelope.recipient):
                    # RFC 5228 §4.2: a loop; the message stays here rather than going round.
                    effects.errors.append(
                        (label, f"redirect to {address}: mail loop ({LOOP_FIELD}); kept in INBOX")
                    )
                    fallback = True
                    continue
                redirects += 1
                if redirects > max_redirects:
                    effects.errors.append(
                        (label, f"redirect to {address}: over sieve.max_redirects; kept in INBOX")
                    )
                    fallback = True
                    continue
                body = action.message if action.message is not None else data
                stamped = stamp(body, account.address)
                # RFC 5228 §4.2: the original's envelope sender unless sieve.redirect_envelope_from says.
                sender = redirect_sender(redirect_from, envelope, account.address)
                original = action.message is None  # no editheader change: our A-R is the MX's (ARC)
                effects.outgoing.append(
                    Outgoing(sender, (address,), stamped, "redirect", account.address, original)
                )
            case RejectAction():
                if can_refuse:
                    effects.refusal = action.reason  # RFC 5429 §2.1.1: refused in the transaction
                elif envelope.sender:
                    report = rejection_report(
                        data,
                        sender=envelope.sender,
                        recipient=envelope.recipient,
                        reason=action.reason,
                        hostname=hostname,
                        arrival=moment,
                        now=moment,
                    )
                    effects.outgoing.append(Outgoing("", (envelope.sender,), report, "reject"))
                # RFC 5429 §2.1.2: no DSN when the MAIL FROM is empty (the message is discarded).
            case VacationAction():
                key = hashlib.sha256(f"{action.tracking}\0{action.recipient.lower()}".encode()).hexdigest()
                try:
                    due = await store.sieve_vacation_due(
                        account.id, key, int(moment.timestamp()), action.period
                    )
                except StoreError as error:
                    effects.errors.append((label, f"vacation: {error}"))
                    continue
                if not due:
                    continue  # RFC 5230 §4.2: one reply per sender and period
                reply = vacation_reply(action, envelope.recipient, hostname=hostname, now=moment)
                # RFC 5230 §5.1: the null path, unless sieve.vacation_send_from_recipient says otherwise.
                effects.outgoing.append(
                    Outgoing(action.envelope_sender, (action.recipient,), reply, "vacation")
                )
                await _fcc(ops, account, run, action.fcc, reply, effects, label)
            case NotifyAction():
                note = notify_message(action, account.address, hostname=hostname, now=moment)
                effects.outgoing.append(Outgoing(action.envelope_sender, action.recipients, note, "notify"))
                await _fcc(ops, account, run, action.fcc, note, effects, label)
    if fallback and not any(f.account_id == account.id and f.name == INBOX for f in effects.filings):
        effects.filings.append(Filing(account.id, INBOX))
    effects.duplicates = [(d.key, d.seconds, d.last) for d in run.outcome.duplicates]
    return effects


async def _fcc(
    ops: MailOps, account: Account, run: Run, fcc: Fcc | None, data: bytes, effects: Effects, label: str
) -> None:
    """RFC 8580 §4: a copy of what the script sent, into the named mailbox (``:create``, flags)."""
    if fcc is None:
        return
    action = FileIntoAction(fcc.mailbox, fcc.flags, fcc.create, fcc.special_use)
    target = await fileinto_target(ops, account, run, action, effects, label)
    if target is not None:
        owner, name, flags = target
        effects.copies.append(Copy(owner, name, tuple(sorted(flags)), data))
