"""A synchronous stand-in for the POP3 handler: answers the core's events from a dict of messages,
so that transcripts run in microseconds, fed whole or byte by byte."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pochta.proto.pop3 import (
    ApopLogin,
    AuthStart,
    Capabilities,
    Close,
    Commit,
    DotStuffer,
    Listing,
    PasswordLogin,
    Pop3Core,
    Retrieve,
    SaslResponse,
    StartTls,
    TopFilter,
)

TIMESTAMP = "<1896.697170952@dbc.mtview.ca.us>"  # RFC 1939 §7 APOP example


@dataclass
class Driver:
    messages: list[bytes]
    password: str = "secret"
    apop_secret: str = "tanstaaf"  # RFC 1939 §7
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(sasl=("PLAIN",), stls=True))
    commits: list[Commit] = field(default_factory=list)
    closed: str | None = None
    tls: bool = False
    max_errors: int = 10

    def __post_init__(self) -> None:
        self.core = Pop3Core(self.capabilities, timestamp=TIMESTAMP, max_errors=self.max_errors)
        self.out = bytearray(self.core.data_to_send())

    def listing(self) -> Listing:
        return Listing(
            [len(m) for m in self.messages], [f"uid-{n}" for n in range(1, len(self.messages) + 1)]
        )

    def feed(self, data: bytes) -> None:
        core = self.core
        core.receive_data(data)
        while (event := core.next_event()) is not None:
            match event:
                case PasswordLogin(user, password):
                    if password == self.password:
                        core.login_succeeded(self.listing(), text=f"{user}'s maildrop is ready")
                    else:
                        core.login_failed("Authentication failed")
                case ApopLogin(user, digest, timestamp):
                    expected = hashlib.md5((timestamp + self.apop_secret).encode()).hexdigest()
                    if digest == expected:
                        core.login_succeeded(self.listing(), text=f"{user}'s maildrop is ready")
                    else:
                        core.login_failed("Authentication failed")
                case AuthStart(_, initial):
                    if initial is None:
                        core.sasl_challenge(b"")
                    elif initial == b"\0u\0" + self.password.encode():
                        core.login_succeeded(self.listing())
                    else:
                        core.login_failed("Authentication failed")
                case SaslResponse(data):
                    if data == b"\0u\0" + self.password.encode():
                        core.login_succeeded(self.listing())
                    else:
                        core.login_failed("Authentication failed")
                case StartTls():
                    self.tls = True
                    core.tls_started(Capabilities(sasl=("PLAIN",)))
                case Retrieve(index, lines):
                    core.retrieve_begin(index, lines)
                    self.out += core.data_to_send()
                    stuffer = DotStuffer()
                    data = self.messages[index]
                    if lines is not None:
                        top = TopFilter(lines)
                        data = top.feed(data) + top.flush()
                    self.out += stuffer.feed(data) + stuffer.end()
                case Commit():
                    self.commits.append(event)
                    core.commit_done(True, "Bye")
                case Close(reason):
                    self.closed = reason
        self.out += core.data_to_send()

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data
