"""One conversation with one milter over asyncio (the I/O around ``pochta.proto.milter``).

``MilterConnection.open`` connects (``inet:`` or ``unix:``) and negotiates within
``connect_timeout``; ``ask`` writes a step (its macros first) and reads the answers up to the
verdict: modifications at end of message come before it, and SMFIR_PROGRESS starts the timeout
again. Anything that goes wrong (refused connection, timeout, a broken packet, the milter
closing) is a ``MilterFailure``; the chain decides what it means (``default_action``).
"""

from __future__ import annotations

import asyncio
import contextlib

from pochta.config_milter import MilterSettings
from pochta.proto.milter import (
    Accept,
    Continue,
    Discard,
    MilterProtocolError,
    MilterSession,
    Progress,
    Reject,
    Reply,
    ReplyCode,
    ReplyDecoder,
    Send,
    Shutdown,
    Skip,
    Tempfail,
)

__all__ = ["MilterConnection", "MilterFailure"]

_VERDICTS = (Accept, Continue, Reject, Tempfail, Discard, ReplyCode, Skip)
# Modifications one end of message may carry: a milter sending more is broken or hostile.
_MAX_MODIFICATIONS = 10_000


class MilterFailure(Exception):
    """The milter cannot be used: down, too slow, or not speaking the protocol."""


class MilterConnection:
    def __init__(self, settings: MilterSettings) -> None:
        self.settings = settings
        self.session = MilterSession()
        self._decoder = ReplyDecoder()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        address = self.settings.address
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                if address.path is not None:
                    self._reader, self._writer = await asyncio.open_unix_connection(address.path)
                else:
                    self._reader, self._writer = await asyncio.open_connection(address.host, address.port)
                self._writer.write(self.session.negotiation())
                self.session.negotiate(await self._next())
        except (OSError, TimeoutError, MilterProtocolError) as exc:
            await self.close()
            raise MilterFailure(_reason(exc)) from exc

    async def ask(
        self, macros: bytes, send: Send, answer_within: float, *, at_eom: bool = False
    ) -> list[Reply]:
        """Send ``macros`` and the step; the answers up to the verdict (none for a step the milter
        skips or does not answer)."""
        writer = self._writer
        if writer is None:
            raise MilterFailure("not connected")
        try:
            if macros or send.data:
                writer.write(macros + send.data)
            if not send.reply:
                await writer.drain()
                return []
            at_body = send.data[4:5] == b"B"
            answers: list[Reply] = []
            while True:
                async with asyncio.timeout(answer_within):  # per answer: PROGRESS restarts it
                    reply = self.session.check(await self._next(), at_eom=at_eom, at_body=at_body)
                if isinstance(reply, Progress):
                    continue  # the timeout starts again
                if isinstance(reply, Shutdown):
                    raise MilterFailure("the milter ended the conversation")
                answers.append(reply)
                if isinstance(reply, _VERDICTS):
                    return answers
                if len(answers) > _MAX_MODIFICATIONS:
                    raise MilterFailure("too many modifications")
        except (OSError, TimeoutError, MilterProtocolError) as exc:
            await self.close()
            raise MilterFailure(_reason(exc)) from exc

    async def tell(self, data: bytes) -> None:
        """A command that is never answered (ABORT, QUIT)."""
        if self._writer is None:
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            await self.close()
            raise MilterFailure(_reason(exc)) from exc

    async def _next(self) -> Reply:
        assert self._reader is not None
        while True:
            reply = self._decoder.next_reply()
            if reply is not None:
                return reply
            data = await self._reader.read(65536)
            if not data:
                raise MilterProtocolError("the milter closed the connection")
            self._decoder.receive_data(data)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
