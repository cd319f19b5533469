"""A test handler for the SMTP server core: simple policy, collected messages, byte-by-byte feeding."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pochta.proto.sasl import (
    Challenge,
    Failure,
    NeedScramCredentials,
    ServerMechanism,
    Success,
    VerifyPassword,
    encode_sasl,
    scram_keys,
)
from pochta.proto.smtp import (
    NEED_DATA,
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
    Vrfy,
    replies,
)

HOST = "mx.example.org"
CONFIG = SmtpCoreConfig(hostname=HOST, max_message_size=10_000, max_recipients=5, max_errors=5)
USERS = {"alice": "secret"}


@dataclass
class _Scram:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def scram_for(user: str) -> _Scram | None:
    password = USERS.get(user)
    if password is None:
        return None
    salt = b"0123456789abcdef"
    stored, server = scram_keys(password, salt, 4096)
    return _Scram(salt, 4096, stored, server)


@dataclass
class Session:
    """Drives a ServerConnection with a permissive test policy."""

    conn: ServerConnection
    messages: list[bytes] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    reject: set[str] = field(default_factory=set)  # recipients answered 550 5.1.1
    lmtp_results: dict[str, Reply] = field(default_factory=dict)
    mech: ServerMechanism | None = None
    auth_final: bool = False
    greeting: Reply | None = None

    def start(self) -> bytes:
        return self.conn.send(self.greeting or replies.greeting(HOST))

    def handle(self, event: Event) -> bytes:
        conn = self.conn
        match event:
            case Helo() | Ehlo() | Lhlo():
                return conn.send(conn.hello_reply(event))
            case StartTls():
                return conn.send(replies.ready_to_start_tls())
            case AuthStart(mechanism=mechanism, initial_response=initial):
                self.mech, step = ServerMechanism.start(mechanism, initial, server_nonce="srvnonce")
                return conn.send(self._auth(step))
            case AuthResponse(data=data):
                if self.auth_final:
                    self.auth_final = False
                    return conn.send(replies.auth_succeeded())
                assert self.mech is not None
                return conn.send(self._auth(self.mech.step(data)))
            case MailFrom():
                return conn.send(replies.sender_ok())
            case RcptTo(path=path):
                if path.address in self.reject:
                    return conn.send(replies.unknown_user())
                return conn.send(replies.recipient_ok())
            case DataStart():
                return conn.send(replies.start_data())
            case BdatStart():
                return b""
            case DataChunk(data=data):
                self.body += data
                return b""
            case BdatChunkEnd(size=size):
                return conn.send(replies.chunk_received(size))
            case DataEnd(recipients=recipients):
                self.messages.append(bytes(self.body))
                self.body.clear()
                if conn.role == "lmtp":
                    return conn.send_many(
                        [self.lmtp_results.get(r.path.address, replies.delivered()) for r in recipients]
                    )
                return conn.send(replies.queued("Q1"))
            case ProtocolError():
                if isinstance(event, DataRejected):
                    self.body.clear()
                return conn.send_many(event.replies)
            case Rset():
                return conn.send(replies.reset_ok())
            case Noop():
                return conn.send(replies.ok())
            case Quit():
                return conn.send(replies.closing(HOST))
            case Vrfy():
                return conn.send(replies.vrfy_cannot_verify())
            case Help():
                return conn.send(replies.help_reply())
            case _:
                raise AssertionError(f"unexpected event {event!r}")

    def _auth(self, step: object) -> Reply:
        assert self.mech is not None
        match step:
            case Challenge(data=data):
                return replies.auth_challenge(encode_sasl(data))
            case VerifyPassword(authcid=user, password=password):
                return replies.auth_succeeded() if USERS.get(user) == password else replies.auth_failed()
            case NeedScramCredentials(username=user):
                return self._auth(self.mech.supply_credentials(scram_for(user)))
            case Success(server_final=final):
                if final:
                    self.auth_final = True  # RFC 4954 §4: additional data goes in a 334 challenge
                    return replies.auth_challenge(encode_sasl(final))
                return replies.auth_succeeded()
            case Failure():
                return replies.auth_failed()
        raise AssertionError(step)

    def feed(self, data: bytes, bytewise: bool = False) -> bytes:
        out = bytearray()
        pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for piece in pieces:
            self.conn.receive_data(piece)
            out += self.drain()
        return bytes(out)

    def drain(self) -> bytes:
        out = bytearray()
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                return bytes(out)
            assert isinstance(event, Event)
            self.events.append(event)
            if isinstance(event, ConnectionClosed):
                return bytes(out)
            out += self.handle(event)


def session(
    role: Role = "smtp", config: SmtpCoreConfig = CONFIG, *, tls: bool = False, **changes: object
) -> Session:
    cfg = replace(config, **changes) if changes else config  # type: ignore[arg-type]
    s = Session(ServerConnection(role, cfg, tls=tls))
    s.start()
    return s


def crlf(text: str) -> bytes:
    """Transcript text with one line per line -> CRLF bytes."""
    return "".join(line + "\r\n" for line in text.strip("\n").split("\n")).encode()
