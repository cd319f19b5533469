"""ONE read-feed-write loop for the protocols whose core is pulled command by command (IMAP,
ManageSieve): read what arrived, hand it to the sans-IO receiver, run every command it now holds
inside a busy section (a graceful stop waits for it, ``Connection.busy_section``), write and drain the
replies, and go round until the client leaves or the session ends.

Timeouts, deadlines and the server's stop come from ``Connection.read_some`` (``IdleTimeout``,
``DeadlineExpired``, ``ServerShutdown``); the protocol's handler turns them into its goodbye.

POP3 and SMTP keep loops of their own: they answer cheap commands from the socket callback
(``Connection.set_fast_reader``) with an event parked for the loop when one needs to wait, and batch
the replies of pipelined commands into one write (RFC 2449 §6.6, RFC 2920), which a loop that runs
one command per turn cannot express without costing them a task switch per command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from pochta.server.connection import Connection

__all__ = ["LoopSession", "serve_commands"]


class LoopSession(Protocol):
    """What the loop needs of a protocol's session."""

    @property
    def conn(self) -> Connection: ...

    @property
    def line_open(self) -> bool:
        """The receiver holds the start of a command line (the line deadline runs)."""
        ...

    @property
    def finished(self) -> bool:
        """The session ended (LOGOUT, a fatal error): the loop returns."""
        ...

    def receive(self, data: bytes) -> None:
        """Feed received bytes to the sans-IO receiver."""

    async def run_buffered(self) -> None:
        """Run every command the receiver holds, writing their replies."""

    async def flush(self) -> None:
        """Drain what was written (backpressure)."""


async def serve_commands(session: LoopSession, read: Callable[[], Awaitable[bytes]] | None = None) -> None:
    """Serve until the client closes its side or ``session.finished``. ``read`` replaces the plain
    ``read_some`` (IMAP NOTIFY reads while it pushes news between commands)."""
    conn = session.conn
    while True:
        data = await (conn.read_some(line_open=session.line_open) if read is None else read())
        if not data:
            return  # the client went away
        session.receive(data)
        with conn.busy_section():
            await session.run_buffered()
            await session.flush()
        if session.finished:
            return
