"""What an attempt's replies mean for each queued recipient: delivered, failed, or tried again when.

Pure: replies and the clock in, ``RecipientOutcome`` records and the DSN content out. The rules:
- 2xx: delivered. A DSN "delivered" (local) or "relayed" (the next server does not do DSN) goes to
  the sender only when the recipient asked for it with NOTIFY=SUCCESS (RFC 3461 §5.2.2, §6.2).
- 5xx: failed; a failure DSN unless NOTIFY excludes FAILURE (RFC 3461 §4.1).
- 4xx: tried again after the next step of the retry schedule; when that would pass ``max_age``
  after arrival, failed as expired (RFC 3463 X.4.7). Once ``delay_notice_after`` has passed, one
  delay notice (action "delayed"), unless NOTIFY excludes DELAY.
- Never a DSN to the null sender (RFC 5321 §4.5.5, RFC 3461 §6.2): that is how bounce loops end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pochta.config import QueueSettings
from pochta.proto.smtp import Reply
from pochta.queue.dsn import DsnRecipient
from pochta.store.queue_model import QueuedRecipient, QueueEntry, RecipientOutcome


@dataclass(frozen=True)
class Decision:
    outcomes: list[RecipientOutcome]
    report: list[DsnRecipient]  # what the sender should be told now (may be empty)


def reply_text(reply: Reply) -> str:
    """One line for the queue listing and the DSN's Diagnostic-Code: "550 5.1.1 text text"."""
    parts = [str(reply.code)]
    if reply.enhanced:
        parts.append(reply.enhanced)
    parts.append(" ".join(line.strip() for line in reply.lines if line.strip()))
    return " ".join(p for p in parts if p)[:990]


def status_of(reply: Reply) -> str:
    return reply.enhanced or f"{reply.code // 100}.0.0"


def retry_delay(settings: QueueSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th temporary failure (1-based); the last step repeats."""
    schedule = settings.retry_schedule
    return schedule[min(max(attempts, 1), len(schedule)) - 1]


def decide(
    entry: QueueEntry,
    replies: Mapping[int, Reply],
    settings: QueueSettings,
    now: datetime,
    *,
    remote_mta: Mapping[int, str | None],
    remote_dsn: Mapping[int, bool],
    via: Mapping[int, str | None] | None = None,
) -> Decision:
    """``replies`` by recipient id (only the recipients attempted); the outcomes to record and the
    DSN recipients to report. ``remote_mta``: the server that answered (a DSN's Remote-MTA);
    ``via``: the host last tried, answered or not (recorded for ``pochta queue show``)."""
    tell_sender = entry.sender != ""
    outcomes: list[RecipientOutcome] = []
    report: list[DsnRecipient] = []
    by_id = {r.id: r for r in entry.recipients}
    for rid, reply in replies.items():
        recipient = by_id[rid]
        text = reply_text(reply)
        mta = remote_mta.get(rid)
        tried = (via or {}).get(rid) or mta
        if 200 <= reply.code < 300:
            outcomes.append(RecipientOutcome(rid, "delivered", reply=text, remote_mta=tried))
            # NOTIFY=SUCCESS: we report it, unless the next server took on that duty (it does DSN).
            passed_on = mta is not None and remote_dsn.get(rid, False)
            if tell_sender and recipient.wants("SUCCESS") and not passed_on:
                report.append(_dsn(recipient, "delivered" if mta is None else "relayed", reply, mta, now))
            continue
        if reply.code >= 500:
            outcomes.append(RecipientOutcome(rid, "failed", reply=text, remote_mta=tried))
            if tell_sender and recipient.wants("FAILURE"):
                report.append(_dsn(recipient, "failed", reply, mta, now))
            continue
        # Temporary: again later, unless that is past the message's lifetime.
        attempts = recipient.attempts + 1
        due = now + timedelta(seconds=retry_delay(settings, attempts))
        expires = entry.arrival + timedelta(seconds=settings.max_age)
        if due > expires:
            expired = Reply(
                reply.code, (f"delivery time expired; last error: {text}",), "4.4.7"
            )  # RFC 3463 X.4.7
            outcomes.append(RecipientOutcome(rid, "failed", reply=reply_text(expired), remote_mta=tried))
            if tell_sender and recipient.wants("FAILURE"):
                report.append(_dsn(recipient, "failed", expired, mta, now, diagnostic=reply))
            continue
        notify_delay = (
            tell_sender
            and settings.delay_notice_after > 0
            and not recipient.delay_notified
            and now - entry.arrival >= timedelta(seconds=settings.delay_notice_after)
            and recipient.wants("DELAY")
        )
        outcomes.append(
            RecipientOutcome(
                rid, "pending", reply=text, remote_mta=tried, next_attempt=due, delay_notified=notify_delay
            )
        )
        if notify_delay:
            report.append(_dsn(recipient, "delayed", reply, mta, now, until=expires))
    return Decision(outcomes, report)


def _dsn(
    recipient: QueuedRecipient,
    action: Literal["failed", "delayed", "delivered", "relayed"],
    reply: Reply,
    mta: str | None,
    now: datetime,
    *,
    until: datetime | None = None,
    diagnostic: Reply | None = None,
) -> DsnRecipient:
    shown = diagnostic or reply
    return DsnRecipient(
        final_recipient=recipient.address,
        action=action,
        status=status_of(reply),
        original_recipient=recipient.orcpt,
        remote_mta=mta,
        diagnostic=reply_text(shown) if mta is not None or shown.code >= 400 else None,
        last_attempt=now,
        will_retry_until=until,
    )


def due_recipients(entry: QueueEntry, now: datetime) -> Sequence[QueuedRecipient]:
    return [r for r in entry.pending if r.next_attempt <= now]
