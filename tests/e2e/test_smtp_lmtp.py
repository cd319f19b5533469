"""LMTP (RFC 2033) over TCP and a UNIX socket: one reply per recipient, one stored copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server_env import delivered_first
from smtp_env import (
    ALICE,
    BOB,
    SmtpEnv,
    converse,
    dot_stuff,
    message,
    smtp_server,
    smtp_settings,
    strip_received,
)
from store_env import sqlite_only


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


def _transaction(rcpts: list[str], data: bytes, mail_params: str = "") -> bytes:
    lines = [b"LHLO postfix.example.org", f"MAIL FROM:<carol@example.net>{mail_params}".encode()]
    lines += [f"RCPT TO:<{r}>".encode() for r in rcpts]
    lines.append(b"DATA")
    return b"\r\n".join(lines) + b"\r\n" + dot_stuff(data) + b".\r\nQUIT\r\n"


def _replies(text: str) -> list[str]:
    return [line for line in text.split("\r\n") if line and line[3:4] == " "]


async def test_lmtp_one_reply_per_recipient_one_blob(env: SmtpEnv) -> None:
    data = message("lmtp")
    text = await converse(env.address("lmtp"), _transaction([ALICE, "nobody@example.org", BOB], data))
    replies = _replies(text)
    # greeting, LHLO, MAIL, RCPT x3, 354, then one per accepted recipient (2), QUIT
    assert replies[3].startswith("250 2.1.5")
    assert replies[4].startswith("550 5.1.1")
    assert replies[5].startswith("250 2.1.5")
    assert replies[6].startswith("354")
    assert replies[7].startswith("250 2.0.0 Delivered")
    assert replies[8].startswith("250 2.0.0 Delivered")
    assert replies[9].startswith("221")
    assert len(replies) == 10
    alice, bob = await env.messages(env.alice), await env.messages(env.bob)
    assert alice == bob
    assert b"with LMTP id " in alice[0]
    assert strip_received(alice[0]) == data
    assert env.blob_count() == 1


async def test_lmtp_quota_per_recipient(env: SmtpEnv) -> None:
    await env.store.update_account(BOB, quota_bytes=100)
    data = message("quota", body="x" * 500 + "\r\n")
    text = await converse(env.address("lmtp"), _transaction([ALICE, BOB], data, f" SIZE={len(data)}"))
    replies = _replies(text)
    assert replies[3].startswith("250")
    assert replies[4].startswith("452 4.2.2")  # RFC 1870: the declared SIZE is checked at RCPT
    assert len(await env.messages(env.alice)) == 1


async def test_lmtp_quota_after_data(env: SmtpEnv) -> None:
    await env.store.update_account(BOB, quota_bytes=300)
    data = message("quota2", body="x" * 500 + "\r\n")
    text = await converse(env.address("lmtp"), _transaction([ALICE, BOB], data))
    replies = _replies(text)
    assert replies[3].startswith("250")
    assert replies[4].startswith("250")  # no SIZE given: accepted at RCPT
    assert replies[6].startswith("250 2.0.0")  # alice
    assert replies[7].startswith("452 4.2.2")  # bob over quota with the real size
    assert len(await env.messages(env.alice)) == 1
    assert await env.messages(env.bob) == []


@sqlite_only("holds SQLite's one writer so that another delivery commits first")
async def test_lmtp_quota_filled_by_another_delivery_before_the_commit(env: SmtpEnv) -> None:
    # Bob has room for this message, and for the one another session delivers meanwhile, but not
    # for both. Every check before the write passes (RCPT, the real size before the commit); the
    # store's check in the write transaction, after the other delivery, refuses bob alone, and the
    # message is stored for alice (RFC 2033 §4.2: one reply per recipient).
    data = message("raced", body="x" * 400 + "\r\n")
    other = message("meanwhile", to=BOB, body="y" * 400 + "\r\n")
    await env.store.update_account(BOB, quota_bytes=1000)
    inbox = await env.store.get_mailbox(env.bob.id, "INBOX")
    assert inbox is not None
    async with delivered_first(env.store, inbox.id, other) as gate:
        session = asyncio.ensure_future(converse(env.address("lmtp"), _transaction([ALICE, BOB], data)))
        await gate.queued(2)
    replies = _replies(await session)
    assert [r[:3] for r in replies[3:5]] == ["250", "250"]  # RCPT: both fit then
    assert replies[6].startswith("250 2.0.0")  # alice
    assert replies[7].startswith("452 4.2.2")  # bob, refused by the store at commit
    assert len(replies) == 9
    assert [strip_received(m) for m in await env.messages(env.alice)] == [data]
    assert await env.messages(env.bob) == [other]
    assert await env.store.quota_usage(env.bob.id) == len(other) <= 1000


async def test_lmtp_quota_552_by_config(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"quota_reply": "552"})) as env:
        await env.store.update_account(BOB, quota_bytes=300)
        data = message("quota3", body="x" * 500 + "\r\n")
        text = await converse(env.address("lmtp"), _transaction([BOB], data))
        assert _replies(text)[5].startswith("552 5.2.2")


async def test_lmtp_message_quota_at_rcpt(env: SmtpEnv) -> None:
    # RFC 9208 §5.2 MESSAGE: bob may hold one message; the count is known at RCPT, no SIZE needed.
    await env.store.update_account(BOB, quota_messages=1)
    first = await converse(env.address("lmtp"), _transaction([BOB], message("one")))
    assert _replies(first)[5].startswith("250 2.0.0")
    second = await converse(env.address("lmtp"), _transaction([ALICE, BOB], message("two")))
    replies = _replies(second)
    assert replies[3].startswith("250")
    assert replies[4].startswith("452 4.2.2")
    assert len(await env.messages(env.bob)) == 1
    assert len(await env.messages(env.alice)) == 1


async def test_lmtp_domain_quota_bounds_the_sum_of_its_accounts(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"quota_reply": "552"})) as env:
        data = message("domain", body="x" * 500 + "\r\n")
        # Neither account has a quota of its own; the domain holds one such message and a half.
        ok = await converse(env.address("lmtp"), _transaction([ALICE], data))
        assert _replies(ok)[5].startswith("250 2.0.0")  # cached as unlimited before the domain quota
        await env.store.set_domain_quota("example.org", quota_bytes=len(data) * 3 // 2 + 200)
        text = await converse(env.address("lmtp"), _transaction([BOB], data))
        assert _replies(text)[5].startswith("552 5.2.2")  # RFC 3463 X.2.2, after DATA (no SIZE)
        # The message limit of the domain counts alice's message too: refused at RCPT.
        await env.store.set_domain_quota("example.org", quota_bytes=None, quota_messages=1)
        counted = await converse(env.address("lmtp"), _transaction([BOB], message("small")))
        assert _replies(counted)[3].startswith("552 5.2.2")
        assert await env.messages(env.bob) == []
        await env.store.set_domain_quota("example.org", quota_messages=None)
        free = await converse(env.address("lmtp"), _transaction([BOB], message("free")))
        assert _replies(free)[5].startswith("250 2.0.0")


async def test_lmtp_over_unix_socket(tmp_path: Path) -> None:
    socket_path = str(tmp_path / "lmtp.sock")
    settings = smtp_settings(listeners={"lmtp": socket_path})
    async with smtp_server(tmp_path, settings) as env:
        data = message("unix")
        text = await converse(socket_path, _transaction([ALICE], data))
        assert _replies(text)[5].startswith("250 2.0.0 Delivered")
        stored = await env.messages()
        assert b"(unix socket)" in stored[0]
        assert strip_received(stored[0]) == data


async def test_lmtp_rejects_helo(env: SmtpEnv) -> None:
    text = await converse(env.address("lmtp"), b"HELO x\r\nEHLO x\r\nQUIT\r\n")
    assert _replies(text)[1].startswith("500")
    assert _replies(text)[2].startswith("500")


async def test_subaddress_into_existing_folder(env: SmtpEnv) -> None:
    await env.store.create_mailbox(env.alice.id, "lists")
    data = message("tagged")
    await converse(
        env.address("lmtp"), _transaction(["alice+lists@example.org", "alice+nofolder@example.org"], data)
    )
    assert len(await env.messages(env.alice, "lists")) == 1
    assert len(await env.messages(env.alice)) == 1  # no folder "nofolder": INBOX


async def test_subaddress_files_only_into_the_recipients_own_mailbox(env: SmtpEnv) -> None:
    # A mailbox alice shared with bob (every right, "p" too, RFC 4314 §2.1) is not bob's: bob+tag
    # files into bob's own mailbox of that name; alice's shared one gets nothing.
    projects = await env.store.create_mailbox(env.alice.id, "projects")
    await env.store.set_mailbox_acl(projects.id, BOB, "lrswipkxtea")
    await env.store.create_mailbox(env.bob.id, "projects")
    text = await converse(env.address("lmtp"), _transaction(["bob+projects@example.org"], message("tagged")))
    assert _replies(text)[5].startswith("250 2.0.0 Delivered")
    assert len(await env.messages(env.bob, "projects")) == 1
    assert await env.messages(env.alice, "projects") == []


async def test_catch_all_and_alias(env: SmtpEnv) -> None:
    await env.store.add_alias("@example.org", [BOB])
    await env.store.add_alias("team@example.org", [ALICE, BOB])
    text = await converse(
        env.address("lmtp"), _transaction(["whoever@example.org", "team@example.org"], message("c"))
    )
    assert [r[:3] for r in _replies(text)[3:8]] == ["250", "250", "354", "250", "250"]
    assert len(await env.messages(env.bob)) == 1  # one copy per mailbox, even when reached twice
    assert len(await env.messages(env.alice)) == 1


async def test_alias_to_external_address_is_forwarded_through_the_queue(env: SmtpEnv) -> None:
    await env.store.add_alias("fwd@example.org", ["someone@remote.example", BOB])
    data = message("forwarded")
    text = await converse(env.address("lmtp"), _transaction(["fwd@example.org"], data, " RET=HDRS ENVID=abc"))
    assert [r[:3] for r in _replies(text)[3:6]] == ["250", "354", "250"]
    assert len(await env.messages(env.bob)) == 1  # the local target gets its copy now
    [entry] = await env.store.queue_entries()  # the external one waits in the queue
    assert (entry.origin, entry.ret, entry.envid) == ("forward", "HDRS", "abc")
    assert env.unsrs(entry.sender) == "carol@example.net"  # SRS for the alias's domain
    assert entry.sender.endswith("@example.org")
    [recipient] = entry.recipients
    assert recipient.address == "someone@remote.example"
    # RFC 3461 §4.2: the address the sender used travels along for DSNs.
    assert recipient.orcpt == ("rfc822", "fwd@example.org")
    with env.store.open_blob(entry.blob) as f:
        assert f.read() == (await env.messages(env.bob))[0]  # one blob for both


def _many(count: int) -> bytes:
    """``count`` transactions of one small message each, on one LMTP connection."""
    one = b"MAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
    one += b"DATA\r\nSubject: m\r\n\r\nx\r\n.\r\n"
    return b"LHLO postfix.example.org\r\n" + one * count + b"QUIT\r\n"


async def test_lmtp_has_no_message_limit_by_default(env: SmtpEnv) -> None:
    # An MTA (Postfix) keeps one LMTP connection for thousands of deliveries: no 421 after 100.
    text = await converse(env.address("lmtp"), _many(150), seconds=120)
    codes = [r[:3] for r in _replies(text)]
    assert "421" not in codes
    assert codes.count("354") == 150
    assert codes[-1] == "221"
    assert len(await env.messages(env.alice)) == 150


async def test_lmtp_message_limit_when_configured(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(lmtp={"max_messages_per_connection": 3})) as env:
        text = await converse(env.address("lmtp"), _many(5))
        assert _replies(text)[-1].startswith("421 4.7.0")
        assert len(await env.messages(env.alice)) == 3


@pytest.mark.parametrize(
    ("inline_max", "size", "spooled"), [(32768, 4000, False), (0, 4000, True), (2000, 4000, True)]
)
async def test_lmtp_small_message_held_in_memory(
    tmp_path: Path, inline_max: int, size: int, spooled: bool
) -> None:
    """server.inline_message_max: a message up to it is received into memory (no spool file while
    DATA runs); past it, or with 0, into a spool file. Stored the same either way, nothing left."""
    settings = smtp_settings(server={"inline_message_max": inline_max})
    async with smtp_server(tmp_path, settings) as env:
        data = message("held", body="x" * size + "\r\n")
        head, tail = data[: len(data) - 10], data[len(data) - 10 :]
        reader, writer = await asyncio.open_connection(*env.address("lmtp"))
        try:
            async with asyncio.timeout(20):
                await reader.readline()
                writer.write(
                    f"LHLO c.example\r\nMAIL FROM:<c@example.net>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n".encode()
                )
                while not (await reader.readline()).startswith(b"354"):
                    pass
                writer.write(head)
                await writer.drain()
                # A spool file shows up as soon as the server has read past the bound; give a
                # memory-held message the same time to (not) show one.
                for _ in range(50):
                    if env.spool_files():
                        break
                    await asyncio.sleep(0.01)
                assert bool(env.spool_files()) is spooled
                writer.write(tail + b".\r\n")
                assert (await reader.readline()).startswith(b"250 2.0.0")
        finally:
            writer.close()
        assert [strip_received(m) for m in await env.messages()] == [data]
        assert env.spool_files() == []


class _Client:
    """One command at a time, each reply awaited: how an MTA drives LMTP without pipelining."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> str:
        while True:
            line = (await self.reader.readline()).decode()
            if not line or line[3:4] != "-":
                return line.rstrip("\r\n")

    async def command(self, text: bytes) -> str:
        self.writer.write(text)
        return await self.reply()


