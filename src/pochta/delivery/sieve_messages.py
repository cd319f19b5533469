"""The messages a Sieve run sends, as bytes for the outbound queue: vacation replies (RFC 5230 §5),
notifications by mail (RFC 5436 §2.7) and the rejection report of a message refused after the
transaction (RFC 5429 §2.1, as a DSN). Pure: no store, no clock but the one given.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from pochta.queue.dsn import DsnRecipient, DsnReport, build_dsn
from pochta.sieve.actions import NotifyAction, VacationAction
from pochta.sieve.redirect import LOOP_FIELD  # the field a redirect adds (RFC 5228 §4.2)

__all__ = ["LOOP_FIELD", "notify_message", "rejection_report", "vacation_reply"]


def _header(fields: Sequence[tuple[str, str]], *, hostname: str, now: datetime) -> EmailMessage:
    message = EmailMessage(policy=SMTPUTF8)
    for name, value in fields:
        message[name] = value
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(8)}@{hostname}>"
    return message


def _bytes(message: EmailMessage) -> bytes:
    policy = SMTP if all(value.isascii() for value in message.values()) else SMTPUTF8
    return message.as_bytes(policy=policy)


def vacation_reply(action: VacationAction, user: str, *, hostname: str, now: datetime) -> bytes:
    """RFC 5230 §5: the reply to ``action.recipient`` from the user (or :from), with the subject
    §5.3 chose, In-Reply-To/References (§5.8) and Auto-Submitted: auto-replied (§5.6)."""
    fields = [
        ("From", action.sender or user),  # RFC 5230 §5.4: :from, else the script owner's address
        ("To", action.to or action.recipient),  # RFC 5230 §5.5: the original's envelope sender
        ("Subject", action.subject),
        ("Auto-Submitted", "auto-replied"),  # RFC 5230 §5.6
    ]
    if action.in_reply_to:
        fields.append(("In-Reply-To", action.in_reply_to))  # RFC 5230 §5.8
    if action.references:
        fields.append(("References", " ".join(action.references)))
    message = _header(fields, hostname=hostname, now=now)
    if not action.mime:
        message.set_content(action.reason)
        return _bytes(message)
    # RFC 5230 §4.4 (:mime): the reason is a MIME entity, header and body, taken as it is.
    message["MIME-Version"] = "1.0"
    entity = action.reason.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    if b"\r\n\r\n" not in entity and not entity.startswith(b"\r\n"):
        entity = b"\r\n" + entity  # no header: a body alone (text/plain by default)
    return _bytes(message).rstrip(b"\r\n") + b"\r\n" + entity


def _address(text: str) -> str:
    try:
        return str(Address(addr_spec=text))
    except (ValueError, IndexError):
        return text


def notify_message(action: NotifyAction, owner: str, *, hostname: str, now: datetime) -> bytes:
    """RFC 5436 §2.7: the notification message, Auto-Submitted: auto-notified with the owner."""
    fields: list[tuple[str, str]] = [
        ("From", action.sender),
        # RFC 5436 §2.7: To the URI's addresses, its "to" headers included; Cc its "cc" ones.
        ("To", ", ".join(action.to) or ", ".join(_address(address) for address in action.recipients)),
        *([("Cc", ", ".join(action.cc))] if action.cc else []),
        ("Subject", action.subject),
        # RFC 5436 §2.7, §2.7.1: auto-notified, naming the owner of the script
        ("Auto-Submitted", f"auto-notified; owner-email={owner}"),
    ]
    if action.importance != 2:
        # RFC 5436 §2.4: Importance high/low from :importance 1/3 (a MAY)
        fields.append(("Importance", "high" if action.importance == 1 else "low"))
    reserved = {name.lower() for name, _ in fields} | {"date", "message-id", "body", "to", "cc"}
    for name, value in action.headers:
        if name.lower() not in reserved:  # RFC 5436 §2.7: the URI's other header fields
            fields.append((name, value))
    message = _header(fields, hostname=hostname, now=now)
    message.set_content(action.body if action.body is not None else action.subject)
    return _bytes(message)


def rejection_report(
    original: bytes,
    *,
    sender: str,
    recipient: str,
    reason: str,
    hostname: str,
    arrival: datetime,
    now: datetime,
) -> bytes:
    """RFC 5429 §2.1.2: a message rejected after the transaction is refused by a DSN to its
    envelope sender, the script's reason in the diagnostic."""
    text = " ".join(reason.split())[:800] or "Rejected by the recipient's filter"
    report = DsnReport(
        reporting_mta=hostname,
        recipient=sender,
        recipients=[
            DsnRecipient(
                final_recipient=recipient,
                action="failed",
                status="5.7.1",  # RFC 5429 §2.1.2: the reject's status
                diagnostic=f"sieve; {text}",
                diagnostic_type="x-pochta",
                last_attempt=now,
            )
        ],
        arrival=arrival,
    )
    return build_dsn(report, io.BytesIO(original), now=now)
