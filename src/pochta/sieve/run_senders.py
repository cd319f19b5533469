"""What a script sends: vacation replies (RFC 5230) and notifications (RFC 5435, RFC 5436), as
actions for delivery (a mixin of ``interpreter.RunState``)."""

from __future__ import annotations

from pochta.sieve import script as s
from pochta.sieve.actions import (
    NotifyAction,
    RejectAction,
    VacationAction,
)
from pochta.sieve.mailto import MailtoError, parse_mailto
from pochta.sieve.run_state import SieveRuntimeError, StateBase
from pochta.sieve.vacation import (
    addressed_to,
    cut_subject,
    reply_refusal,
    reply_subject,
    reply_to_field,
    sender_ok,
    threading,
)

__all__ = ["Senders"]


class Senders(StateBase):
    def notify(self, node: s.Notify) -> None:
        method = self.expand(node.method)
        try:
            uri = parse_mailto(method)
        except MailtoError as error:
            raise SieveRuntimeError(node.position, f"{error} (RFC 5435 §3.2)") from None
        importance = "2" if node.importance is None else self.expand(node.importance)
        if importance not in ("1", "2", "3"):
            raise SieveRuntimeError(
                node.position, f":importance {importance!r} is not 1, 2 or 3 (RFC 5435 §3.4)"
            )
        # RFC 5436 §2.7: no notification of a message sent automatically.
        for value in self.message.header_texts("auto-submitted"):
            if value.split(";")[0].strip().lower() != "no":
                self.notes.append(f"{node.position}: no notification of an automatic message (RFC 5436 §2.7)")
                return
        fresh = tuple(address for address in uri.recipients if address.lower() not in self.notified)
        if not fresh:
            return  # RFC 5436 §2.7: one notification per address and run
        self.notified.update(address.lower() for address in fresh)
        wanted = {address.lower() for address in fresh}

        def written(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
            picked = []
            for address, form in pairs:
                if address.lower() in wanted:
                    wanted.discard(address.lower())  # once, in To before Cc
                    picked.append(form)
            return tuple(picked)

        written_from = None if node.sender is None else self.expand(node.sender)
        own = self.envelope.recipient
        sender = written_from if written_from is not None and sender_ok(written_from) else own
        subjects = self.message.header_texts("subject")
        if node.message is not None:
            subject = self.expand(node.message)
        elif uri.subject is not None:
            subject = uri.subject
        else:
            subject = subjects[0] if subjects else "Notification"
        subject = cut_subject(subject)
        action = NotifyAction(
            method=method,
            envelope_sender="" if not self.envelope.sender else sender,
            sender=sender,
            recipients=fresh,
            subject=subject,
            body=uri.body,
            headers=uri.headers,
            importance=int(importance),
            options=tuple(self.expand(option) for option in node.options),
            fcc=self.fcc(node.fcc, node.position),
            to=written(uri.to),
            cc=written(uri.cc),
        )
        self.add(action, node.position)  # RFC 5435 §7: the implicit keep stays

    def vacation(self, node: s.Vacation) -> None:
        if self.vacation_ran:
            raise SieveRuntimeError(node.position, "vacation runs at most once (RFC 5230 §4.7)")
        if any(isinstance(action, RejectAction) for action in self.actions):
            raise SieveRuntimeError(node.position, "vacation together with reject (RFC 5429 §2.4)")
        self.vacation_ran = True
        own = [
            *self.context.user_addresses,
            self.envelope.recipient,
            *(self.expand(text) for text in node.addresses),
        ]
        limits = self.limits
        refusal = reply_refusal(
            self.message, self.envelope, own, check_recipient=limits.vacation_check_recipient
        )
        if refusal is not None:
            self.notes.append(f"{node.position}: no vacation reply: {refusal}")
            return
        period = limits.vacation_default_period if node.period is None else node.period
        period = min(max(period, limits.vacation_min_period), limits.vacation_max_period)
        sender = None if node.sender is None else self.expand(node.sender)
        if sender is not None and not sender_ok(sender):
            self.notes.append(f"{node.position}: :from {sender!r} is not an address, ignored (RFC 5230 §4.3)")
            sender = None
        if sender is None:
            # §5.4: the user's address, as the message named it when it did (an alias, :addresses).
            sender = addressed_to(self.message, own)
        in_reply_to, references = threading(self.message)
        if node.subject is None:
            subject = reply_subject(
                self.message, limits.vacation_subject_template, limits.vacation_default_subject
            )
        else:
            subject = self.expand(node.subject)
        fcc = self.fcc(node.fcc, node.position)
        action = VacationAction(
            recipient=self.envelope.sender,
            tracking=node.tracking,
            period=period,
            subject=subject,
            sender=sender,
            reason=self.expand(node.reason),
            mime=node.mime,
            in_reply_to=in_reply_to,
            references=references,
            fcc=fcc,
            to=reply_to_field(
                self.message, self.envelope.sender, ignore_envelope=limits.vacation_to_header_ignore_envelope
            ),
            envelope_sender=self.envelope.recipient if limits.vacation_send_from_recipient else "",
        )
        self.add(action, node.position)  # RFC 5230 §4.7: the implicit keep stays
