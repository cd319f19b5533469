"""A miniature handler drives receiver and serialiser through a session: the shape later handlers take."""

from __future__ import annotations

from pochta.mail.names import modified_utf7_decode, modified_utf7_encode
from pochta.proto.imap import (
    Code,
    Command,
    CommandError,
    Continuation,
    IdleDone,
    NeedLiteral,
    NeedMoreData,
    Receiver,
    SequenceSet,
    State,
    Status,
    Tagged,
    WireContext,
    serialise,
)
from pochta.proto.imap.args import Append, Login, MailboxArgs
from pochta.proto.imap.fetch import FetchArgs
from pochta.proto.imap.responses import Exists, Fetch, Response


class MiniHandler:
    """No store: just enough state to show how the core is driven."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        self.receiver.state = State.NOT_AUTHENTICATED
        self.ctx = WireContext(encode_mailbox=modified_utf7_encode, decode_mailbox=modified_utf7_decode)
        self.out = bytearray()
        self.closed = False
        self.messages: list[bytes] = []

    def send(self, response: Response) -> None:
        self.out += serialise(response, self.ctx)

    def data_received(self, data: bytes) -> bytes:
        self.receiver.receive_data(data)
        while not self.closed:
            event = self.receiver.next_command()
            if isinstance(event, NeedMoreData):
                break
            if isinstance(event, NeedLiteral):
                if event.sync:
                    self.send(Continuation("Ready for literal data"))
            elif isinstance(event, CommandError):
                self.send(event.reply)
                self.closed = event.close
            elif isinstance(event, IdleDone):
                self.send(Tagged(b"i1", Status.OK, "IDLE terminated"))
            elif isinstance(event, Command):
                self.dispatch(event)
        out = bytes(self.out)
        self.out.clear()
        return out

    def dispatch(self, cmd: Command) -> None:
        ok = Tagged(cmd.tag, Status.OK, f"{cmd.name} completed")
        match cmd.args:
            case Login(userid=b"alice", password=b"secret"):
                self.receiver.state = State.AUTHENTICATED
            case Login():
                ok = Tagged(cmd.tag, Status.NO, "Bad credentials", "AUTHENTICATIONFAILED")
            case MailboxArgs(mailbox=raw) if cmd.name == "SELECT":
                name = self.ctx.mailbox_name(raw)
                assert name == "Черновики"
                self.receiver.state = State.SELECTED
                self.send(Exists(len(self.messages)))
                ok = Tagged(cmd.tag, Status.OK, "SELECT completed", "READ-WRITE")
            case Append(messages=messages):
                self.messages.extend(bytes(m.data) for m in messages)
                ok = Tagged(cmd.tag, Status.OK, "APPEND completed", Code.appenduid(1, SequenceSet.of(1)))
            case FetchArgs(sequence_set=seq, atts=atts):
                for n in seq.iter(len(self.messages)):
                    self.send(Fetch(n, [(a.response_name(), 0) for a in atts]))
            case _ if cmd.name == "IDLE":
                self.send(Continuation("idling"))
                self.receiver.expect_idle_done(cmd.tag)
                return
            case _ if cmd.name == "LOGOUT":
                self.send(Tagged(cmd.tag, Status.OK, "bye"))
                self.closed = True
                return
        self.send(ok)


def test_session() -> None:
    h = MiniHandler()
    assert h.data_received(b"a1 SELECT INBOX\r\n") == b"a1 BAD Log in first\r\n"
    assert h.data_received(b"a2 LOGIN alice {6}\r\n") == b"+ Ready for literal data\r\n"
    assert h.data_received(b"secret\r\n") == b"a2 OK LOGIN completed\r\n"
    assert h.data_received(b"a3 APPEND INBOX {5+}\r\nhello\r\n") == (
        b"a3 OK [APPENDUID 1 1] APPEND completed\r\n"
    )
    assert h.data_received(b"a4 SELECT &BCcENQRABD0EPgQyBDgEOgQ4-\r\n") == (
        b"* 1 EXISTS\r\na4 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert h.data_received(b"a5 FETCH 1:* (RFC822.SIZE)\r\n") == (
        b"* 1 FETCH (RFC822.SIZE 0)\r\na5 OK FETCH completed\r\n"
    )
    assert h.data_received(b"i1 IDLE\r\n") == b"+ idling\r\n"
    assert h.data_received(b"DONE\r\n") == b"i1 OK IDLE terminated\r\n"
    assert h.data_received(b"a6 APPEND INBOX {999999999}\r\n") == (b"a6 NO [TOOBIG] Literal too big\r\n")
    assert h.data_received(b"a7 LOGOUT\r\n") == b"a7 OK bye\r\n"
    assert h.closed
