"""The SMTP/LMTP connection loop: read -> feed ``ServerConnection`` -> answer its events -> write.

One ``SmtpHandler`` per role: ``smtp`` (the MX: local recipients only, never a relay),
``submission`` (submission and submissions: AUTH first, sender ownership), ``lmtp`` (RFC 2033:
one reply per recipient after the message). Replies to a pipelined group go out in one write
(RFC 2920 §3.2). The session's delivery transaction is aborted on any way out.

On the MX and LMTP, what arrives while the loop waits for the client is first offered to a fast
reader in the socket callback (``Connection.set_fast_reader``): MAIL, RCPT with a recipient the
process has resolved before, DATA, the message text and NOOP are answered there, with no task
switch; the first event that needs to wait for anything (the commit at the end of the message, a
directory read, a reply that closes the session) is parked and the loop is woken for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

from prometheus_client import Counter

from pochta.auth.authenticator import Authenticator, plaintext_allowed
from pochta.config import Settings
from pochta.delivery import CommitResult, Delivery, DeliveryTransaction, Envelope, RecipientResult
from pochta.delivery.gate import Gate, GateSession
from pochta.delivery.milters import MilterChain
from pochta.metrics import Metrics
from pochta.mime.address import SmtpPath
from pochta.proto.sasl import SERVER_MECHANISMS
from pochta.proto.smtp import (
    AuthResponse,
    AuthStart,
    BdatChunkEnd,
    BdatStart,
    ConnectionClosed,
    DataChunk,
    DataEnd,
    DataRejected,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Help,
    Lhlo,
    MailFrom,
    Noop,
    ProtocolError,
    Quit,
    RcptTo,
    Reply,
    Role,
    Rset,
    ServerConnection,
    SmtpCoreConfig,
    StartTls,
    State,
    Vrfy,
    replies,
)
from pochta.server.connection import Connection, IdleTimeout
from pochta.server.smtp.auth import SaslState, SmtpAuth
from pochta.server.smtp.milter_hooks import milter_chain, milter_mail_args
from pochta.server.smtp.policy import SenderPolicy
from pochta.store.api import Store
from pochta.store.model import Account

__all__ = ["SmtpHandler"]


@dataclass
class Session:
    conn: Connection
    core: ServerConnection
    sasl: SaslState = dataclasses.field(default_factory=SaslState)
    account: Account | None = None
    txn: DeliveryTransaction | None = None
    milters: MilterChain | None = None  # [[milters]] for this listener (docs/antispam.md)
    gate: GateSession | None = None  # the MX's checks of a client outside trusted_networks
    # The fast reader: an event it took from the core for the loop to handle, the replies it wrote
    # for the same pipelined group (sent with the loop's, RFC 2920 §3.2), and whether it woke the
    # loop (a read that returns b"" then is no end of stream).
    parked: Event | None = None
    pending: bytes = b""
    resume: bool = False

    async def drop_transaction(self) -> None:
        if self.txn is not None:
            txn, self.txn = self.txn, None
            await txn.abort()
        if self.milters is not None:
            await self.milters.abort()


class SmtpHandler:
    """The ``ProtocolHandler`` of one SMTP role (``smtp``, ``submission`` or ``lmtp``)."""

    def __init__(
        self,
        role: Role,
        store: Store,
        settings: Settings,
        delivery: Delivery,
        *,
        authenticator: Authenticator | None = None,
        scram_secret: bytes | None = None,
    ) -> None:
        self.role: Role = role
        self.store = store
        self.settings = settings
        self.delivery = delivery
        self.authenticator = authenticator or Authenticator(store, settings.login, server_secret=scram_secret)
        self.auth = SmtpAuth(self.authenticator, scram_secret)
        self.senders = SenderPolicy(store)
        self.gate = Gate(settings, store, delivery.mailauth)
        self._counted: tuple[Metrics, Counter] | None = None

    def reconfigure(self, settings: Settings) -> None:
        """Settings from a reload, for the sessions that start from now on (and the shared
        authenticator and delivery pipeline)."""
        self.settings = settings
        self.authenticator.reconfigure(settings.login)
        self.delivery.reconfigure(settings)
        self.gate.reconfigure(settings, self.delivery.mailauth)

    # -- ProtocolHandler ---------------------------------------------------------------------------

    async def __call__(self, conn: Connection) -> None:
        core = ServerConnection(self.role, self.core_config(conn), tls=conn.is_secure)
        session = Session(conn, core)
        hostname = self.settings.hostname
        conn.set_idle_timeout(self.settings.smtp.command_timeout)  # RFC 5321 §4.5.3.2.7
        if self.role != "submission":
            # The MX and LMTP never log in: server.login_timeout does not apply (line_timeout does).
            conn.end_login_phase()
        session.milters = milter_chain(self.settings, self.role, conn)
        if self.role == "smtp":
            session.gate = self.gate.session(conn)
        try:
            if session.gate is not None:
                refusal = session.gate.admit() or await session.gate.greet_wait()
                if refusal is not None:
                    await conn.send(core.send(refusal))  # 421 or 554, then the connection closes
                    return
            if session.milters is not None:
                await session.milters.start()
            await conn.send(core.send(replies.greeting(hostname)))
            # With milters every MAIL and RCPT waits for their answer: no fast reader.
            if self.role != "submission" and session.milters is None:
                conn.set_fast_reader(lambda data: self._receive_fast(session, data))
            await self._serve(session)
        except IdleTimeout as exc:
            conn.log.info("smtp timeout", state=core.state.value, reason=str(exc))
            with contextlib.suppress(OSError):
                await conn.send(core.send(replies.timeout(hostname)))  # 421 4.4.2
        finally:
            conn.set_fast_reader(None)
            await session.drop_transaction()
            if session.milters is not None:
                await session.milters.close()
            if session.gate is not None:
                session.gate.close()

    async def busy(self, conn: Connection) -> None:
        await conn.send(Reply(421, (f"{self.settings.hostname} too many connections",), "4.7.0").to_bytes())

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(replies.shutting_down(self.settings.hostname).to_bytes())

    def core_config(self, conn: Connection) -> SmtpCoreConfig:
        settings, smtp = self.settings, self.settings.smtp
        submission = self.role == "submission"
        return SmtpCoreConfig(
            hostname=settings.hostname,
            max_message_size=settings.limits.max_message_size,
            max_recipients=settings.limits.max_recipients,
            max_errors=settings.limits.max_errors,
            max_messages=self.max_messages(),
            max_header_count=smtp.max_header_count,
            max_header_size=smtp.max_header_size,
            starttls=conn.starttls_available,
            auth_mechanisms=SERVER_MECHANISMS if submission else (),
            # Plaintext mechanisms without TLS only where login policy allows it (loopback).
            auth_plaintext_without_tls=plaintext_allowed(settings.login, False, conn.peer_ip),
            # RFC 8689: the MX and submission take REQUIRETLS (the queue enforces it); LMTP is final.
            requiretls=self.role != "lmtp",
        )

    def max_messages(self) -> int:
        """Messages per session (0: no limit): LMTP has its own setting, unlimited by default."""
        if self.role == "lmtp":
            return self.settings.lmtp.max_messages_per_connection
        return self.settings.smtp.max_messages_per_connection

    # -- the loop ----------------------------------------------------------------------------------

    async def _serve(self, session: Session) -> None:
        conn, core = session.conn, session.core
        smtp = self.settings.smtp
        while not core.closed:
            in_data = core.state in (State.DATA, State.BDAT)
            # RFC 5321 §4.5.3.2: longer timeouts while the message text flows
            conn.set_idle_timeout(smtp.data_timeout if in_data else smtp.command_timeout)
            data = await conn.read_some(line_open=core.line_open)
            if data or not session.resume:
                core.receive_data(data)
            session.resume = False
            out = bytearray(session.pending)
            session.pending = b""
            if core.closed:  # the fast reader's last reply closed the session (the gate's 421)
                await session.drop_transaction()
                await conn.send(bytes(out))
                return
            starttls = False
            with conn.busy_section():
                if core.transaction is None and session.txn is not None:
                    await session.drop_transaction()  # refused by the fast reader's last reply
                while True:
                    event = session.parked or core.next_event()
                    session.parked = None
                    if not isinstance(event, Event):
                        break  # NEED_DATA
                    if isinstance(event, ConnectionClosed):
                        if event.in_transaction:
                            conn.log.info("smtp dropped during transaction")
                        await session.drop_transaction()
                        conn.write(bytes(out))
                        return
                    out += await self._handle(session, event)
                    if core.transaction is None and session.txn is not None:
                        await session.drop_transaction()  # refused message, failed chunk, 421
                    if isinstance(event, StartTls) and not core.closed and core.tls:
                        starttls = True
                        break
                    if core.closed:
                        break
            await conn.send(bytes(out))
            if starttls:
                # RFC 3207 §4.2: the core dropped its buffer with the 220; start_tls drops the
                # connection's, so plaintext pipelined behind STARTTLS is never executed.
                await conn.start_tls()
                core.config = dataclasses.replace(core.config, starttls=False)

    def _receive_fast(self, session: Session, data: bytes) -> None:
        """Data that arrived while the loop waits, in the socket callback (module docstring)."""
        conn, core = session.conn, session.core
        core.receive_data(data)
        out = bytearray()
        was_data = core.state is State.DATA
        while not core.closed:
            event = core.next_event()
            if not isinstance(event, Event):
                break  # NEED_DATA
            answer = self._answer_now(session, event)
            if answer is None:
                session.parked = event
                break
            out += answer
        smtp = self.settings.smtp
        # A shorter data timeout than the command timeout needs the loop's read to arm it anew.
        rearm = core.state is State.DATA and not was_data and smtp.data_timeout < smtp.command_timeout
        if session.parked is not None or core.closed or core.line_open or rearm or conn.writing_paused:
            session.pending = bytes(out)  # goes out with the loop's replies to the same group
            session.resume = True
            conn.interrupt_read()
            return
        if core.state is State.DATA:
            conn.set_idle_timeout(smtp.data_timeout)  # RFC 5321 §4.5.3.2.8
        if out:
            conn.write(bytes(out))

    def _answer_now(self, session: Session, event: Event) -> bytes | None:
        """The reply to ``event`` if it needs no waiting (``b""`` for message text), else None."""
        core = session.core
        match event:
            case MailFrom() if session.txn is None:
                return core.send(self._mail_now(session, event))
            case RcptTo() if session.txn is not None and (session.gate is None or session.gate.fast_rcpt):
                params = event.params
                result = session.txn.add_recipient_now(event.path, notify=params.notify, orcpt=params.orcpt)
                return None if result is None else core.send(self._gated(session, self._rcpt_reply(result)))
            case DataStart() | DataChunk() | Noop():
                return self._handle_now(session, event)
            case ProtocolError() if not isinstance(event, DataRejected) and all(
                reply.code != 421 for reply in event.replies
            ):
                return core.send_many(event.replies)
        return None

    def _handle_now(self, session: Session, event: DataStart | DataChunk | Noop) -> bytes:
        core = session.core
        match event:
            case DataStart():
                if session.txn is None or self.delivery.disk_low():
                    return core.send(replies.insufficient_storage())  # 452 4.3.1
                session.txn.start_body()
                return core.send(replies.start_data())
            case DataChunk(data=data):
                if session.txn is not None:
                    session.txn.write(data)
                return b""
        return core.send(replies.ok())

    @staticmethod
    def _logged_in(session: Session, reply: Reply, account: Account | None) -> Reply:
        if account is not None:
            session.account = account
            session.conn.end_login_phase()  # server.login_timeout no longer applies
        return reply

    async def _handle(self, session: Session, event: Event) -> bytes:
        core = session.core
        match event:
            case Helo() | Ehlo() | Lhlo():
                await session.drop_transaction()
                refusal = session.gate.helo(event.name) if session.gate is not None else None
                if refusal is None and session.milters is not None and not isinstance(event, Lhlo):
                    await session.milters.helo(event.name, session.conn.tls_version, session.conn.tls_cipher)
                return core.send(refusal or core.hello_reply(event))
            case StartTls():
                return core.send(replies.ready_to_start_tls())
            case AuthStart(mechanism, initial):
                reply, account = await self.auth.start(session.conn, session.sasl, mechanism, initial)
                return core.send(self._logged_in(session, reply, account))
            case AuthResponse(data):
                reply, account = await self.auth.respond(session.conn, session.sasl, data)
                return core.send(self._logged_in(session, reply, account))
            case MailFrom():
                return core.send(await self._mail(session, event))
            case RcptTo():
                return core.send(await self._rcpt(session, event))
            case DataStart() if session.milters is not None and session.txn is not None:
                refusal = await session.milters.data()
                return core.send(refusal) if refusal is not None else self._handle_now(session, event)
            case DataStart() | DataChunk() | Noop():
                return self._handle_now(session, event)
            case BdatStart(first=first):
                if first and session.txn is not None:
                    session.txn.start_body()
                return b""
            case BdatChunkEnd(size=size):
                return core.send(replies.chunk_received(size))
            case DataEnd():
                return core.send_many(await self._data_end(session, event))
            case ProtocolError():
                return core.send_many(event.replies)
            case Rset():
                await session.drop_transaction()
                return core.send(replies.reset_ok())
            case Quit():
                await session.drop_transaction()
                return core.send(replies.closing(self.settings.hostname))
            case Vrfy():
                return core.send(replies.vrfy_cannot_verify())  # RFC 5321 §3.5.3: 252
            case Help():
                return core.send(replies.help_reply())
        raise AssertionError(f"unhandled SMTP event {event!r}")  # pragma: no cover

    # -- transaction -------------------------------------------------------------------------------

    def _protocol(self, session: Session) -> str:
        """RFC 3848 / RFC 2033 §4.1 WITH keywords for the Received field."""
        base = "LMTP" if self.role == "lmtp" else ("ESMTP" if session.core.esmtp else "SMTP")
        suffix = ("S" if session.core.tls else "") + ("A" if session.account is not None else "")
        return base + suffix if base != "SMTP" else "SMTP"

    async def _mail(self, session: Session, event: MailFrom) -> Reply:
        await session.drop_transaction()
        if self.delivery.disk_low():
            return replies.insufficient_storage()  # 452 4.3.1, before any data is accepted
        account = session.account if self.role == "submission" else None
        if account is not None and not await self.senders.may_send_as(
            account, event.path, self.settings.smtp
        ):
            return replies.sender_not_owned()  # 553 5.7.1
        if account is not None:
            hit = await self.delivery.send_limits.at_mail(account.address)
            if hit is not None:
                session.conn.metrics.send_limit_hits.labels(scope=hit.scope, window=hit.period).inc()
                return await self.delivery.limit_refusal(hit, account.address)
        refusal = session.gate.mail(event.path) if session.gate is not None else None
        if refusal is not None:
            return refusal
        reply = self._begin(session, event, account)
        if session.milters is not None and session.txn is not None:
            session.txn.milters = session.milters
            refusal = await session.milters.mail(
                event.path,
                milter_mail_args(event.params),
                session.txn.id,
                account.address if account else None,
            )
            if refusal is not None:
                await session.drop_transaction()
                return refusal
        return reply

    def _mail_now(self, session: Session, event: MailFrom) -> Reply:
        """``_mail`` on the MX or LMTP (no sender to check) when no transaction is open."""
        if self.delivery.disk_low():
            return replies.insufficient_storage()  # 452 4.3.1, before any data is accepted
        refusal = session.gate.mail(event.path) if session.gate is not None else None
        return refusal or self._begin(session, event, None)

    def _begin(self, session: Session, event: MailFrom, account: Account | None) -> Reply:
        conn = session.conn
        envelope = Envelope(
            sender=event.path,
            helo=session.core.client_name,
            peer=f"[{conn.peer_ip}]" if conn.peer_ip != "unix" else "unix socket",
            protocol=self._protocol(session),
            declared_size=event.params.size or 0,
            submission=self.role == "submission",
            author=account.address if account is not None else None,
            # RFC 6409 §4.3 / RFC 5321 §3.9: only an authenticated submission may reach other domains
            relay=account is not None,
            body=event.params.body,
            smtputf8=event.params.smtputf8,
            ret=event.params.ret,
            envid=event.params.envid,
            requiretls=event.params.requiretls,
            # The MX checks mail authentication (DKIM) of clients outside trusted_networks; LMTP
            # comes from a trusted MTA and submission from an authenticated user (not checked).
            # An authenticated client is never checked (docs/deliverability.md).
            authenticate=self.role == "smtp" and account is None and not self.settings.trusts(conn.peer_ip),
            scan=self.delivery.clamav.applies(self.role),
        )
        session.txn = self.delivery.begin(envelope)
        return replies.sender_ok()

    async def _rcpt(self, session: Session, event: RcptTo) -> Reply:
        txn = session.txn
        if txn is None:  # pragma: no cover - the core only passes RCPT inside a transaction
            return replies.bad_sequence()
        params = event.params
        if session.gate is not None:
            refusal = await session.gate.rcpt(event.path, self._known)
            if refusal is not None:
                return refusal
        result = await txn.add_recipient(event.path, notify=params.notify, orcpt=params.orcpt)
        reply = self._gated(session, self._rcpt_reply(result))
        account = session.account if self.role == "submission" else None
        if account is not None and result.remote and reply.code < 300:
            # Sending limits per recipient: one over the limit is refused here, the others go.
            hit = await self.delivery.send_limits.at_mail(account.address, txn.remote_recipients())
            if hit is not None:
                txn.withdraw_recipient(event.path)
                session.conn.metrics.send_limit_hits.labels(scope=hit.scope, window=hit.period).inc()
                return await self.delivery.limit_refusal(hit, account.address)
        if session.milters is not None and reply.code < 300:
            refusal = await session.milters.rcpt(event.path, [])
            if refusal is not None:
                txn.withdraw_recipient(event.path)
                return refusal
        return reply

    async def _known(self, path: SmtpPath) -> bool:
        """Does the recipient reach a mailbox of ours (greylisting keeps no triplet otherwise)?"""
        return (await self.delivery.resolver.resolve(path)).kind in ("local", "external")

    @staticmethod
    def _gated(session: Session, reply: Reply) -> Reply:
        """The RCPT reply after the gate counted it (too many unknown recipients: 421)."""
        return reply if session.gate is None else session.gate.after_rcpt(reply)

    def _rcpt_reply(self, result: RecipientResult) -> Reply:
        if result.remote and self.role == "lmtp":
            return replies.unknown_user()  # LMTP delivers to local mailboxes only
        # The MX: 554 5.7.1 relay denied for any domain not ours; authenticated submission: queued.
        return result.reply

    async def _data_end(self, session: Session, event: DataEnd) -> list[Reply]:
        txn = session.txn
        count = len(event.recipients) if self.role == "lmtp" else 1
        if txn is None:  # pragma: no cover
            return [replies.local_error()] * count
        session.txn = None
        facts = txn.end_body()
        refusal: Reply | None = None
        if facts.received > self.settings.smtp.max_received_headers:
            refusal = replies.loop_detected()  # RFC 5321 §6.3: 554 5.4.6
        elif self.role == "submission" and facts.malformed:
            # Refused rather than completed: a From: or Date: put in front would take the stray
            # line as its own continuation, and readers would see another header than the check.
            refusal = replies.malformed_header()  # 550 5.6.0
        elif self.role == "submission" and session.account is not None:
            reason = await self.senders.header_refusal(session.account, facts, self.settings.smtp)
            refusal = None if reason is None else replies.sender_not_owned(reason)  # 553 5.7.1
        if refusal is not None:
            await txn.abort()
            session.conn.log.info(
                "smtp message refused", id=txn.id, code=refusal.code, reason=refusal.lines[0]
            )
            return [refusal] * count
        # SMTP has one reply for all recipients: store for all of them or for none.
        result = await txn.commit(all_or_nothing=self.role != "lmtp")
        self._record(session, txn, result)
        if self.role == "lmtp":
            return result.replies  # RFC 2033 §4.2: one per recipient, in RCPT order
        return [_single_reply(result)]

    def _delivered_counter(self, metrics: Metrics) -> Counter:
        """This role's child of ``messages_delivered``, looked up once per metrics registry."""
        if self._counted is None or self._counted[0] is not metrics:
            self._counted = (metrics, metrics.messages_delivered.labels(protocol=self.role))
        return self._counted[1]

    def _record(self, session: Session, txn: DeliveryTransaction, result: CommitResult) -> None:
        if result.limit_hit is not None:
            hit = result.limit_hit
            session.conn.metrics.send_limit_hits.labels(scope=hit.scope, window=hit.period).inc()
        if result.delivered:
            self._delivered_counter(session.conn.metrics).inc(result.delivered)
        session.conn.log.info(
            "smtp delivered",
            id=txn.id,
            sender=txn.envelope.sender.address or "<>",
            recipients=len(result.replies),
            delivered=result.delivered,  # stored locally
            queued=result.queued,  # in the outbound queue, under this same id
            size=result.size,
        )


