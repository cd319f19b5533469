"""Commands answered in the socket callback once logged in (``Connection.set_fast_reader``): the
same octets in the same order as the session loop gives, the loop taking over for what must await
(a large RETR, QUIT), a line split over packets, and the idle timer counting from the last command
answered there."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pochta.proto.pop3 import stuff_whole
from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server, pop3_settings


class RawClient:
    """One plain POP3 connection, logged in with a round trip per command (so that what follows
    arrives while the session waits: the fast reader's case)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def login(cls, env: Pop3Env) -> RawClient:
        reader, writer = await asyncio.open_connection(*env.plain)
        client = cls(reader, writer)
        assert (await client.line()).startswith(b"+OK")
        for command in (f"USER {ADDRESS}", f"PASS {PASSWORD}"):
            client.send(command.encode())
            assert (await client.line()).startswith(b"+OK")
        return client

    def send(self, *commands: bytes) -> None:
        self.writer.write(b"".join(command + b"\r\n" for command in commands))

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 10)

    async def exactly(self, size: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(size), 10)

    def close(self) -> None:
        self.writer.transport.abort()


def retr_reply(data: bytes) -> bytes:
    return f"+OK {len(data)} octets\r\n".encode() + stuff_whole(data)


async def test_pipelined_batch_after_login_same_octets(tmp_path: Path) -> None:
    # Message 2 is above inline_read_max: the fast reader parks it for the loop, which must answer
    # it, and everything after it, in order.
    settings = pop3_settings(pop3={"inline_read_max": 10_000, "chunk_size": 4096})
    async with pop3_server(tmp_path, settings) as env:
        small, large, third = message(1), message(2, size=50_000), message(3)
        for data in (small, large, third):
            await env.deliver(data)
        client = await RawClient.login(env)
        try:
            client.send(b"RETR 1", b"RETR 2", b"TOP 3 0", b"DELE 1", b"RETR 1", b"STAT", b"NOOP")
            head3 = third.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            expected = (
                retr_reply(small)
                + retr_reply(large)
                + b"+OK top of message follows\r\n"
                + stuff_whole(head3)
                + b"+OK Message 1 deleted\r\n"
                + b"-ERR Message already deleted\r\n"
                + f"+OK 2 {len(large) + len(third)}\r\n".encode()
                + b"+OK\r\n"
            )
            assert await client.exactly(len(expected)) == expected
            # One command per packet, each answered before the next is sent.
            for n, data in ((3, third), (2, large), (3, third)):
                client.send(f"RETR {n}".encode())
                assert await client.exactly(len(retr_reply(data))) == retr_reply(data)
            client.send(b"QUIT")
            assert (await client.line()).startswith(b"+OK")
        finally:
            client.close()
        assert len(await env.uids()) == 2  # QUIT (parked for the loop) committed the DELE


async def test_command_split_over_packets(tmp_path: Path) -> None:
    settings = pop3_settings(server={"line_timeout": 1.0})
    async with pop3_server(tmp_path, settings) as env:
        data = message(1)
        await env.deliver(data)
        client = await RawClient.login(env)
        try:
            client.send(b"NOOP")
            assert await client.line() == b"+OK\r\n"
            client.writer.write(b"RET")
            await client.writer.drain()
            await asyncio.sleep(0.05)  # the first piece arrives alone: an unfinished line
            client.writer.write(b"R 1\r\nST")
            await client.writer.drain()
            await asyncio.sleep(0.05)
            client.writer.write(b"AT\r\n")
            expected = retr_reply(data) + f"+OK 1 {len(data)}\r\n".encode()
            assert await client.exactly(len(expected)) == expected
            # An unfinished line left by the fast reader: the loop reads on with the line deadline
            # (server.line_timeout, not the 600-second autologout).
            client.writer.write(b"NOO")
            line = await asyncio.wait_for(client.reader.readline(), 10)
            assert line.startswith(b"-ERR [SYS/TEMP] Autologout")
        finally:
            client.close()


async def test_idle_timer_counts_from_the_last_command(tmp_path: Path) -> None:
    settings = pop3_settings()
    # Below the 600-second floor only through model_copy, which skips validation: a test shortcut.
    settings = settings.model_copy(update={"pop3": settings.pop3.model_copy(update={"autologout": 1.0})})
    async with pop3_server(tmp_path, settings) as env:
        await env.deliver(message(1))
        client = await RawClient.login(env)
        try:
            # Busy for three times the autologout, a command every 0.3 s, each answered in the
            # socket callback while the loop's read (and its timer) waits: never logged out.
            for _ in range(10):
                client.send(b"NOOP")
                assert await client.line() == b"+OK\r\n"
                await asyncio.sleep(0.3)
            # Then silent: the autologout comes.
            line = await asyncio.wait_for(client.reader.readline(), 10)
            assert line.startswith(b"-ERR [SYS/TEMP] Autologout")
        finally:
            client.close()


async def test_line_trickled_after_login_meets_its_deadline(tmp_path: Path) -> None:
    """One octet of a command line every 0.25 s, never its end: each piece is taken by the fast
    reader, and still the line deadline (1 s) counts from the first octet, not from the last."""
    async with pop3_server(tmp_path, pop3_settings(server={"line_timeout": 1.0})) as env:
        client = await RawClient.login(env)
        try:
            goodbye = asyncio.ensure_future(client.reader.readline())
            for octet in b"NOOP" + b" " * 12:  # 4 s of trickle, four times the deadline
                if goodbye.done():
                    break
                client.writer.write(bytes([octet]))
                await asyncio.sleep(0.25)
            assert goodbye.done()
            assert goodbye.result().startswith(b"-ERR [SYS/TEMP] Autologout")
        finally:
            client.close()


async def test_download_in_order_over_several_runs_same_octets(tmp_path: Path) -> None:
    # A maildrop downloaded a RETR per round trip, as poplib does: each run of small messages is
    # read ahead in the background (store.blob_prefetch_bytes is one run), whether the next message
    # needs byte-stuffing is found while the client reads the last reply; messages with and without
    # dot lines alternate, and a RETR out of order, a TOP and a DELE come between.
    settings = pop3_settings(pop3={"inline_read_max": 10_000}, store={"blob_prefetch_bytes": 64 * 1024})
    async with pop3_server(tmp_path, settings) as env:
        messages = [
            message(n, b"" if n % 3 else f"Plain body {n}, no dot lines.\r\n".encode(), size=3000)
            for n in range(1, 61)
        ]
        for data in messages:
            await env.deliver(data)
        client = await RawClient.login(env)
        try:
            order = [*range(1, 30), 45, 30, 31, 7, *range(32, 41), *range(42, 61)]
            for n in order:
                client.send(f"RETR {n}".encode())
                assert await client.exactly(len(retr_reply(messages[n - 1]))) == retr_reply(messages[n - 1])
                if n == 40:
                    client.send(b"TOP 41 0", b"DELE 41")
                    head = messages[40].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                    expected = (
                        b"+OK top of message follows\r\n" + stuff_whole(head) + b"+OK Message 41 deleted\r\n"
                    )
                    assert await client.exactly(len(expected)) == expected
            client.send(b"RETR 41", b"RETR 42")
            expected = b"-ERR Message already deleted\r\n" + retr_reply(messages[41])
            assert await client.exactly(len(expected)) == expected
        finally:
            client.close()
