"""Delivering one queued message to one destination domain over SMTP: the I/O around ``ClientConnection``.

``deliver(hops, message, options)`` tries the hops in order (RFC 5321 §5.1: MX preference, then each
address of a host) until one of them takes the transaction; what happens *inside* a transaction
(a 4xx or 5xx to MAIL, RCPT or the data) is that attempt's answer, per recipient. A hop that cannot be
reached, greets with an error or breaks before MAIL is skipped for the next one; when none works,
every recipient is deferred with the last reason.

TLS is opportunistic by default (RFC 3207, RFC 7435): STARTTLS when offered, without verifying the
certificate; a failed handshake is retried once on a new connection in plaintext. ``tls="required"``
defers instead, ``tls="off"`` never starts it. The message is streamed from the blob, dot-stuffed on
the way (never read whole into memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from pochta.proto.smtp import Reply
from pochta.proto.smtp.client import ClientConnection, Response, SmtpClientError
from pochta.proto.smtp.data import DataEncoder
from pochta.proto.smtp.events import NEED_DATA
from pochta.queue.dane import Tlsa, verify_chain
from pochta.queue.route import Hop

CHUNK = 64 * 1024

TlsPolicy = Literal["opportunistic", "required", "off"]


@dataclass(frozen=True)
class OutboundRecipient:
    address: str
    notify: tuple[str, ...] = ()
    orcpt: tuple[str, str] | None = None


@dataclass(frozen=True)
class OutboundMessage:
    sender: str  # "" for <>
    recipients: tuple[OutboundRecipient, ...]
    size: int
    open: Callable[[], BinaryIO]  # opens the message bytes (CRLF), from the start
    body: str | None = None  # RFC 1652 BODY=
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    requiretls: bool = False  # RFC 8689: only over validated TLS to a server offering REQUIRETLS


@dataclass(frozen=True)
class TlsRequirement:
    """What one hop's TLS must prove, from the recipient domain's policy (``tls_policy``)."""

    source: Literal["sts", "dane"]
    enforce: bool  # a failure defers; False (MTA-STS "testing"): report it and deliver anyway
    tlsa: tuple[Tlsa, ...] = ()  # DANE: the usable records of the MX host (none: TLS, unauthenticated)

    @property
    def authenticates(self) -> bool:
        """Whether the peer's identity is checked (what REQUIRETLS needs)."""
        return self.enforce and (self.source == "sts" or bool(self.tlsa))


@dataclass(frozen=True)
class TlsOutcome:
    """One validated-TLS attempt, for TLS-RPT; ``result_type`` "" is a success (RFC 8460 section 4.3)."""

    host: str
    address: str
    result_type: str
    detail: str = ""
    sending_ip: str = ""  # our address in the session (TLS-RPT's sending-mta-ip)


@dataclass(frozen=True)
class ClientOptions:
    helo_name: str
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    data_timeout: float = 600.0
    tls: TlsPolicy = "opportunistic"
    tls_context: ssl.SSLContext | None = None  # None: opportunistic (no verification)
    pkix_context: ssl.SSLContext | None = None  # MTA-STS: verifying, with the name check


@dataclass(frozen=True)
class AttemptResult:
    """One reply per recipient address (2xx delivered, 4xx deferred, 5xx failed)."""

    replies: dict[str, Reply]
    remote_mta: str | None = None  # the host that answered the transaction (a DSN's Remote-MTA)
    remote_dsn: bool = False  # it offered DSN, so NOTIFY went along (RFC 3461 §5.2.2)
    tried: str | None = None  # the last host tried, whether it answered or not (`queue show` "via")
    tls: list[TlsOutcome] = field(default_factory=list)  # sessions under a TLS policy (TLS-RPT)


class _HopFailed(Exception):
    """This hop cannot take the message now; try the next. ``reply`` is what the recipients get if
    no hop can."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class _TlsFailed(_HopFailed):
    pass


def opportunistic_context() -> ssl.SSLContext:
    """RFC 7435 opportunistic security: encrypt when possible, without authenticating the peer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def verifying_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)


