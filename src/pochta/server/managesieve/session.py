"""One ManageSieve session: the connection, the receiver, the state, the account, and what a
command handler needs (``Services``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.mail.sieve_scripts import SieveScripts
from pochta.proto.managesieve import Line, LineError, NeedMoreData, Receiver, Response, State
from pochta.server.connection import Connection
from pochta.store.model import Account

__all__ = ["Services", "Session", "SessionEnded"]


class SessionEnded(Exception):
    """A command ended the session (LOGOUT, BYE); the loop closes after flushing."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    authenticator: Authenticator
    scripts: SieveScripts
    scram_secret: bytes | None


@dataclass
class Session:
    conn: Connection
    receiver: Receiver
    services: Services
    state: State = State.NOT_AUTHENTICATED
    account: Account | None = None
    finished: bool = False
    out: bytearray = field(default_factory=bytearray)

    @property
    def line_open(self) -> bool:
        return self.receiver.line_open

    def receive(self, data: bytes) -> None:
        self.receiver.receive_data(data)

    def send(self, data: bytes | Response) -> None:
        self.out += data.encode() if isinstance(data, Response) else data

    async def flush(self) -> None:
        if self.out:
            data, self.out = self.out, bytearray()
            await self.conn.send(data)

    async def read_line(self) -> Line | LineError:
        """The next whole line (an AUTHENTICATE answer), reading from the client as needed."""
        await self.flush()
        while True:
            event = self.receiver.next_line()
            if not isinstance(event, NeedMoreData):
                return event
            data = await self.conn.read_some(line_open=self.receiver.line_open)
            if not data:
                raise SessionEnded
            self.receiver.receive_data(data)
