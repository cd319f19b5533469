"""An EmailSubmission's deliveryStatus follows its message through the outbound queue (RFC 8621
section 7: "Servers that support it SHOULD update the EmailSubmission object each time the status
of any of the recipients changes"). The queue worker tells each recorded attempt
(``QueueWorker.on_outcomes``); the submission is found by its queue id (the record's ``ref``) and
its recipients' statuses rewritten, which moves the EmailSubmission state (so /changes and push
tell the client).

A recipient the remote server accepted is "unknown", not "yes": section 7 says relaying to
another server is no proof of delivery to the mail store (a later DSN may still tell). A failed
one is "no", one deferred stays "queued"; ``smtpReply`` is the remote's last reply."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pochta.proto.jmap.submission.submission import Delivered, delivery_status
from pochta.store.api import Store
from pochta.store.jmap_record_model import JmapRecordWrite
from pochta.store.queue_model import QueueEntry, RecipientOutcome

__all__ = ["record_queue_outcomes"]

_SUBMISSION = "EmailSubmission"  # email_submission.SUBMISSION (not imported: no cycle for the queue)
_DELIVERED: dict[str, Delivered] = {"delivered": "unknown", "failed": "no", "pending": "queued"}


def _one_line(reply: str | None, status: str) -> str:
    if not reply:
        return {"delivered": "250 2.0.0 relayed", "failed": "550 5.0.0 failed"}.get(
            status, "451 4.0.0 deferred"
        )
    # RFC 8621 section 7 smtpReply: a multi-line reply as one line.
    lines = [line.strip() for line in reply.replace("\r\n", "\n").split("\n") if line.strip()]
    # The hyphen after the code becomes a space, and a later line loses the prefix it has in
    # common with the first (its code and enhanced code).
    first = lines[0][:3] + " " + lines[0][4:] if len(lines[0]) > 3 else lines[0]
    joined = [first]
    for line in lines[1:]:
        line = line[:3] + " " + line[4:] if len(line) > 3 else line
        common = next(
            (i for i, (a, b) in enumerate(zip(first, line, strict=False)) if a != b),
            min(len(first), len(line)),
        )
        joined.append(line[common:])
    return " ".join(part.strip() for part in joined if part.strip())


async def record_queue_outcomes(
    store: Store, entry: QueueEntry, outcomes: Sequence[RecipientOutcome]
) -> None:
    if entry.origin != "submission" or not outcomes:
        return
    record = await store.jmap_record_by_ref(_SUBMISSION, entry.id)
    if record is None:  # not a JMAP submission, or its record destroyed
        return
    document = json.loads(record.data)
    statuses: dict[str, dict[str, str]] = dict(document.get("deliveryStatus") or {})
    keys = {key.lower(): key for key in statuses}
    addresses = {r.id: r.address for r in entry.recipients}
    changed = False
    for outcome in outcomes:
        address = addresses.get(outcome.recipient_id)
        if address is None:
            continue
        key = keys.get(address.lower(), address)
        status = delivery_status(_one_line(outcome.reply, outcome.status), _DELIVERED[outcome.status])
        if statuses.get(key) != status:
            statuses[key] = status
            changed = True
    if changed:
        document["deliveryStatus"] = statuses
        data = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        await store.write_jmap_records(
            record.account_id, _SUBMISSION, JmapRecordWrite(updates=((record.id, data),))
        )