def _deferred(text: str, enhanced: str = "4.4.1") -> Reply:
    return Reply(451, (text,), enhanced)


def _all(message: OutboundMessage, reply: Reply) -> dict[str, Reply]:
    return {r.address: reply for r in message.recipients}


def _requiretls_refusal(hop: Hop) -> Reply:
    # RFC 8689 section 4.2.1: a REQUIRETLS message goes only to an MX authenticated by MTA-STS
    # (enforce) or DANE; "5.7.10 Encryption needed" when there is none.
    return Reply(550, (f"REQUIRETLS: no MTA-STS or DANE policy authenticates {hop.host}",), "5.7.10")


async def deliver(
    hops: Sequence[Hop],
    message: OutboundMessage,
    options: ClientOptions,
    requirements: Mapping[str, TlsRequirement] | None = None,
) -> AttemptResult:
    """Try ``hops`` in order until one answers the transaction. ``requirements``: the TLS each host
    must prove (by host name; a host missing there gets ``options.tls``)."""
    last = _deferred("no host to try")
    tried: str | None = None
    outcomes: list[TlsOutcome] = []
    for hop in hops:
        requirement = (requirements or {}).get(hop.host)
        if message.requiretls and (requirement is None or not requirement.authenticates):
            last = _requiretls_refusal(hop)
            continue
        for address in hop.addresses:
            tried = hop.host
            tls = options.tls
            checked = requirement
            while True:
                try:
                    session = _Session(hop, address, message, options, tls, checked, outcomes)
                    result = await session.run()
                    result.tls.extend(outcomes)
                    return result
                except _TlsFailed as failed:
                    last = failed.reply
                    if checked is not None and not checked.enforce:
                        checked = None  # MTA-STS testing: reported; deliver as without a policy
                        continue
                    if tls != "opportunistic" or checked is not None:
                        break
                    tls = "off"  # RFC 7435 §6: fall back to cleartext rather than not deliver
                except _HopFailed as failed:
                    last = failed.reply
                    break
    return AttemptResult(_all(message, last), tried=tried, tls=outcomes)


