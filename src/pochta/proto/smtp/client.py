"""The SMTP/LMTP client core (outbound queue, tests): commands out, replies in, sans-IO.

Each method that sends a command returns its bytes and remembers what answer is expected, so that
replies to a pipelined group (RFC 2920) are matched to their commands in order::

    client = ClientConnection("mx.example")
    client.receive_data(greeting_bytes)
    client.next_event()                                  # Response("GREETING", 220 ...)
    write(client.ehlo())
    ...
    if client.can_pipeline:
        write(client.mail("<a@x>") + client.rcpt("<b@y>") + client.data())
    for piece in client.data_body(chunks): write(piece)  # dot-stuffed, streamed (RFC 5321 §4.5.2)
    # Response("MAIL", ...), Response("RCPT", ..., recipient="<b@y>"), Response("DATA", 354),
    # then Response("DATA-END", ...) once, or once per accepted recipient in LMTP (RFC 2033 §4.2)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pochta.proto.buffer import LineTooLong, ReceiveBuffer
from pochta.proto.sasl import ClientMechanism, SaslError, decode_sasl_line, encode_sasl
from pochta.proto.smtp.commands import xtext_encode
from pochta.proto.smtp.data import encode_data
from pochta.proto.smtp.events import NEED_DATA, _NeedData
from pochta.proto.smtp.replies import Reply, ReplyError, parse_reply_line, split_enhanced

MAX_REPLY_LINE = 4096  # RFC 5321 §4.5.3.1.5 says 512; real servers send longer text lines
MAX_REPLY_LINES = 200


class SmtpClientError(Exception):
    """The server sent something that is not SMTP, or the caller used the client out of order."""


@dataclass(frozen=True)
class Response:
    command: str  # GREETING, EHLO, HELO, LHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, DATA-END, BDAT, ...
    reply: Reply
    recipient: str | None = None  # RCPT, and DATA-END in LMTP: the recipient the reply is about


class ClientConnection:
    def __init__(self, hostname: str, *, lmtp: bool = False) -> None:
        self.hostname = hostname  # our name, sent with EHLO/LHLO
        self.lmtp = lmtp
        self.capabilities: dict[str, str] = {}  # EHLO keyword (upper case) -> parameters
        self.tls = False
        self.authenticated = False
        self.accepted: list[str] = []  # recipients accepted in this transaction, in RCPT order
        self._buffer = ReceiveBuffer(MAX_REPLY_LINE, strict_crlf=False)
        self._lines: list[str] = []
        self._code = 0
        self._expect: deque[tuple[str, str | None]] = deque([("GREETING", None)])
        self._mechanism: ClientMechanism | None = None
        self._pending_rcpts: deque[str] = deque()
        self._bdat_failed = False
        self.closed = False

    # --- capabilities ----------------------------------------------------------------------------

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.capabilities

    @property
    def can_pipeline(self) -> bool:
        return self.has("PIPELINING")

    @property
    def max_size(self) -> int | None:
        """RFC 1870 §4: the SIZE parameter; None when absent or 0 (no fixed limit)."""
        value = self.capabilities.get("SIZE", "")
        return int(value) if value.isdigit() and int(value) > 0 else None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        return tuple(self.capabilities.get("AUTH", "").upper().split())

    @property
    def waiting(self) -> int:
        """Replies still expected."""
        return len(self._expect)

    # --- input -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            self.closed = True
        self._buffer.feed(data)

    def next_event(self) -> Response | _NeedData:
        """The next complete reply with the command it answers, or NEED_DATA."""
        while True:
            try:
                line = self._buffer.next_line()
            except LineTooLong:
                raise SmtpClientError("reply line too long") from None
            if line is None:
                if self.closed and self._expect:
                    raise SmtpClientError("connection closed while a reply was expected")
                return NEED_DATA
            try:
                code, last, text = parse_reply_line(line)
            except ReplyError as exc:
                raise SmtpClientError(str(exc)) from None
            if self._lines and code != self._code:
                raise SmtpClientError("reply code changed inside a multi-line reply")  # RFC 5321 §4.2.1
            self._code = code
            self._lines.append(text)
            if len(self._lines) > MAX_REPLY_LINES:
                raise SmtpClientError("too many reply lines")
            if last:
                texts, self._lines = self._lines, []
                return self._complete(split_enhanced(code, texts))

    def _complete(self, reply: Reply) -> Response:
        if not self._expect:
            raise SmtpClientError(f"unexpected reply {reply.code}")
        command, recipient = self._expect.popleft()
        ok = 200 <= reply.code < 300
        if command in ("EHLO", "LHLO") and ok:
            self.capabilities = {}
            for line in reply.lines[1:]:  # RFC 5321 §4.1.1.1: ehlo-keyword *(SP ehlo-param)
                keyword, _, params = line.partition(" ")
                self.capabilities[keyword.upper()] = params
        elif command == "STARTTLS" and reply.code == 220:
            self._buffer.discard()  # RFC 3207 §4.2: nothing read in clear text is used after TLS
            self.capabilities = {}
            self.tls = True
        elif command == "AUTH":
            if reply.code == 235:
                self.authenticated = True
                if self._mechanism is not None:
                    try:
                        self._mechanism.finish(None)  # SCRAM: the server must have proven itself
                    except SaslError as exc:
                        raise SmtpClientError(f"AUTH: {exc}") from None
                self._mechanism = None
            elif reply.code != 334:
                self._mechanism = None
        elif command == "MAIL" and ok:
            self.accepted = []
            self._bdat_failed = False
        elif command == "RCPT":
            if ok and recipient is not None:
                self.accepted.append(recipient)
            elif self.lmtp and recipient is not None and recipient in self._pending_rcpts:
                # RFC 2033 §4.2: a refused recipient gets no reply after the data
                self._pending_rcpts.remove(recipient)
                self._expect.remove(("DATA-END", None))
        elif command == "DATA" and reply.code != 354:
            self._expect = deque(e for e in self._expect if e[0] != "DATA-END")
            self._pending_rcpts.clear()
        elif command == "BDAT" and not ok:
            self._bdat_failed = True  # RFC 3030 §2: the transaction failed; so will the next BDATs
        elif command == "DATA-END":
            if self.lmtp and self._pending_rcpts:
                recipient = self._pending_rcpts.popleft()
            if not any(c == "DATA-END" for c, _ in self._expect):
                self.accepted = []
        elif command == "RSET":
            self.accepted = []
        return Response(command, reply, recipient)

    def _expect_reply(self, command: str, recipient: str | None = None) -> None:
        if self.closed:
            raise SmtpClientError("the connection is closed")
        self._expect.append((command, recipient))

    # --- commands --------------------------------------------------------------------------------

    def _line(self, command: str, text: str, recipient: str | None = None) -> bytes:
        self._expect_reply(command, recipient)
        return text.encode("utf-8") + b"\r\n"

    def ehlo(self) -> bytes:
        verb = "LHLO" if self.lmtp else "EHLO"  # RFC 2033 §4.1
        return self._line(verb, f"{verb} {self.hostname}")

    def helo(self) -> bytes:
        return self._line("HELO", f"HELO {self.hostname}")

    def starttls(self) -> bytes:
        return self._line("STARTTLS", "STARTTLS")

    def auth(self, mechanism: ClientMechanism) -> bytes:
        """AUTH with an initial response where the mechanism has one (RFC 4954 §4)."""
        self._mechanism = mechanism
        initial = mechanism.initial_response()
        if initial is None:
            return self._line("AUTH", f"AUTH {mechanism.name}")
        encoded = encode_sasl(initial).decode("ascii") or "="  # RFC 4954 §4: "=" is empty
        return self._line("AUTH", f"AUTH {mechanism.name} {encoded}")

    def auth_continue(self, reply: Reply) -> bytes:
        """The answer to a 334 challenge."""
        if self._mechanism is None or reply.code != 334:
            raise SmtpClientError("no AUTH exchange is waiting for a challenge")
        challenge = decode_sasl_line(reply.lines[0].strip().encode("ascii", "replace"))
        if not isinstance(challenge, bytes):
            raise SmtpClientError("malformed AUTH challenge")
        try:
            answer = self._mechanism.respond(challenge)
        except SaslError:
            self._mechanism = None
            return self._line("AUTH", "*")  # RFC 4954 §4: cancel; the server answers 501
        return self._line("AUTH", encode_sasl(answer).decode("ascii"))

    def mail(
        self,
        path: str,
        *,
        size: int | None = None,
        body: str | None = None,
        smtputf8: bool = False,
        ret: str | None = None,
        envid: str | None = None,
        auth: str | None = None,
        requiretls: bool = False,
    ) -> bytes:
        """MAIL FROM:<path> with the parameters the server advertised (others are left out)."""
        params = []
        if size is not None and self.has("SIZE"):
            params.append(f"SIZE={size}")
        if body is not None and self.has("8BITMIME"):
            params.append(f"BODY={body}")
        if smtputf8:
            if not self.has("SMTPUTF8"):
                raise SmtpClientError("the server does not offer SMTPUTF8")  # RFC 6531 §3.2
            params.append("SMTPUTF8")
        if self.has("DSN"):
            if ret is not None:
                params.append(f"RET={ret}")
            if envid is not None:
                params.append(f"ENVID={xtext_encode(envid)}")  # RFC 3461 §4.4
        if auth is not None and self.has("AUTH"):
            params.append(f"AUTH={xtext_encode(auth)}")  # RFC 4954 §5
        if requiretls:
            if not self.has("REQUIRETLS"):  # RFC 8689 section 4.1: only to a server offering it
                raise SmtpClientError("the server does not offer REQUIRETLS")
            params.append("REQUIRETLS")
        return self._line("MAIL", " ".join([f"MAIL FROM:{_bracket(path)}", *params]))

    def rcpt(self, path: str, *, notify: Iterable[str] = (), orcpt: tuple[str, str] | None = None) -> bytes:
        params = []
        if self.has("DSN"):
            notify = tuple(notify)
            if notify:
                params.append("NOTIFY=" + ",".join(notify))  # RFC 3461 §4.1
            if orcpt is not None:
                params.append(f"ORCPT={orcpt[0]};{xtext_encode(orcpt[1])}")  # RFC 3461 §4.2
        bracketed = _bracket(path)
        return self._line("RCPT", " ".join([f"RCPT TO:{bracketed}", *params]), recipient=bracketed)

    def data(self) -> bytes:
        """DATA; after its 354, send ``data_body``. The final reply is expected now (pipelining)."""
        out = self._line("DATA", "DATA")
        self._expect_data_end()
        return out

    def _expect_data_end(self) -> None:
        if self.lmtp:
            # RFC 2033 §4.2: one reply per recipient accepted so far, or to be accepted in this group
            pending = [r for c, r in self._expect if c == "RCPT" and r is not None]
            self._pending_rcpts = deque([*self.accepted, *pending])
            for _ in self._pending_rcpts:
                self._expect.append(("DATA-END", None))
        else:
            self._expect.append(("DATA-END", None))

    def data_body(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The message, dot-stuffed and terminated, as it streams (RFC 5321 §4.5.2)."""
        return encode_data(chunks)

    def bdat(self, chunk: bytes, *, last: bool = False) -> bytes:
        """BDAT <size> [LAST] with the chunk (RFC 3030 §2)."""
        if not self.has("CHUNKING"):
            raise SmtpClientError("the server does not offer CHUNKING")
        if last and not self._bdat_failed:
            self._expect_data_end()
        elif last:
            self._expect_reply("DATA-END")  # one refusal, whatever the role
        else:
            self._expect_reply("BDAT")
        return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk

    def rset(self) -> bytes:
        return self._line("RSET", "RSET")

    def noop(self) -> bytes:
        return self._line("NOOP", "NOOP")

    def quit(self) -> bytes:
        return self._line("QUIT", "QUIT")

    def vrfy(self, who: str) -> bytes:
        return self._line("VRFY", f"VRFY {who}")


def _bracket(path: str) -> str:
    return path if path.startswith("<") else f"<{path}>"
