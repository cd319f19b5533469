"""Sending one EmailSubmission (RFC 8621 section 7.5) the way SMTP submission sends a message:
one delivery transaction (``Delivery.begin``) with the same envelope rules, sender policy
(``SenderPolicy``: the envelope sender, From: and Sender:), recipient resolution (local recipients
stored at once, remote ones and forwards queued), sending limits, Received and submission fields,
virus scan, and the outbound queue (DKIM-signed there, as every submission). What SMTP answers
with a reply, this answers with the SetError section 7.5 names. ``commit`` makes the message
durable (stored and queued, fsync'ed) before it returns, so before the answer.

The Email is sent as stored, without its Bcc fields (section 7.5); milters are not consulted (they
are configured for SMTP listeners and speak the milter protocol of an SMTP session)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pochta.config import Settings
from pochta.delivery import Envelope as SmtpEnvelope
from pochta.delivery.pipeline import Delivery
from pochta.delivery.transaction import DeliveryTransaction
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.proto.jmap import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.submission.envelope import Envelope, without_bcc
from pochta.proto.jmap.submission.submission import Delivered, delivery_status, smtp_reply_text
from pochta.proto.smtp import Reply
from pochta.server.smtp.policy import SenderPolicy
from pochta.store.api import Store
from pochta.store.model import Account

__all__ = ["Sent", "send_submission"]

# RFC 3848 has no WITH keyword for JMAP: the Received field names the transport it came over
# (RFC 5321 section 4.4 allows any registered or private value; pochta's own form).
_PROTOCOL = "HTTPSA"


@dataclass(frozen=True)
class Sent:
    queue_id: str  # the transaction's id (its outbound queue entry's, when anything was queued)
    delivery_status: dict[str, dict[str, str]]  # rcptTo address -> RFC 8621 DeliveryStatus
    queued: bool


def _refused(kind: SetErrorType, description: str, **extra: object) -> SetFailure:
    return SetFailure(SetError(kind, description, extra=extra))


def _reply_text(reply: Reply) -> str:
    return smtp_reply_text(reply.code, reply.enhanced, reply.lines)


async def _check_account(store: Store, account: Account) -> None:
    """The account's (or its unit's) and its domain's submission switch, as SMTP AUTH checks them."""
    if not account.settings.allows("submission"):
        raise _refused(SetErrorType.FORBIDDEN_TO_SEND, "submission is switched off for this account")
    domain = await store.get_domain(account.address.rpartition("@")[2])
    if domain is not None and not domain.protocols.allows("submission"):
        raise _refused(SetErrorType.FORBIDDEN_TO_SEND, "submission is switched off for this domain")


def _paths(envelope: Envelope, max_recipients: int) -> tuple[SmtpPath, list[SmtpPath]]:
    """The envelope as SMTP paths: the refusals of section 7.5 for its shape."""
    if any(a.parameters for a in (envelope.mail_from, *envelope.rcpt_to)):
        # The Session advertises no submissionExtensions: no parameter is honoured.
        raise SetFailure(
            SetError(SetErrorType.INVALID_PROPERTIES, "no SMTP parameters are supported", ("envelope",))
        )
    mail_from = parse_smtp_path(f"<{envelope.mail_from.email}>")
    if not isinstance(mail_from, SmtpPath):
        raise _refused(SetErrorType.FORBIDDEN_MAIL_FROM, f"not an address: {envelope.mail_from.email!r}")
    if not envelope.rcpt_to:
        raise _refused(SetErrorType.NO_RECIPIENTS, "the envelope has no recipient")
    if max_recipients and len(envelope.rcpt_to) > max_recipients:
        raise _refused(
            SetErrorType.TOO_MANY_RECIPIENTS,
            f"more than {max_recipients} recipients",
            maxRecipients=max_recipients,
        )
    paths: list[SmtpPath] = []
    invalid: list[str] = []
    for address in envelope.rcpt_to:
        path = parse_smtp_path(f"<{address.email}>")
        if isinstance(path, SmtpPath) and not path.is_null and path.domain:
            paths.append(path)
        else:
            invalid.append(address.email)
    if invalid:
        raise _refused(SetErrorType.INVALID_RECIPIENTS, "not addresses", invalidRecipients=invalid)
    return mail_from, paths