async def test_lmtp_answers_between_commands_as_in_the_loop(env: SmtpEnv) -> None:
    """Commands answered in the socket callback (a recipient resolved before, MAIL, DATA, the text)
    and in the session's loop (the first resolution of each recipient, the commit) interleave with
    every reply in its place, one command at a time and pipelined."""
    first, second = message("first"), message("second")
    reader, writer = await asyncio.open_connection(*env.address("lmtp"))
    client = _Client(reader, writer)
    try:
        async with asyncio.timeout(20):
            assert (await client.reply()).startswith("220")
            assert (await client.command(b"LHLO c.example\r\n")).startswith("250 ")
            for data in (first, second):  # the second time the recipients are known
                assert (await client.command(b"MAIL FROM:<c@example.net>\r\n")).startswith("250 2.1.0")
                assert (await client.command(f"RCPT TO:<{ALICE}>\r\n".encode())).startswith("250 2.1.5")
                assert (await client.command(b"RCPT TO:<nobody@example.org>\r\n")).startswith("550 5.1.1")
                assert (await client.command(b"NOOP\r\n")).startswith("250 2.0.0")
                assert (await client.command(f"RCPT TO:<{BOB}>\r\n".encode())).startswith("250 2.1.5")
                assert (await client.command(b"DATA\r\n")).startswith("354")
                writer.write(dot_stuff(data))
                assert (await client.command(b".\r\n")).startswith("250 2.0.0 Delivered")
                assert (await client.reply()).startswith("250 2.0.0 Delivered")
            # A pipelined group mixing both: replies in order, then the next group.
            writer.write(
                _transaction([BOB, "nobody@example.org", ALICE], first)[
                    len(b"LHLO postfix.example.org\r\n") :
                ]
            )
            expected = [
                "250 2.1.0",
                "250 2.1.5",
                "550 5.1.1",
                "250 2.1.5",
                "354",
                "250 2.0.0",
                "250 2.0.0",
                "221",
            ]
            got = [await client.reply() for _ in expected]
            assert [line[: len(want)] for line, want in zip(got, expected, strict=True)] == expected
    finally:
        writer.close()
    alice = [strip_received(m) for m in await env.messages(env.alice)]
    bob = [strip_received(m) for m in await env.messages(env.bob)]
    assert alice == bob == [first, second, first]