def _single_reply(result: CommitResult) -> Reply:
    """One reply for all recipients (``commit`` stored for all of them or for none)."""
    if all(r.code < 300 for r in result.replies):
        return result.replies[0]
    refusals = [r for r in result.replies if r.code >= 400]
    if all(r == refusals[0] for r in refusals) and len(refusals) == len(result.replies):
        return refusals[0]
    # the recipient's own reason (quota: 4.2.2) before "not stored because of another" (4.3.0)
    temporary = sorted((r for r in refusals if r.code < 500), key=lambda r: r.enhanced == "4.3.0")
    return temporary[0] if temporary else Reply(451, ("Some recipients refused; try again later",), "4.3.0")


def smtp_handlers(
    store: Store,
    settings: Settings,
    delivery: Delivery,
    *,
    scram_secret: bytes | None = None,
    authenticator: Authenticator | None = None,
) -> dict[str, SmtpHandler]:
    """The handlers of the smtp, submission (and submissions) and lmtp protocols, sharing one
    authenticator (so lockouts count across listeners; ``pochta serve`` passes the one every
    protocol shares)."""
    authenticator = authenticator or Authenticator(store, settings.login, server_secret=scram_secret)
    return {
        role: SmtpHandler(
            role, store, settings, delivery, authenticator=authenticator, scram_secret=scram_secret
        )
        for role in ("smtp", "submission", "lmtp")
    }
