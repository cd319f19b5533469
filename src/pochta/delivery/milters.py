"""The milters of one SMTP session, consulted in order (docs/antispam.md "Milters").

``MilterChain.start`` opens one conversation per configured milter that applies to the listener
and passes the connection; ``helo``, ``mail``, ``rcpt`` and ``data`` are called as the SMTP
session reaches those commands and return the refusal to send instead of the usual reply (None:
go on). At the end of the message ``end_of_message`` (the delivery transaction's filter, called
by ``commit`` after the MX's own checks) gives each milter the header and body as stored so far
and carries out its modifications before the next milter sees the message, as Postfix does.

What the answers mean (mfapi.h names; Postfix's reading):
- SMFIR_REJECT: 550 5.7.1 (at RCPT: that recipient only); SMFIR_TEMPFAIL: 451 4.7.1;
  SMFIR_REPLYCODE: its own reply (a 4xx or 5xx, checked by the core).
- SMFIR_ACCEPT: this milter is done (for the session at CONNECT/HELO, else for the message).
- SMFIR_DISCARD: the client is told 250 and nothing is stored (logged).
- SMFIR_QUARANTINE: pochta has no hold queue: the message is filed to each recipient's Junk.
- A refusal at CONNECT or HELO answers every MAIL of the session (SMTP has no way to refuse a
  greeting already sent), as Postfix defers it to the next command.
- A milter that is down, times out or breaks the protocol: ``default_action`` (451 4.7.1 for
  the rest of the session, or go on without it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pochta.config_milter import MilterSettings
from pochta.delivery.milter_client import MilterConnection, MilterFailure
from pochta.delivery.milter_message import MilterMessage
from pochta.delivery.spam_verdict import JunkVerdict
from pochta.mime.address import SmtpPath, SmtpPathError, parse_smtp_path
from pochta.proto.milter import (
    BODY_CHUNK,
    Accept,
    AddHeader,
    AddRecipient,
    ChangeHeader,
    ChangeSender,
    DeleteRecipient,
    Discard,
    InsertHeader,
    MilterSession,
    Quarantine,
    Reject,
    ReplaceBody,
    Reply,
    ReplyCode,
    Send,
    Stage,
    Step,
    Tempfail,
)
from pochta.proto.smtp import Reply as SmtpReply

if TYPE_CHECKING:
    from pochta.delivery.transaction import DeliveryTransaction

__all__ = ["ClientFacts", "FilterOutcome", "MilterChain", "mail_args"]


@dataclass(frozen=True)
class ClientFacts:
    """What the milters are told about the SMTP client (the CONNECT step and its macros)."""

    hostname: str  # this server (macro j)
    ip: str | None  # None: a UNIX socket
    port: int
    local_address: str
    daemon_name: str = "smtp"


@dataclass
class FilterOutcome:
    """The milters' decision at end of message: refuse (``refusal``), drop (``discard``: 250,
    nothing stored), or store, into Junk when ``quarantine`` names a reason."""

    refusal: SmtpReply | None = None
    discard: bool = False
    quarantine: str | None = None
    junk: str | None = None  # the milter whose header modification said spam (antispam.junk_header)


@dataclass
class _Milter:
    settings: MilterSettings
    connection: MilterConnection
    failed: bool = False  # down or broken: default_action for the rest of the session
    session_done: bool = False  # ACCEPT at CONNECT/HELO: not asked again this session
    message_done: bool = False  # ACCEPT during a message: not asked again for it
    in_message: bool = False  # MAIL sent and no end of message yet (ABORT owed before the next)
    data_sent: bool = False

    @property
    def asked(self) -> bool:
        return not self.failed and not self.session_done and not self.message_done


def _reject(what: str) -> SmtpReply:
    return SmtpReply(550, (f"{what} rejected by content filter",), "5.7.1")


def _tempfail(what: str) -> SmtpReply:
    return SmtpReply(451, (f"{what} temporarily refused by content filter, try again later",), "4.7.1")


def _unavailable() -> SmtpReply:
    return SmtpReply(451, ("Content filter unavailable, try again later",), "4.7.1")


def _smtp_reply(reply: ReplyCode) -> SmtpReply:
    enhanced = reply.enhanced or ("5.7.1" if reply.code >= 500 else "4.7.1")
    return SmtpReply(reply.code, reply.lines or ("",), enhanced)


def _address(text: str) -> SmtpPath | None:
    """An address a milter sent (``<a@b>`` or bare ``a@b``), or None when it is no address."""
    path = parse_smtp_path(text if text.startswith("<") else f"<{text}>")
    return None if isinstance(path, SmtpPathError) else path


class MilterChain:
    """The milters of one SMTP session (module docstring)."""

    def __init__(
        self,
        milters: Sequence[MilterSettings],
        client: ClientFacts,
        log: Any,
        junk: JunkVerdict | None = None,
    ) -> None:
        self.client = client
        self.junk = junk  # which header modification means "into Junk" (docs/antispam.md "rspamd")
        self.log = log
        self.milters = [_Milter(s, MilterConnection(s)) for s in milters]
        self.session_refusal: SmtpReply | None = None  # from CONNECT or HELO
        self.discarding = False  # a milter said DISCARD during this message
        self.queue_id = ""
        self.helo_name = ""

    # -- session steps -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to every milter and pass the client's connection (SMFIC_CONNECT)."""
        client = self.client
        for milter in self.milters:
            try:
                await milter.connection.open()
            except MilterFailure as exc:
                self.session_refusal = self.session_refusal or self._failed(milter, exc)
        macros = {
            "j": client.hostname,
            "{daemon_name}": client.daemon_name,
            "{daemon_addr}": client.local_address,
            "_": f"unknown [{client.ip}]" if client.ip else "localhost",
            "{client_addr}": client.ip or "127.0.0.1",
            "{client_port}": str(client.port),
            "{client_name}": "unknown",
            "{client_ptr}": "unknown",
        }
        refusal = await self._step(
            Stage.CONNECT,
            macros,
            lambda s: s.connect("unknown", client.ip or "/unix", client.port),
            "Connection",
        )
        self.session_refusal = self.session_refusal or refusal

    async def helo(self, name: str, tls_version: str | None = None, cipher: str | None = None) -> None:
        """HELO/EHLO (again after STARTTLS, with the TLS macros then known)."""
        self.helo_name = name
        macros = {"{tls_version}": tls_version or "", "{cipher}": cipher or ""}
        refusal = await self._step(Stage.HELO, macros, lambda s: s.helo(name), "HELO")
        self.session_refusal = self.session_refusal or refusal

    async def mail(
        self, sender: SmtpPath, args: Sequence[str], queue_id: str, auth_user: str | None
    ) -> SmtpReply | None:
        """MAIL FROM accepted by pochta: the milters' verdict (None: go on)."""
        await self.abort()
        if self.session_refusal is not None:
            return self.session_refusal
        self.queue_id = queue_id
        self.discarding = False
        for milter in self.milters:
            milter.message_done = False
            milter.data_sent = False
            milter.in_message = milter.asked
        macros = {
            "i": queue_id,
            "{mail_addr}": sender.address,
            "{mail_host}": sender.domain,
            "{mail_mailer}": "smtp",
        }
        if auth_user is not None:
            macros |= {"{auth_authen}": auth_user, "{auth_type}": "PLAIN"}
        return await self._step(
            Stage.ENVFROM, macros, lambda s: s.mail([f"<{sender.address}>", *args]), "Sender"
        )

    async def rcpt(self, recipient: SmtpPath, args: Sequence[str]) -> SmtpReply | None:
        """A recipient pochta accepted: the milters' verdict for it (None: go on)."""
        macros = {"{rcpt_addr}": recipient.address, "{rcpt_host}": recipient.domain, "{rcpt_mailer}": "local"}
        address = recipient.address or recipient.local
        return await self._step(Stage.ENVRCPT, macros, lambda s: s.rcpt([f"<{address}>", *args]), "Recipient")

    async def data(self) -> SmtpReply | None:
        """The DATA command (for BDAT, the step is sent at end of message)."""
        for milter in self.milters:
            milter.data_sent = milter.asked
        return await self._step(Stage.DATA, {"i": self.queue_id}, MilterSession.data, "Message")

    async def abort(self) -> None:
        """The message is off (RSET, a new MAIL, a refusal): SMFIC_ABORT to milters inside one."""
        for milter in self.milters:
            if milter.in_message and not milter.failed:
                milter.in_message = False
                try:
                    await milter.connection.tell(milter.connection.session.abort())
                except MilterFailure as exc:
                    self._failed(milter, exc)

    async def close(self) -> None:
        for milter in self.milters:
            if not milter.failed:
                with contextlib.suppress(MilterFailure):
                    await milter.connection.tell(milter.connection.session.quit())
            await milter.connection.close()

    # -- end of message ----------------------------------------------------------------------

    async def end_of_message(self, txn: DeliveryTransaction) -> FilterOutcome:
        """Header, body and SMFIC_BODYEOB to each milter in turn; its modifications are applied
        (to ``txn``'s message and envelope) before the next one sees the message."""
        outcome = FilterOutcome(discard=self.discarding)
        if self.discarding:
            return outcome
        message = MilterMessage.parse(await txn.read_message())
        for milter in self.milters:
            if not milter.asked:
                milter.in_message = False
                continue
            try:
                verdict = await self._message_to(milter, message, txn, outcome)
            except MilterFailure as exc:
                refusal = self._failed(milter, exc)
                if refusal is not None:
                    outcome.refusal = refusal
                    return outcome
                continue
            finally:
                milter.in_message = False  # the end of message closes it, whatever the answer
            if verdict is not None:
                outcome.refusal = verdict
                return outcome
            if outcome.discard:
                return outcome
        if message.changed:
            await txn.replace_message(message.to_bytes())
        return outcome

    async def _message_to(
        self, milter: _Milter, message: MilterMessage, txn: DeliveryTransaction, outcome: FilterOutcome
    ) -> SmtpReply | None:
        """One milter's part of end of message; a refusal or None."""
        connection, session = milter.connection, milter.connection.session
        timeout = milter.settings.command_timeout
        steps: list[tuple[Stage | None, Send]] = []
        if not milter.data_sent:
            steps.append((Stage.DATA, session.data()))
        for name, value in message.fields_for_milter():
            steps.append((None, session.header(name, value)))
        steps.append((Stage.EOH, session.end_of_header()))
        for stage, send in steps:
            macros = session.macros(stage, {"i": self.queue_id}) if stage is not None else b""
            answers = await connection.ask(macros, send, timeout)
            refusal = self._verdict(milter, answers[-1] if answers else None, "Message")
            if refusal is not None or milter.message_done or self.discarding:
                outcome.discard = self.discarding
                return refusal
        body = message.body
        for start in range(0, len(body), BODY_CHUNK):
            send = session.body(body[start : start + BODY_CHUNK])
            answers = await connection.ask(b"", send, timeout)
            refusal = self._verdict(milter, answers[-1] if answers else None, "Message")
            if refusal is not None or milter.message_done or self.discarding:
                outcome.discard = self.discarding
                return refusal
        macros = session.macros(Stage.EOM, {"i": self.queue_id})
        answers = await connection.ask(
            macros, session.end_of_message(), milter.settings.eom_timeout, at_eom=True
        )
        leading = bool(session.negotiated and session.negotiated.steps & Step.HDR_LEADSPC)
        for answer in answers[:-1]:
            await self._modify(milter, answer, message, txn, outcome, leading)
        message.end_of_milter()
        refusal = self._verdict(milter, answers[-1], "Message")
        outcome.discard = self.discarding
        return refusal

    async def _modify(
        self,
        milter: _Milter,
        answer: Reply,
        message: MilterMessage,
        txn: DeliveryTransaction,
        outcome: FilterOutcome,
        leading: bool,
    ) -> None:
        label = milter.settings.label
        match answer:
            case AddHeader(name, value):
                message.add(name, value, leading_space=leading)
                self._junk_mark(label, name, value, outcome)
            case InsertHeader(index, name, value):
                message.insert(index, name, value, leading_space=leading)
                self._junk_mark(label, name, value, outcome)
            case ChangeHeader(index, name, value):
                message.change(index, name, value, leading_space=leading)
                self._junk_mark(label, name, value, outcome)
            case ReplaceBody(chunk):
                message.replace_body(chunk)
            case Quarantine(reason):
                outcome.quarantine = reason or label
                self.log.info("milter quarantine", milter=label, id=self.queue_id, reason=reason)
            case ChangeSender(address):
                path = _address(address) if address not in ("<>", "") else SmtpPath("", "")
                if path is None:
                    self.log.info("milter change sender ignored", milter=label, address=address)
                else:
                    txn.change_sender(path)
            case AddRecipient(address):
                path = _address(address)
                result = None if path is None else await txn.add_recipient(path)
                if result is None or not result.accepted:
                    self.log.info("milter added recipient refused", milter=label, address=address)
            case DeleteRecipient(address):
                path = _address(address)
                if path is not None:
                    txn.withdraw_recipient(path)

    def _junk_mark(self, label: str, name: str, value: str, outcome: FilterOutcome) -> None:
        """A milter set the junk header: the verdict is its modification in this transaction,
        never a field the message arrived with (those were stripped at the MX)."""
        if self.junk is None or not self.junk.says_junk(name, value):
            return
        if outcome.junk is None:
            self.log.info("milter junk", milter=label, id=self.queue_id, header=name)
        outcome.junk = label

    # -- the shared part of every step -------------------------------------------------------

    async def _step(
        self,
        stage: Stage,
        macros: Mapping[str, str],
        build: Callable[[MilterSession], Send],
        what: str,
    ) -> SmtpReply | None:
        for milter in self.milters:
            if not milter.asked:
                if milter.failed and milter.settings.default_action == "tempfail":
                    return _unavailable()
                continue
            connection = milter.connection
            try:
                send = build(connection.session)
                answers = await connection.ask(
                    connection.session.macros(stage, macros), send, milter.settings.command_timeout
                )
            except MilterFailure as exc:
                refusal = self._failed(milter, exc)
                if refusal is not None:
                    return refusal
                continue
            refusal = self._verdict(milter, answers[-1] if answers else None, what, stage)
            if refusal is not None:
                return refusal
        return None

    def _verdict(
        self, milter: _Milter, answer: Reply | None, what: str, stage: Stage | None = None
    ) -> SmtpReply | None:
        refusal: SmtpReply | None = None
        match answer:
            case Accept():
                if stage in (Stage.CONNECT, Stage.HELO):
                    milter.session_done = True
                else:
                    milter.message_done = True
            case Reject():
                refusal = _reject(what)
            case Tempfail():
                refusal = _tempfail(what)
            case ReplyCode():
                refusal = _smtp_reply(answer)
            case Discard():
                self.discarding = True
                self.log.info("milter discard", milter=milter.settings.label, id=self.queue_id)
        if refusal is not None:
            self.log.info(
                "milter refusal", milter=milter.settings.label, id=self.queue_id, code=refusal.code, step=what
            )
        return refusal

    def _failed(self, milter: _Milter, exc: MilterFailure) -> SmtpReply | None:
        milter.failed = True
        action = milter.settings.default_action
        self.log.warning("milter failed", milter=milter.settings.label, reason=str(exc), action=action)
        return _unavailable() if action == "tempfail" else None


def mail_args(size: int | None, body: str | None, smtputf8: bool, ret: str | None) -> list[str]:
    """MAIL FROM's ESMTP parameters as the milter sees them (``SIZE=...`` each)."""
    args = []
    if size is not None:
        args.append(f"SIZE={size}")
    if body is not None:
        args.append(f"BODY={body}")
    if smtputf8:
        args.append("SMTPUTF8")
    if ret is not None:
        args.append(f"RET={ret}")
    return args