async def test_lmtp_data_timeout_shorter_than_command_timeout(tmp_path: Path) -> None:
    """DATA answered in the socket callback still arms smtp.data_timeout for the text (the loop's
    read is woken to take it): a stalled message is dropped after the data timeout."""
    async with smtp_server(tmp_path, smtp_settings(smtp={"data_timeout": 0.5})) as env:
        reader, writer = await asyncio.open_connection(*env.address("lmtp"))
        client = _Client(reader, writer)
        try:
            async with asyncio.timeout(20):
                await client.reply()
                await client.command(b"LHLO c.example\r\n")
                for subject in ("whole", "stalled"):
                    await client.command(b"MAIL FROM:<c@example.net>\r\n")
                    assert (await client.command(f"RCPT TO:<{ALICE}>\r\n".encode())).startswith("250")
                    assert (await client.command(b"DATA\r\n")).startswith("354")
                    writer.write(f"Subject: {subject}\r\n\r\ntext\r\n".encode())
                    if subject == "whole":
                        assert (await client.command(b".\r\n")).startswith("250 2.0.0")
            async with asyncio.timeout(5):  # the command timeout (300 s) would not end it
                assert (await client.reply()).startswith("421 4.4.2")
        finally:
            writer.close()
        assert len(await env.messages(env.alice)) == 1
        assert env.spool_files() == []