async def _add_recipients(txn: DeliveryTransaction, paths: Sequence[SmtpPath]) -> None:
    invalid: list[str] = []
    other: list[str] = []
    for path in paths:
        result = await txn.add_recipient(path)
        if result.reply.code >= 300:
            # An unknown local user (5.1.x) is an invalid recipient; anything else (full disk,
            # quota at RCPT) is a refusal to send now.
            (invalid if result.reply.enhanced and result.reply.enhanced[2:4] == "1." else other).append(
                f"{path.address}: {_reply_text(result.reply)}"
            )
    if invalid:
        raise _refused(
            SetErrorType.INVALID_RECIPIENTS,
            "; ".join(invalid),
            invalidRecipients=[item.split(": ", 1)[0] for item in invalid],
        )
    if other:
        raise _refused(SetErrorType.FORBIDDEN_TO_SEND, "; ".join(other))


async def send_submission(
    delivery: Delivery,
    store: Store,
    settings: Settings,
    account: Account,
    envelope: Envelope,
    octets: bytes,
    *,
    report: bool = False,
) -> Sent:
    """Send ``octets`` (the Email as stored) with ``envelope``; SetFailure with section 7.5's
    error when it is refused (nothing is then stored or queued). ``report``: a notification (an
    MDN) whose envelope sender may be null; its From: field is checked as any other's."""
    await _check_account(store, account)
    mail_from, paths = _paths(envelope, settings.limits.max_recipients)
    policy = SenderPolicy(store)
    # RFC 6409 section 6.1 / RFC 8621 section 7.5: the envelope sender SMTP submission would take.
    # RFC 8098 section 3: an MDN's envelope sender SHOULD be null, so that nothing answers it.
    null_report = report and mail_from.is_null
    if not null_report and not await policy.may_send_as(account, mail_from, settings.smtp):
        raise _refused(
            SetErrorType.FORBIDDEN_MAIL_FROM, f"{account.address} may not send as {mail_from.address or '<>'}"
        )
    data = without_bcc(octets)
    maximum = settings.limits.max_message_size
    if maximum and len(data) > maximum:
        raise _refused(SetErrorType.TOO_LARGE, f"the message is over {maximum} octets", maxSize=maximum)
    if delivery.disk_low():
        raise _refused(SetErrorType.FORBIDDEN_TO_SEND, "the server is short of disk space; try again later")
    txn = delivery.begin(
        SmtpEnvelope(
            sender=mail_from,
            helo=settings.hostname,
            peer="JMAP",
            protocol=_PROTOCOL,
            declared_size=len(data),
            submission=True,
            author=account.address,
            relay=True,  # RFC 6409: an authenticated submission reaches other domains
            body="8BITMIME" if any(b > 0x7F for b in data) else None,
            smtputf8=not (mail_from.address.isascii() and all(p.address.isascii() for p in paths)),
            scan=delivery.clamav.applies("submission"),
        )
    )
    try:
        await _add_recipients(txn, paths)
        remote = txn.remote_recipients()
        if remote:
            hit = await delivery.send_limits.at_mail(account.address, remote)
            if hit is not None:
                raise _refused(
                    SetErrorType.FORBIDDEN_TO_SEND,
                    _reply_text(await delivery.limit_refusal(hit, account.address)),
                )
        txn.start_body()
        txn.write(data)
        facts = txn.end_body()
        if facts.malformed:
            raise _refused(SetErrorType.INVALID_EMAIL, "the header has a line that is not a field")
        reason = await policy.header_refusal(account, facts, settings.smtp)
        if reason is not None:
            raise _refused(SetErrorType.FORBIDDEN_FROM, reason)
    except SetFailure:
        await txn.abort()
        raise
    # SMTP submission has one reply for all recipients: all stored and queued, or none.
    result = await txn.commit(all_or_nothing=True)
    refusals = [reply for reply in result.replies if reply.code >= 300]
    if refusals:
        kind = (
            SetErrorType.TOO_LARGE
            if refusals[0].code == 552 and refusals[0].enhanced == "5.3.4"
            else SetErrorType.FORBIDDEN_TO_SEND
        )
        raise _refused(kind, _reply_text(refusals[0]))
    statuses: dict[str, dict[str, str]] = {}
    for rcpt, reply in zip(txn.recipients, result.replies, strict=True):
        delivered: Delivered = "queued" if rcpt.queued and not rcpt.destinations else "yes"
        given = next(
            (a.email for a in envelope.rcpt_to if a.email.lower() == rcpt.path.address.lower()),
            rcpt.path.address,
        )
        statuses[given] = delivery_status(_reply_text(reply), delivered)
    return Sent(txn.id, statuses, queued=result.queued > 0)