class _Session:
    def __init__(
        self,
        hop: Hop,
        address: str,
        message: OutboundMessage,
        options: ClientOptions,
        tls: TlsPolicy,
        requirement: TlsRequirement | None = None,
        outcomes: list[TlsOutcome] | None = None,
    ) -> None:
        self.hop = hop
        self.address = address
        self.message = message
        self.options = options
        self.requirement = requirement
        self.outcomes = outcomes if outcomes is not None else []
        # A policy that enforces (MTA-STS enforce, DANE) requires TLS whatever queue.tls says.
        self.tls: TlsPolicy = "required" if requirement is not None and requirement.enforce else tls
        if requirement is not None and self.tls == "off":
            self.tls = "opportunistic"  # MTA-STS testing: try TLS to report on it
        self.client = ClientConnection(options.helo_name)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.where = f"{hop.host}[{address}]:{hop.port}"

    async def run(self) -> AttemptResult:
        try:
            await self._connect()
            await self._hello()
            return await self._transaction()
        except _Broken as broken:
            # Inside the transaction: this attempt is over for everyone (a recipient whose final reply
            # was lost may get the message twice, which RFC 5321 §6.1 accepts over losing it).
            return self._result(_all(self.message, broken.reply))
        finally:
            await self._close()

    # --- connection ------------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                self.reader, self.writer = await asyncio.open_connection(self.address, self.hop.port)
        except (OSError, TimeoutError) as exc:
            raise _HopFailed(_deferred(f"connect to {self.where} failed: {_reason(exc)}", "4.4.1")) from None
        greeting = await self._replies(1, self.options.command_timeout, before_mail=True)
        if greeting[0].reply.code != 220:
            raise _HopFailed(self._refusal("greeting", greeting[0].reply))

    def _report(self, result_type: str, detail: str = "") -> None:
        if self.requirement is not None:
            local = self.writer.get_extra_info("sockname") if self.writer is not None else None
            sending = str(local[0]) if local else ""
            self.outcomes.append(TlsOutcome(self.hop.host, self.address, result_type, detail[:300], sending))

    def _policy(self) -> str:
        assert self.requirement is not None
        return "DANE" if self.requirement.source == "dane" else "MTA-STS"

    async def _hello(self) -> None:
        await self._ehlo()
        if self.tls == "off":
            return
        if not self.client.has("STARTTLS"):
            self._report("starttls-not-supported", f"{self.where} does not offer STARTTLS")
            if self.tls == "required":
                why = f"{self._policy()} policy" if self.requirement is not None else "required"
                raise _HopFailed(_deferred(f"{self.where} does not offer STARTTLS ({why})", "4.7.10"))
            return
        self._write(self.client.starttls())
        reply = (await self._replies(1, self.options.command_timeout, before_mail=True))[0].reply
        if reply.code != 220:
            self._report("starttls-not-supported", f"{self.where} refused STARTTLS: {reply.code}")
            if self.tls == "required":
                # A refused STARTTLS under a TLS requirement is "encryption needed" (X.7.10), as when it
                # is not offered, not a protocol error (X.5.0).
                raise _HopFailed(_deferred(self._refusal("STARTTLS", reply).text, "4.7.10"))
            return  # opportunistic: carry on in cleartext on this connection
        assert self.writer is not None
        context = self._context()
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await self.writer.start_tls(context, server_hostname=self.hop.host)
        except ssl.SSLCertVerificationError as exc:
            # RFC 8461 section 4.2: under MTA-STS the certificate must be valid for the MX host name.
            self._report(_certificate_result(exc), exc.verify_message or str(exc))
            policy = f"{self._policy()}: " if self.requirement is not None else ""
            text = f"{policy}certificate of {self.where} not valid: {exc.verify_message or exc}"
            raise _TlsFailed(_deferred(text[:400], "4.7.5")) from None
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self._report("validation-failure", f"TLS handshake failed: {_reason(exc)}")
            raise _TlsFailed(_deferred(f"TLS with {self.where} failed: {_reason(exc)}", "4.7.5")) from None
        if self.requirement is not None and self.requirement.source == "dane" and self.requirement.tlsa:
            # RFC 7672 section 3.1: the chain is matched against the TLSA records, not PKIX.
            mismatch = verify_chain(self.requirement.tlsa, self._peer_chain(), [self.hop.host])
            if mismatch is not None:
                self._report("validation-failure", f"DANE: {mismatch}")
                raise _TlsFailed(_deferred(f"DANE: {self.where}: {mismatch}", "4.7.5"))
        self._report("")
        await self._ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS; ask again

    def _context(self) -> ssl.SSLContext:
        if self.requirement is not None and self.requirement.source == "sts":
            return self.options.pkix_context or verifying_context(None)
        if self.requirement is not None:  # DANE: the handshake accepts any chain; verify_chain judges
            return opportunistic_context()
        return self.options.tls_context or opportunistic_context()

    def _peer_chain(self) -> list[bytes]:
        """The certificates the server sent, DER, leaf first."""
        assert self.writer is not None
        tls = self.writer.get_extra_info("ssl_object")
        if tls is None:
            return []
        # Python 3.13 has SSLObject.get_unverified_chain(); before, the C object behind it has it.
        inner = getattr(tls, "_sslobj", tls)
        chain = getattr(tls, "get_unverified_chain", None) or getattr(inner, "get_unverified_chain", None)
        if chain is not None:
            # Certificate.public_bytes() gives PEM by default, the one encoding named publicly.
            return [
                c if isinstance(c, bytes) else ssl.PEM_cert_to_DER_cert(c.public_bytes())
                for c in chain() or []
            ]
        leaf = tls.getpeercert(binary_form=True)
        return [leaf] if leaf else []

    async def _ehlo(self) -> None:
        self._write(self.client.ehlo())
        reply = (await self._replies(1, self.options.command_timeout, before_mail=True))[0].reply
        if reply.code == 250:
            return
        if 500 <= reply.code < 600:  # RFC 5321 §3.2: an old server; HELO, without extensions
            self._write(self.client.helo())
            reply = (await self._replies(1, self.options.command_timeout, before_mail=True))[0].reply
            if reply.code == 250:
                return
        raise _HopFailed(self._refusal("EHLO", reply))

    # --- transaction -----------------------------------------------------------------------------

    async def _transaction(self) -> AttemptResult:
        message, client = self.message, self.client
        limit = client.max_size
        if limit is not None and message.size > limit:
            # RFC 1870 §6.1: not sent at all; the server said it is too big for it.
            reply = Reply(
                552, (f"message size {message.size} exceeds {self.hop.host}'s limit {limit}",), "5.3.4"
            )
            return self._result(_all(message, reply))
        if message.requiretls and not client.has("REQUIRETLS"):
            # RFC 8689 section 4.2.1: the next hop must offer REQUIRETLS; 5.7.30 when it does not.
            reply = Reply(550, (f"{self.hop.host} does not support REQUIRETLS",), "5.7.30")
            return self._result(_all(message, reply))
        if message.smtputf8 and not client.has("SMTPUTF8"):
            reply = Reply(553, (f"{self.hop.host} does not support SMTPUTF8",), "5.6.7")  # RFC 6531 §3.2
            return self._result(_all(message, reply))
        commands = [
            client.mail(
                message.sender,
                size=message.size,
                body=message.body,
                smtputf8=message.smtputf8,
                ret=message.ret,
                envid=message.envid,
                requiretls=message.requiretls,
            )
        ]
        pipelining = client.can_pipeline
        replies: list[Response] = []
        if not pipelining:
            self._write(commands[0])
            replies += await self._replies(1, self.options.command_timeout)
            commands = []
            if not replies[0].reply.is_positive:
                return self._result(_all(message, replies[0].reply))
        for rcpt in message.recipients:
            command = client.rcpt(rcpt.address, notify=rcpt.notify, orcpt=rcpt.orcpt)
            if pipelining:
                commands.append(command)
            else:
                self._write(command)
                replies += await self._replies(1, self.options.command_timeout)
        if pipelining:
            commands.append(client.data())  # RFC 2920 §3.1: DATA ends the group
            self._write(b"".join(commands))
            replies += await self._replies(len(commands), self.options.command_timeout)
        per_rcpt: dict[str, Reply] = {}
        mail_reply = replies[0].reply
        rcpt_replies = [r for r in replies if r.command == "RCPT"]
        for rcpt, response in zip(message.recipients, rcpt_replies, strict=True):
            per_rcpt[rcpt.address] = mail_reply if not mail_reply.is_positive else response.reply
        accepted = [r.address for r in message.recipients if per_rcpt[r.address].is_positive]
        if pipelining:
            data_reply = replies[-1].reply
        elif accepted:
            self._write(client.data())
            data_reply = (await self._replies(1, self.options.command_timeout))[0].reply
        else:
            return self._result(per_rcpt)
        if data_reply.code != 354:
            for address in accepted:
                per_rcpt[address] = data_reply
            if data_reply.code < 400:  # 2xx to DATA: not SMTP; nothing was sent
                for address in accepted:
                    per_rcpt[address] = _deferred(
                        f"{self.hop.host} answered DATA with {data_reply.code}", "4.5.0"
                    )
            return self._result(per_rcpt)
        if not accepted:
            # RFC 2920 §3.1: a pipelined DATA got 354 although no recipient was accepted: send an empty
            # message end, whose reply is ignored.
            self._write(b".\r\n")
            await self._replies(1, self.options.data_timeout)
            return self._result(per_rcpt)
        await self._send_body()
        final = (await self._replies(1, self.options.data_timeout))[0].reply
        for address in accepted:
            per_rcpt[address] = final
        return self._result(per_rcpt)

    async def _send_body(self) -> None:
        assert self.writer is not None
        encoder = DataEncoder()
        source = await asyncio.to_thread(self.message.open)
        try:
            while True:
                chunk = await asyncio.to_thread(source.read, CHUNK)
                if not chunk:
                    break
                self.writer.write(encoder.feed(chunk))
                await self._drain()
            self.writer.write(encoder.end())
            await self._drain()
        finally:
            await asyncio.to_thread(source.close)

    def _result(self, replies: dict[str, Reply]) -> AttemptResult:
        return AttemptResult(replies, self.hop.host, self.client.has("DSN"), self.hop.host)

    # --- wire ------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def _drain(self) -> None:
        assert self.writer is not None
        try:
            async with asyncio.timeout(self.options.data_timeout):
                await self.writer.drain()
        except (OSError, TimeoutError) as exc:
            self.client.closed = True
            raise _Broken(self, exc) from None

    async def _replies(self, count: int, wait: float, *, before_mail: bool = False) -> list[Response]:
        """The next ``count`` replies. A timeout, a closed connection or garbage before MAIL makes the hop
        fail (try the next); after MAIL it ends the attempt for every recipient (deferred)."""
        assert self.reader is not None
        with contextlib.suppress(OSError, TimeoutError):
            await self._drain_quietly()
        out: list[Response] = []
        try:
            async with asyncio.timeout(wait):
                while len(out) < count:
                    event = self.client.next_event()
                    if event is NEED_DATA:
                        self.client.receive_data(await self.reader.read(CHUNK))
                        continue
                    assert isinstance(event, Response)
                    out.append(event)
        except (OSError, TimeoutError, SmtpClientError) as exc:
            self.client.closed = True  # no polite QUIT on a connection that failed us
            if before_mail:
                raise _HopFailed(_deferred(f"{self.where}: {_reason(exc)}", "4.4.2")) from None
            raise _Broken(self, exc) from None
        return out

    async def _drain_quietly(self) -> None:
        if self.writer is not None:
            async with asyncio.timeout(self.options.command_timeout):
                await self.writer.drain()

    def _refusal(self, stage: str, reply: Reply) -> Reply:
        text = f"{self.where} refused {stage}: {reply.code} {' '.join(reply.lines)}"
        return _deferred(text[:400], "4.4.1" if stage == "greeting" else "4.5.0")

    async def _close(self) -> None:
        writer = self.writer
        if writer is None:
            return
        with contextlib.suppress(Exception):
            if not self.client.closed and not writer.is_closing():
                writer.write(self.client.quit())
                async with asyncio.timeout(5):
                    await writer.drain()
                # The reply to QUIT does not matter (RFC 5321 §4.1.1.10); a short wait is polite.
                assert self.reader is not None
                async with asyncio.timeout(2):
                    await self.reader.read(512)
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await writer.wait_closed()


class _Broken(Exception):
    """The connection broke (or timed out) inside the transaction."""

    def __init__(self, session: _Session, cause: BaseException) -> None:
        super().__init__(f"{session.where}: {_reason(cause)}")
        self.reply = _deferred(f"connection to {session.where} lost: {_reason(cause)}", "4.4.2")


def _certificate_result(exc: ssl.SSLCertVerificationError) -> str:
    """The RFC 8460 section 4.3 result type of a failed certificate check (OpenSSL's X509_V_ERR_*)."""
    code = exc.verify_code
    if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        return "certificate-host-mismatch"
    if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
        return "certificate-expired"
    if code in (18, 19, 20, 21):  # self-signed, unknown issuer: not from a trusted CA
        return "certificate-not-trusted"
    return "validation-failure"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text[:200]
