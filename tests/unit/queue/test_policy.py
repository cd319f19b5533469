"""policy.decide: what each reply means for a queued recipient, and who is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pochta.config import QueueSettings
from pochta.proto.smtp import Reply
from pochta.queue.policy import decide, due_recipients, reply_text, retry_delay
from pochta.store.model import BlobRef
from pochta.store.queue_model import QueuedRecipient, QueueEntry

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = QueueSettings(retry_schedule=[60, 600], max_age=3600, delay_notice_after=1800)


def _recipient(
    rid: int, *, notify: tuple[str, ...] = (), attempts: int = 0, notified: bool = False
) -> QueuedRecipient:
    return QueuedRecipient(
        id=rid,
        address=f"r{rid}@remote.example",
        notify=notify,
        orcpt=("rfc822", f"r{rid}@remote.example"),
        status="pending",
        attempts=attempts,
        next_attempt=T0,
        last_attempt=None,
        last_reply=None,
        remote_mta=None,
        delay_notified=notified,
    )


def _entry(*recipients: QueuedRecipient, sender: str = "alice@example.org") -> QueueEntry:
    return QueueEntry(
        id=1,
        blob=BlobRef("a" * 64, 10),
        sender=sender,
        envid=None,
        ret=None,
        body=None,
        smtputf8=False,
        origin="submission",
        arrival=T0,
        next_attempt=T0,
        lease_owner="w",
        lease_until=T0,
        recipients=recipients,
    )


OK = Reply(250, ("ok",), "2.0.0")
TEMP = Reply(451, ("greylisted", "come back later"), "4.7.1")
PERM = Reply(550, ("no such user",), "5.1.1")


def _decide(entry: QueueEntry, replies: dict[int, Reply], now: datetime = T0, dsn: bool = False):  # type: ignore[no-untyped-def]
    mtas = {rid: "mx.remote.example" for rid in replies}
    return decide(entry, replies, SETTINGS, now, remote_mta=mtas, remote_dsn={rid: dsn for rid in replies})


def test_reply_text_and_schedule() -> None:
    assert reply_text(TEMP) == "451 4.7.1 greylisted come back later"
    assert reply_text(Reply(421, ("x",))) == "421 x"
    assert [retry_delay(SETTINGS, n) for n in (1, 2, 3, 9)] == [60, 600, 600, 600]


def test_delivered_failed_deferred() -> None:
    entry = _entry(_recipient(1), _recipient(2), _recipient(3))
    decision = _decide(entry, {1: OK, 2: PERM, 3: TEMP})
    by_id = {o.recipient_id: o for o in decision.outcomes}
    assert by_id[1].status == "delivered"
    assert by_id[2].status == "failed"
    assert by_id[2].reply == "550 5.1.1 no such user"
    assert by_id[3].status == "pending"
    assert by_id[3].next_attempt == T0 + timedelta(seconds=60)
    assert not by_id[3].delay_notified
    # Only the failure is reported (no NOTIFY: failures, and delays later).
    assert [(r.final_recipient, r.action, r.status) for r in decision.report] == [
        ("r2@remote.example", "failed", "5.1.1")
    ]
    assert decision.report[0].original_recipient == ("rfc822", "r2@remote.example")
    assert decision.report[0].remote_mta == "mx.remote.example"


def test_second_failure_uses_the_next_step() -> None:
    decision = _decide(_entry(_recipient(1, attempts=1)), {1: TEMP})
    assert decision.outcomes[0].next_attempt == T0 + timedelta(seconds=600)


def test_expiry_fails_with_4_4_7() -> None:
    late = T0 + timedelta(seconds=3500)  # the next try (+600) would pass max_age (3600)
    decision = _decide(_entry(_recipient(1, attempts=3, notified=True)), {1: TEMP}, late)
    [outcome] = decision.outcomes
    assert outcome.status == "failed"
    assert outcome.reply is not None
    assert "4.4.7" in outcome.reply
    [report] = decision.report
    assert (report.action, report.status) == ("failed", "4.4.7")
    assert report.diagnostic is not None
    assert report.diagnostic.startswith("451 4.7.1 greylisted")


def test_delay_notice_once_after_the_threshold() -> None:
    early = _decide(_entry(_recipient(1)), {1: TEMP}, T0 + timedelta(seconds=1000))
    assert early.report == []
    later = T0 + timedelta(seconds=1900)
    decision = _decide(_entry(_recipient(1, attempts=2)), {1: TEMP}, later)
    assert decision.outcomes[0].delay_notified
    [report] = decision.report
    assert report.action == "delayed"
    assert report.will_retry_until == T0 + timedelta(seconds=3600)
    again = _decide(_entry(_recipient(1, attempts=3, notified=True)), {1: TEMP}, later)
    assert again.report == []


def test_notify_controls_what_is_reported() -> None:
    never = _recipient(1, notify=("NEVER",))
    success = _recipient(2, notify=("SUCCESS",))
    delay_only = _recipient(3, notify=("DELAY",))
    entry = _entry(never, success, delay_only)
    decision = _decide(entry, {1: PERM, 2: OK, 3: PERM})
    # NEVER: nothing; SUCCESS to a server without DSN: "relayed"; DELAY only: no failure report.
    assert [(r.final_recipient, r.action) for r in decision.report] == [("r2@remote.example", "relayed")]
    # The next server offers DSN: it reports success itself (RFC 3461 §5.2.2).
    assert _decide(_entry(success), {2: OK}, dsn=True).report == []


def test_never_a_dsn_to_the_null_sender() -> None:
    late = T0 + timedelta(seconds=3500)
    entry = _entry(_recipient(1, attempts=5), _recipient(2), sender="")
    decision = _decide(entry, {1: TEMP, 2: PERM}, late)
    assert [o.status for o in decision.outcomes] == ["failed", "failed"]
    assert decision.report == []


def test_due_recipients() -> None:
    later = QueuedRecipient(**{**_recipient(2).__dict__, "next_attempt": T0 + timedelta(minutes=5)})
    done = QueuedRecipient(**{**_recipient(3).__dict__, "status": "delivered"})
    entry = _entry(_recipient(1), later, done)
    assert [r.id for r in due_recipients(entry, T0)] == [1]
    assert [r.id for r in due_recipients(entry, T0 + timedelta(minutes=5))] == [1, 2]
