"""A scripted milter for tests: a tiny asyncio server on 127.0.0.1 speaking the milter side of the
protocol (framing from pochta.proto.milter, the rest written here), so the driver and the SMTP
integration are tested over a real socket. Real milters (rspamd, OpenDKIM) are tested in
tests/interop.

``FakeMilter(script)``: ``script`` maps a command letter (``"C"`` connect, ``"M"`` mail, ``"R"``
rcpt, ``"E"`` end of message, ...) to the reply packets to send (default: continue; nothing for
ABORT, QUIT and MACRO). Everything received is kept in ``received`` as (letter, data)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pochta.proto.milter import frame

Script = dict[str, list[bytes] | Callable[[bytes], list[bytes]]]
UNANSWERED = {"A", "Q", "D"}


def header(name: str, value: str) -> bytes:
    return frame(b"h", f"{name}\0{value}\0".encode())


def replycode(text: str) -> bytes:
    return frame(b"y", text.encode() + b"\0")


ACCEPT, CONTINUE, REJECT, TEMPFAIL, DISCARD = (frame(c) for c in (b"a", b"c", b"r", b"t", b"d"))


@dataclass
class FakeMilter:
    script: Script = field(default_factory=dict)
    actions: int = 0x1FF
    steps: int = 0
    silent: bool = False  # never answers after negotiation (a hung milter)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0
    connections: int = 0

    def commands(self, letter: str) -> list[bytes]:
        return [data for command, data in self.received if command == letter]

    def macros(self) -> dict[str, str]:
        """Every macro received (name -> last value)."""
        out: dict[str, str] = {}
        for data in self.commands("D"):
            parts = data[1:].split(b"\0")[:-1]
            for name, value in zip(parts[::2], parts[1::2], strict=True):
                out[name.decode()] = value.decode()
        return out

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                packet = await reader.readexactly(length)
                letter, data = packet[:1].decode(), packet[1:]
                self.received.append((letter, data))
                if letter == "O":
                    writer.write(frame(b"O", struct.pack("!III", 6, self.actions, self.steps)))
                elif letter in UNANSWERED or self.silent:
                    if letter == "Q":
                        break
                    continue
                else:
                    answer = self.script.get(letter, [CONTINUE])
                    writer.write(b"".join(answer(data) if callable(answer) else answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeMilter]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self
            server.close()

    @property
    def socket(self) -> str:
        return f"inet:127.0.0.1:{self.port}"
