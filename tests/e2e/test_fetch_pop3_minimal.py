"""The fetcher against a bare RFC 1939 server, scripted here: no CAPA, no UIDL, no PIPELINING
(each message keyed by a digest of its header, TOP n 0; one command at a time), plain text on
loopback (``--tls none``), and a lying LIST size past fetch.max_message_size (docs/fetch.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fetch_env import fetch_settings, local_side
from pochta.proto.pop3 import stuff_whole


class BareServer:
    """One mailbox; records the commands it got. Deletions happen at QUIT, as RFC 1939 §6 says."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self.commands: list[str] = []
        self.port = 0

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK bare POP3 ready\r\n")
        deleted: set[int] = set()
        while line := await reader.readline():
            words = line.decode().split()
            command = words[0].upper() if words else ""
            self.commands.append(command)
            number = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            if command in ("USER", "PASS", "NOOP"):
                writer.write(b"+OK\r\n")
            elif command == "LIST":
                # A lie for the third message: LIST's size is what the limit is checked against.
                sizes = [10**9 if b"bare 2" in m else len(m) for m in self.messages]
                listing = b"".join(b"%d %d\r\n" % (i + 1, s) for i, s in enumerate(sizes) if i not in deleted)
                writer.write(b"+OK\r\n" + listing + b".\r\n")
            elif command == "TOP" and 0 < number <= len(self.messages):
                head = self.messages[number - 1].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                writer.write(b"+OK\r\n" + stuff_whole(head))
            elif command == "RETR" and 0 < number <= len(self.messages):
                writer.write(b"+OK\r\n" + stuff_whole(self.messages[number - 1]))
            elif command == "DELE" and 0 < number <= len(self.messages):
                deleted.add(number - 1)
                writer.write(b"+OK\r\n")
            elif command == "QUIT":
                self.messages = [m for i, m in enumerate(self.messages) if i not in deleted]
                writer.write(b"+OK bye\r\n")
                await writer.drain()
                break
            else:  # CAPA, UIDL and the rest: RFC 1939 without its extensions
                writer.write(b"-ERR unknown command\r\n")
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def bare_server(messages: list[bytes]) -> AsyncIterator[BareServer]:
    bare = BareServer(messages)
    server = await asyncio.start_server(bare.session, "127.0.0.1", 0)
    bare.port = server.sockets[0].getsockname()[1]
    try:
        yield bare
    finally:
        server.close()
        await server.wait_closed()


def text(n: int) -> bytes:
    return f"Subject: bare {n}\r\nMessage-ID: <{n}@bare>\r\n\r\n.dot line {n}\r\n".encode()


async def test_no_capa_no_uidl_keys_by_header_digest(tmp_path: Path) -> None:
    settings = fetch_settings("", fetch={"max_message_size": 1024 * 1024})
    async with bare_server([text(n) for n in range(4)]) as remote, local_side(tmp_path, settings) as local:
        account = await local.add(remote.port, "user", "pw", tls="none", keep=False)
        report = await local.fetcher.run(account)
        assert report.error is None, report.summary()
        assert (report.fetched, report.deleted, len(report.left)) == (3, 3, 1)
        assert "over fetch.max_message_size" in report.left[0]
        assert all(key.startswith("top:") for key in await local.store.fetched_keys(account.id))
        got = await local.messages()
        assert [m.endswith(text(n)) for n, m in zip((0, 1, 3), got, strict=True)] == [True] * 3
        # One command at a time: no PIPELINING offered (no CAPA at all).
        assert remote.commands[:3] == ["CAPA", "USER", "PASS"]
        assert remote.commands.count("TOP") == 4
        assert len(remote.messages) == 1  # the one left over the limit
        again = await local.fetcher.run(account)
        assert (again.fetched, again.known, len(again.left), again.error) == (0, 0, 1, None)
