"""Events the SMTP/LMTP server core hands to its handler (h11 style).

Every command event owes exactly one reply (``ServerConnection.send``), except where noted:
``DataChunk`` and ``BdatStart`` owe nothing, ``DataEnd`` owes one reply per accepted recipient in
LMTP (RFC 2033 §4.2) and ``ProtocolError.replies`` lists what to send for a core-detected error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pochta.mime.address import SmtpPath
from pochta.proto.smtp.replies import Reply


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()  # next_event(): feed more bytes with receive_data()


class Event:
    """Base class of server events."""


@dataclass(frozen=True)
class Helo(Event):
    name: str  # RFC 5321 §4.1.1.1: the client's domain or address literal, as sent


@dataclass(frozen=True)
class Ehlo(Event):
    name: str


@dataclass(frozen=True)
class Lhlo(Event):
    name: str  # RFC 2033 §4.1


@dataclass(frozen=True)
class StartTls(Event):
    """Answer 220 (``replies.ready_to_start_tls``), then start TLS; the core resets itself."""


@dataclass(frozen=True)
class AuthStart(Event):
    """AUTH <mechanism> [initial-response] (RFC 4954 §4); the response is already base64-decoded.

    Answer with ``replies.auth_challenge(encode_sasl(data))`` to continue (the next line becomes an
    ``AuthResponse``), ``replies.auth_succeeded()`` or ``replies.auth_failed()``.
    """

    mechanism: str  # upper case, one of the offered mechanisms
    initial_response: bytes | None


@dataclass(frozen=True)
class AuthResponse(Event):
    data: bytes  # the client's decoded answer to the last 334 challenge


@dataclass(frozen=True)
class MailParams:
    """ESMTP parameters of MAIL FROM, checked for syntax by the core."""

    size: int | None = None  # RFC 1870 §6: SIZE=<declared octets>
    body: str | None = None  # RFC 1652 §3: "7BIT" / "8BITMIME"
    smtputf8: bool = False  # RFC 6531 §3.4
    ret: str | None = None  # RFC 3461 §4.3: "FULL" / "HDRS"
    envid: str | None = None  # RFC 3461 §4.4: decoded from xtext
    auth: str | None = None  # RFC 4954 §5: decoded from xtext; "<>" when the submitter is unknown
    requiretls: bool = False  # RFC 8689 section 2: deliver over validated TLS only


@dataclass(frozen=True)
class RcptParams:
    notify: tuple[str, ...] = ()  # RFC 3461 §4.1: ("NEVER",) or a subset of SUCCESS, FAILURE, DELAY
    orcpt: tuple[str, str] | None = None  # RFC 3461 §4.2: (addr-type, address decoded from xtext)


@dataclass(frozen=True)
class MailFrom(Event):
    path: SmtpPath  # the null path <> has ``path.is_null``
    params: MailParams = field(default_factory=MailParams)


@dataclass(frozen=True)
class RcptTo(Event):
    path: SmtpPath  # RCPT TO:<Postmaster> gives local "postmaster" and domain "" (RFC 5321 §4.1.1.3)
    params: RcptParams = field(default_factory=RcptParams)


@dataclass(frozen=True)
class DataStart(Event):
    """DATA: answer 354 (``replies.start_data``) to receive the message, or refuse (e.g. 452 4.3.1)."""


@dataclass(frozen=True)
class BdatStart(Event):
    """BDAT <size> [LAST] accepted: ``DataChunk`` events follow. Owes no reply (RFC 3030 §2)."""

    size: int
    last: bool
    first: bool  # the first chunk of this transaction's message


@dataclass(frozen=True)
class BdatChunkEnd(Event):
    """A non-LAST chunk has been received completely: answer 250 (``replies.chunk_received``)."""

    size: int


@dataclass(frozen=True)
class DataChunk(Event):
    """Message octets as they arrive (dot-unstuffed for DATA). Owes no reply."""

    data: bytes


@dataclass(frozen=True)
class DataEnd(Event):
    """The message is complete and passed the core's checks; commit it.

    SMTP: one reply. LMTP: one reply per recipient in ``recipients`` order (RFC 2033 §4.2).
    """

    size: int  # octets of the message (after dot-unstuffing)
    recipients: tuple[RcptTo, ...]


@dataclass(frozen=True)
class Rset(Event):
    pass


@dataclass(frozen=True)
class Noop(Event):
    pass


@dataclass(frozen=True)
class Quit(Event):
    """Answer 221 (``replies.closing``); the core is closed afterwards."""


@dataclass(frozen=True)
class Vrfy(Event):
    argument: str  # RFC 5321 §3.5.1; 252 (``replies.vrfy_cannot_verify``) is the usual answer


@dataclass(frozen=True)
class Help(Event):
    argument: str


@dataclass(frozen=True)
class ProtocolError(Event):
    """The core rejected a command by itself; send ``replies`` (usually one) and go on."""

    reply: Reply

    @property
    def replies(self) -> tuple[Reply, ...]:
        return (self.reply,)


@dataclass(frozen=True)
class DataRejected(ProtocolError):
    """The message is over and the core refuses it (bare CR/LF, size, header limits): drop the body.

    In LMTP the refusal is repeated for every accepted recipient (RFC 2033 §4.2).
    """

    count: int = 1

    @property
    def replies(self) -> tuple[Reply, ...]:
        return (self.reply,) * self.count


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """The peer closed the connection (``receive_data(b"")``) or the session is over. Owes nothing."""

    in_transaction: bool = False  # a message was being received: the handler drops it
