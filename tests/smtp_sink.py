"""A scripted SMTP server for client tests: asyncio streams on 127.0.0.1, independent of pochta's server.

    async with SmtpSink(Script(rcpt_reply={"bad@x.test": "550 5.1.1 no such user"})) as sink:
        ...deliver to ("127.0.0.1", sink.port)...
        assert sink.messages == [b"Subject: hi\\r\\n\\r\\nbody\\r\\n"]

Connection n follows ``sink.scripts[n]`` (the last script once they run out), so "first attempt 451, then
250" is ``SmtpSink(Script(mail_reply="451 4.3.0 busy"), Script())``; ``scripts`` may be changed between
attempts. A reply is "CODE text"; several lines are joined with "\\n", each "CODE text".

STARTTLS is offered only when the sink is given a server ``ssl.SSLContext`` (e.g. from trustme). Faults:
``Script.starttls`` "garbage" (220, then bytes that are not TLS, until the client leaves), "close" (220,
then close) or "refuse" (454);
``drop_in_data`` closes once the message data starts to arrive; ``hang`` names the point from which the
sink stops answering ("GREETING", "EHLO", "MAIL", "RCPT", "DATA", "DATA-END", ...); it still records
what arrives and closes (silently) on QUIT, so a client's polite QUIT does not wait for a reply.
``final_delay`` waits that many seconds after the message data before the final reply; a client that
went away meanwhile (closed, or its process killed) gets no reply and the message is not acknowledged.
Each transaction records when its final 2xx reply was written (``Transaction.acked``, ``time.monotonic()``)
and ``sink.on_acked`` (if set) is called right after that write, in the sink's event loop.
A 421 greeting closes the connection at once; any other non-2xx greeting answers 503 until QUIT.

Recorded per connection (``sink.connections``): every command line in order, the raw bytes of each read
in command mode (``packets``; ``batches()`` gives the verbs of each read, to assert pipelining), whether
TLS was on, and each transaction (``Transaction``): HELO/EHLO name, TLS, the MAIL line, the RCPT lines,
the accepted addresses and the message data un-dot-stuffed (RFC 5321 §4.5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

DEFAULT_CAPABILITIES = ("PIPELINING", "SIZE 10485760", "8BITMIME", "DSN", "SMTPUTF8", "ENHANCEDSTATUSCODES")
RcptReply = str | Mapping[str, str] | Callable[[str], str]
_STUFFED = re.compile(rb"(^|\r\n)\.")


@dataclass
class Script:
    """How the sink answers one connection."""

    greeting: str = "220 sink ESMTP"
    capabilities: Sequence[str] = DEFAULT_CAPABILITIES
    offer_starttls: bool = True  # only when the sink has a TLS context, and not once TLS is on
    ehlo_reply: str | None = None  # e.g. "502 5.5.2 no EHLO here": refuse EHLO (the client tries HELO)
    helo_reply: str = "250 sink"
    mail_reply: str = "250 2.1.0 ok"
    rcpt_reply: RcptReply = "250 2.1.5 ok"  # a str, a {address: reply} dict (others 250) or a callable
    data_reply: str = "354 go ahead"
    final_reply: str | None = None  # None: "250 2.0.0 queued as N"
    starttls: Literal["ok", "garbage", "close", "refuse"] = "ok"
    drop_in_data: bool = False
    hang: str | None = None
    final_delay: float = 0.0  # seconds between the end of the data and the final reply

    def rcpt(self, address: str) -> str:
        if isinstance(self.rcpt_reply, str):
            return self.rcpt_reply
        if isinstance(self.rcpt_reply, Mapping):
            return self.rcpt_reply.get(address, "250 2.1.5 ok")
        return self.rcpt_reply(address)


@dataclass
class Transaction:
    helo: str
    tls: bool
    mail: str  # the MAIL FROM line, parameters included
    rcpts: list[str] = field(default_factory=list)  # the RCPT TO lines, parameters included
    accepted: list[str] = field(default_factory=list)  # addresses (without <>) the sink accepted
    data: bytes | None = None  # the message as the client meant it (un-dot-stuffed); None: not received
    acked: float | None = None  # time.monotonic() when the final 2xx reply was written; None: never


@dataclass
class Connection:
    index: int
    tls: bool = False
    commands: list[str] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)  # each read while in command mode
    transactions: list[Transaction] = field(default_factory=list)

    def batches(self) -> list[list[str]]:
        """The command verbs in each packet (read) in order, e.g. [["EHLO"], ["MAIL", "RCPT", "DATA"]]."""
        out = []
        for packet in self.packets:
            lines = packet.decode("utf-8", "replace").split("\r\n")
            out.append([line.split(" ", 1)[0].split(":", 1)[0].upper() for line in lines if line])
        return out


def _address(argument: str) -> str:
    """The path out of "FROM:<a@b> PARAMS" / "TO:<a@b> ...", without the brackets."""
    path = argument.partition(":")[2].strip()
    return path[1 : path.find(">")] if path.startswith("<") else path.split(" ", 1)[0]


def _format(reply: str) -> bytes:
    lines = reply.split("\n")
    text = "".join(
        f"{line[:3]}{'-' if i < len(lines) - 1 else ' '}{line[4:]}\r\n" for i, line in enumerate(lines)
    )
    return text.encode("utf-8")


class SmtpSink:
    def __init__(self, *scripts: Script, tls: ssl.SSLContext | None = None) -> None:
        self.scripts: list[Script] = list(scripts) or [Script()]
        self.tls = tls
        self.connections: list[Connection] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued = 0
        self.on_acked: Callable[[Transaction], None] | None = None

    @property
    def transactions(self) -> list[Transaction]:
        return [t for c in self.connections for t in c.transactions]

    @property
    def messages(self) -> list[bytes]:
        """The data of every completed transaction, in order."""
        return [t.data for t in self.transactions if t.data is not None]

    @property
    def commands(self) -> list[str]:
        return [line for c in self.connections for line in c.commands]

    async def __aenter__(self) -> SmtpSink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log = Connection(len(self.connections))
        self.connections.append(log)
        script = self.scripts[min(log.index, len(self.scripts) - 1)]
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await _Session(self, script, log, reader, writer).run()
        except (OSError, ssl.SSLError, EOFError):
            pass  # the client went away; what it did is recorded
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._tasks.discard(task)

    def next_queue_id(self) -> int:
        self._queued += 1
        return self._queued


class _Session:
    def __init__(
        self,
        sink: SmtpSink,
        script: Script,
        log: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.sink, self.script, self.log = sink, script, log
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()
        self.helo: str | None = None
        self.current: Transaction | None = None
        self.in_data = False
        self.hung = False
        self.done = False

    async def reply(self, point: str, reply: str) -> None:
        if self.hung or self.script.hang == point:
            self.hung = True  # never answer again; keep reading (and recording) until the client leaves
            return
        self.writer.write(_format(reply))
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("GREETING", self.script.greeting)
        if self.script.greeting.startswith("421"):
            return  # RFC 5321 §3.1: 421 then close
        while not self.done:
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            if self.in_data and self.script.drop_in_data:
                return
            if not self.in_data:
                self.log.packets.append(chunk)
            self.buffer += chunk
            await self.process()

    async def process(self) -> None:
        while not self.done:
            if self.in_data:
                if not await self.data_end():
                    return
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = self.buffer[:end].decode("utf-8", "replace")
            del self.buffer[: end + 2]
            self.log.commands.append(line)
            await self.command(line)

    async def data_end(self) -> bool:
        if self.buffer.startswith(b".\r\n"):
            end, content = 3, b""
        else:
            found = self.buffer.find(b"\r\n.\r\n")
            if found < 0:
                return False
            end, content = found + 5, bytes(self.buffer[: found + 2])
        del self.buffer[:end]
        self.in_data = False
        transaction = self.current
        assert transaction is not None
        transaction.data = _STUFFED.sub(rb"\1", content)  # RFC 5321 §4.5.2: drop one leading "."
        self.current = None
        final = self.script.final_reply or f"250 2.0.0 queued as {self.sink.next_queue_id()}"
        if self.script.final_delay > 0:
            await asyncio.sleep(self.script.final_delay)
            if self.client_gone():
                self.done = True  # nobody to tell: the message is not acknowledged
                return True
        await self.reply("DATA-END", final)
        if not self.hung and final[:1] == "2":
            transaction.acked = time.monotonic()
            if self.sink.on_acked is not None:
                self.sink.on_acked(transaction)
        return True

    def client_gone(self) -> bool:
        """Whether the client closed (or died) while the sink was not reading: EOF or a reset, seen by
        the transport already or waiting in the socket (peeked on a duplicate of its descriptor)."""
        if self.reader.at_eof():
            return True
        raw = self.writer.get_extra_info("socket")
        if raw is None or self.log.tls:
            return False
        with socket.socket(fileno=os.dup(raw.fileno())) as peek:
            try:
                return peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True

    async def command(self, line: str) -> None:
        verb, _, argument = line.partition(" ")
        verb = verb.split(":", 1)[0].upper()
        script = self.script
        if self.script.greeting[:1] != "2" and verb != "QUIT":
            await self.reply(verb, "503 5.5.1 not greeted")
        elif verb == "EHLO":
            self.helo, self.current = argument, None
            if script.ehlo_reply is not None:
                await self.reply(verb, script.ehlo_reply)
                return
            starttls = self.sink.tls is not None and script.offer_starttls and not self.log.tls
            lines = [f"250 sink greets {argument}", *(["250 STARTTLS"] if starttls else [])]
            await self.reply(verb, "\n".join(lines + [f"250 {c}" for c in script.capabilities]))
        elif verb == "HELO":
            self.helo, self.current = argument, None
            await self.reply(verb, script.helo_reply)
        elif verb == "STARTTLS":
            await self.starttls()
        elif verb == "MAIL":
            if self.helo is None or self.current is not None:
                await self.reply(verb, "503 5.5.1 bad sequence")
                return
            transaction = Transaction(self.helo, self.log.tls, line)
            self.log.transactions.append(transaction)
            self.current = transaction if script.mail_reply[:1] == "2" else None
            await self.reply(verb, script.mail_reply)
        elif verb == "RCPT":
            if self.current is None:
                await self.reply(verb, "503 5.5.1 need MAIL")
                return
            address = _address(argument)
            reply = script.rcpt(address)
            self.current.rcpts.append(line)
            if reply[:1] == "2":
                self.current.accepted.append(address)
            await self.reply(verb, reply)
        elif verb == "DATA":
            if self.current is None or not self.current.accepted:
                await self.reply(verb, "554 5.5.1 no valid recipients")  # RFC 2920 §3.1
                return
            await self.reply(verb, script.data_reply)
            self.in_data = script.data_reply[:3] == "354" and not self.hung
        elif verb in ("RSET", "NOOP"):
            self.current = None if verb == "RSET" else self.current
            await self.reply(verb, "250 2.0.0 ok")
        elif verb == "QUIT":
            await self.reply(verb, "221 2.0.0 bye")
            self.done = True
        else:
            await self.reply(verb, "500 5.5.2 unknown command")

    async def starttls(self) -> None:
        if self.sink.tls is None or self.log.tls or not self.script.offer_starttls:
            await self.reply("STARTTLS", "502 5.5.1 not offered")
            return
        if self.script.starttls == "refuse":
            await self.reply("STARTTLS", "454 4.7.0 TLS not available now")
            return
        await self.reply("STARTTLS", "220 2.0.0 ready to start TLS")
        if self.hung:
            return
        if self.script.starttls == "garbage":
            await self.reader.read(65536)  # the ClientHello (garbage sent before it would be discarded)
            self.writer.write(b"this is not a TLS handshake at all\r\n" * 4)
            await self.writer.drain()
            while await self.reader.read(65536):  # let the client see the garbage, not a reset
                pass
            self.done = True
        elif self.script.starttls == "close":
            self.done = True
        else:
            self.buffer.clear()  # RFC 3207 §4.2: nothing sent before the handshake counts
            await self.writer.start_tls(self.sink.tls)
            self.log.tls, self.helo, self.current = True, None, None
