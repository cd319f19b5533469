"""POP3 end to end with poplib over real sockets: plain, STLS and POP3S; RETR/TOP/UIDL/DELE/QUIT,
APOP, AUTH, the lock, drops without QUIT, STLS with pipelined plaintext."""

from __future__ import annotations

import asyncio
import hashlib
import poplib
import re
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_process import LockBusy, lock_holder
from pochta.proto.sasl import ClientMechanism, encode_sasl
from pochta.server.pop3.maildrop import MaildropLocks
from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server
from server_env import replace_blob


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Pop3Env]:
    async with pop3_server(tmp_path) as running:
        yield running


def connect(env: Pop3Env, kind: str = "plain") -> poplib.POP3:
    if kind == "pop3s":
        host, port = env.tls
        return poplib.POP3_SSL(host, port, context=env.client_context(), timeout=10)
    host, port = env.plain
    client = poplib.POP3(host, port, timeout=10)
    if kind == "stls":
        client.stls(env.client_context())
    return client


def login(env: Pop3Env, kind: str = "plain", user: str = ADDRESS) -> poplib.POP3:
    client = connect(env, kind)
    client.user(user)
    client.pass_(PASSWORD)
    return client


@pytest.mark.parametrize("kind", ["plain", "stls", "pop3s"])
async def test_download_and_delete(env: Pop3Env, kind: str) -> None:
    bodies = [message(n) for n in range(1, 4)]
    for body in bodies:
        await env.deliver(body)

    def session() -> None:
        client = login(env, kind)
        count, octets = client.stat()
        assert (count, octets) == (3, sum(len(b) for b in bodies))
        _, lines, _ = client.list()
        assert lines == [f"{n} {len(b)}".encode() for n, b in enumerate(bodies, 1)]
        for n, body in enumerate(bodies, 1):
            _, got, _size = client.retr(n)
            # poplib un-stuffs and strips CRLF; rebuild the message and compare exactly.
            assert b"\r\n".join(got) + b"\r\n" == body
        client.dele(2)
        assert client.stat()[0] == 2
        with pytest.raises(poplib.error_proto, match="deleted"):
            client.retr(2)
        assert client.quit().startswith(b"+OK")

    await asyncio.to_thread(session)
    assert len(await env.uids()) == 2


async def test_uidl_stable_and_never_reused(env: Pop3Env) -> None:
    for n in range(3):
        await env.deliver(message(n))

    def uidl() -> list[bytes]:
        client = login(env)
        _, lines, _ = client.uidl()
        client.quit()
        return [line.split()[1] for line in lines]

    first = await asyncio.to_thread(uidl)
    assert len(set(first)) == 3
    assert all(re.fullmatch(rb"[\x21-\x7e]{1,70}", uid) for uid in first)
    assert await asyncio.to_thread(uidl) == first

    def delete_last() -> None:
        client = login(env)
        client.dele(3)
        client.quit()

    await asyncio.to_thread(delete_last)
    await env.deliver(message(9))
    after = await asyncio.to_thread(uidl)
    assert after[:2] == first[:2]
    assert after[2] not in first  # the deleted message's id is never given to another


async def test_top_and_byte_stuffing(env: Pop3Env) -> None:
    body = b"line one\r\n.dot line\r\n..two dots\r\nline four\r\n.\r\nafter lone dot\r\n"
    data = message(1, body)
    await env.deliver(data)
    raw = await raw_session(env, [b"USER " + ADDRESS.encode(), b"PASS " + PASSWORD.encode(), b"TOP 1 2"], 3)
    head = data.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert raw.endswith(b"+OK top of message follows\r\n" + head + b"line one\r\n..dot line\r\n.\r\n")
    raw = await raw_session(env, [b"USER " + ADDRESS.encode(), b"PASS " + PASSWORD.encode(), b"RETR 1"], 3)
    assert raw.endswith(
        f"+OK {len(data)} octets\r\n".encode()
        + head
        + b"line one\r\n..dot line\r\n...two dots\r\nline four\r\n..\r\nafter lone dot\r\n.\r\n"
    )


async def raw_session(env: Pop3Env, commands: list[bytes], replies: int, *, multi_last: bool = True) -> bytes:
    """Send commands pipelined in one packet; read until the final reply is complete."""
    reader, writer = await asyncio.open_connection(*env.plain)
    try:
        data = await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"".join(c + b"\r\n" for c in commands))
        await writer.drain()
        out = b""
        async with asyncio.timeout(10):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                out += chunk
                if out.endswith(b"\r\n.\r\n") or (not multi_last and out.count(b"\r\n") >= replies):
                    break
        return data + out
    finally:
        writer.close()


async def test_drop_without_quit_changes_nothing(env: Pop3Env) -> None:
    for n in range(3):
        await env.deliver(message(n))

    def dele_and_drop() -> None:
        client = login(env)
        client.dele(1)
        client.dele(2)
        client.retr(3)
        client.close()  # no QUIT: the socket just goes

    await asyncio.to_thread(dele_and_drop)
    await asyncio.sleep(0.1)
    assert len(await env.uids()) == 3
    assert all("\\Seen" not in flags for flags in await env.flags())
    # and the lock is free again
    client = await asyncio.to_thread(login, env)
    assert (await asyncio.to_thread(client.stat))[0] == 3
    await asyncio.to_thread(client.quit)


async def test_rset_and_last(env: Pop3Env) -> None:
    for n in range(3):
        await env.deliver(message(n))

    def session() -> None:
        client = login(env)
        assert client._shortcmd("LAST") == b"+OK 0"
        client.retr(2)
        assert client._shortcmd("LAST") == b"+OK 2"
        client.dele(1)
        assert client.stat()[0] == 2
        assert client.rset().startswith(b"+OK")
        assert client.stat()[0] == 3
        assert client._shortcmd("LAST") == b"+OK 0"
        assert client.noop() == b"+OK"
        client.quit()

    await asyncio.to_thread(session)
    assert len(await env.uids()) == 3
    assert ["\\Seen" in f for f in await env.flags()] == [False, True, False]  # RETR is not undone


async def test_retr_marks_seen_at_quit(env: Pop3Env) -> None:
    for n in range(2):
        await env.deliver(message(n))

    def session() -> None:
        client = login(env)
        client.retr(2)
        client.quit()

    await asyncio.to_thread(session)
    assert ["\\Seen" in f for f in await env.flags()] == [False, True]


async def test_lock_in_use(env: Pop3Env) -> None:
    await env.deliver(message(1))
    first = await asyncio.to_thread(login, env)
    second = await asyncio.to_thread(connect, env)
    await asyncio.to_thread(second.user, ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        await asyncio.to_thread(second.pass_, PASSWORD)
    await asyncio.to_thread(first.dele, 1)
    await asyncio.to_thread(first.quit)
    await asyncio.to_thread(second.user, ADDRESS)
    await asyncio.to_thread(second.pass_, PASSWORD)
    assert (await asyncio.to_thread(second.stat))[0] == 0
    await asyncio.to_thread(second.quit)


async def test_lock_held_by_another_process(env: Pop3Env) -> None:
    # Another worker of the same data directory holds the maildrop: [IN-USE] here; once that worker
    # is SIGKILLed, the kernel drops its lock and the login succeeds.
    await env.deliver(message(1))
    name = MaildropLocks.name(env.account.id, recent=False)
    async with lock_holder(env.data_dir, name, env.settings.store.url) as worker:
        client = await asyncio.to_thread(connect, env)
        await asyncio.to_thread(client.user, ADDRESS)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            await asyncio.to_thread(client.pass_, PASSWORD)
        # recent: has its own lock, which nobody holds.
        recent = await asyncio.to_thread(login, env, "plain", f"recent:{ADDRESS}")
        await asyncio.to_thread(recent.quit)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        await asyncio.to_thread(client.user, ADDRESS)
        await asyncio.to_thread(client.pass_, PASSWORD)
        assert (await asyncio.to_thread(client.stat))[0] == 1
        # Held by this server's session now: the other process is refused in turn.
        with pytest.raises(LockBusy):
            async with lock_holder(env.data_dir, name, env.settings.store.url):
                pass
        await asyncio.to_thread(client.quit)
    async with lock_holder(env.data_dir, name, env.settings.store.url):
        pass  # QUIT released it


async def test_snapshot_fixed_at_login(env: Pop3Env) -> None:
    await env.deliver(message(1))
    client = await asyncio.to_thread(login, env)
    await env.deliver(message(2))
    assert (await asyncio.to_thread(client.stat))[0] == 1
    await asyncio.to_thread(client.quit)
    client = await asyncio.to_thread(login, env)
    assert (await asyncio.to_thread(client.stat))[0] == 2
    await asyncio.to_thread(client.quit)


async def test_apop(env: Pop3Env) -> None:
    await env.store.set_account_settings(ADDRESS, {"pop3.apop_secret": "tanstaaf"})
    await env.deliver(message(1))

    def session() -> None:
        client = connect(env)
        timestamp = re.search(rb"<[^>]+>", client.getwelcome())
        assert timestamp is not None
        assert re.fullmatch(rb"<\d+\.\d+@localhost>", timestamp.group())
        digest = hashlib.md5(timestamp.group() + b"tanstaaf").hexdigest()  # computed here, not by poplib
        assert client._shortcmd(f"APOP {ADDRESS} {digest}").startswith(b"+OK")
        assert client.stat()[0] == 1
        client.quit()
        client = connect(env)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.apop(ADDRESS, "wrong")
        client.quit()

    await asyncio.to_thread(session)


async def test_apop_refused_without_secret(env: Pop3Env) -> None:
    def session() -> None:
        client = connect(env)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.apop(ADDRESS, PASSWORD)
        client.quit()

    await asyncio.to_thread(session)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
@pytest.mark.parametrize("initial", [True, False])
async def test_auth_mechanisms(env: Pop3Env, mechanism: str, initial: bool) -> None:
    await env.deliver(message(1))

    def session() -> None:
        client = connect(env, "stls")
        assert mechanism.encode() in client.capa()["SASL"][0].encode() or mechanism in client.capa()["SASL"]
        mech = ClientMechanism.start(mechanism, ADDRESS, PASSWORD)
        first = mech.initial_response()
        if initial and first is not None:
            reply = client._shortcmd(f"AUTH {mechanism} {encode_sasl(first).decode() or '='}")
        else:
            reply = client._shortcmd(f"AUTH {mechanism}")
            if first is not None:
                assert reply == b"+ "
                reply = client._shortcmd(encode_sasl(first).decode() or "=")
        while reply.startswith(b"+ ") or reply == b"+":
            challenge = __import__("base64").b64decode(reply[2:])
            if mechanism.startswith("SCRAM") and challenge.startswith(b"v="):
                mech.finish(challenge)
                reply = client._shortcmd("")
            else:
                reply = client._shortcmd(encode_sasl(mech.respond(challenge)).decode())
        assert reply.startswith(b"+OK"), reply
        assert client.stat()[0] == 1
        client.quit()

    await asyncio.to_thread(session)


async def test_auth_wrong_password_and_cancel(env: Pop3Env) -> None:
    def session() -> None:
        client = connect(env, "stls")
        mech = ClientMechanism.start("PLAIN", ADDRESS, "wrong")
        first = mech.initial_response()
        assert first is not None
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client._shortcmd(f"AUTH PLAIN {encode_sasl(first).decode()}")
        assert client._shortcmd("AUTH LOGIN").startswith(b"+ ")
        with pytest.raises(poplib.error_proto):
            client._shortcmd("*")
        client.quit()

    await asyncio.to_thread(session)


async def test_capa_per_state(env: Pop3Env) -> None:
    def session() -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
        client = connect(env)
        before = client.capa()
        client.stls(env.client_context())
        after_tls = client.capa()
        client.user(ADDRESS)
        client.pass_(PASSWORD)
        transaction = client.capa()
        client.quit()
        return before, after_tls, transaction

    before, after_tls, transaction = await asyncio.to_thread(session)
    for name in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "STLS"):
        assert name in before
    assert before["EXPIRE"] == ["NEVER"]
    assert before["IMPLEMENTATION"] == ["pochta"]
    # Loopback may use plaintext mechanisms; over TLS they are offered, too.
    assert before["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    assert "STLS" not in after_tls
    assert "USER" not in transaction
    assert "SASL" not in transaction
    assert "STLS" not in transaction
    assert "TOP" in transaction
    assert "UIDL" in transaction


async def test_stls_pipelined_plaintext_never_executed(env: Pop3Env) -> None:
    await env.deliver(message(1))

    def session() -> None:
        raw = socket.create_connection(env.plain, timeout=10)
        try:
            assert raw.recv(1024).startswith(b"+OK")
            # STLS and a whole login + DELE + QUIT in the same packet.
            raw.sendall(
                b"STLS\r\nUSER "
                + ADDRESS.encode()
                + b"\r\nPASS "
                + PASSWORD.encode()
                + b"\r\nDELE 1\r\nQUIT\r\n"
            )
            assert raw.recv(1024) == b"+OK Begin TLS negotiation\r\n"
            tls = env.client_context().wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"STAT\r\n")
            reply = tls.recv(1024)
            assert reply.startswith(b"-ERR"), reply  # still in AUTHORIZATION: nothing was executed
            tls.sendall(b"QUIT\r\n")
            assert tls.recv(1024).startswith(b"+OK")
            tls.close()
        finally:
            raw.close()

    await asyncio.to_thread(session)
    assert len(await env.uids()) == 1


async def test_plaintext_refused_from_non_loopback_rules(tmp_path: Path) -> None:
    from pop3_env import pop3_settings

    async with pop3_server(tmp_path, pop3_settings(login={"plaintext_on_insecure": "never"})) as env:

        def session() -> None:
            client = connect(env)
            capa = client.capa()
            assert "USER" not in capa
            assert capa["SASL"] == ["SCRAM-SHA-256"]
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
                client.user(ADDRESS)
            client.stls(env.client_context())
            capa = client.capa()
            assert "USER" in capa
            client.user(ADDRESS)
            client.pass_(PASSWORD)
            client.quit()

        await asyncio.to_thread(session)


async def test_errors_and_limits(env: Pop3Env) -> None:
    await env.deliver(message(1))

    def session() -> None:
        client = login(env)
        for bad in ("RETR 0", "RETR 2", "RETR -1", "RETR +1", "RETR " + "1" * 41, "TOP 1", "LIST 1 2"):
            with pytest.raises(poplib.error_proto):
                client._shortcmd(bad)
        with pytest.raises(poplib.error_proto, match="Unknown"):
            client._shortcmd("XYZZY")
        with pytest.raises(poplib.error_proto, match="not valid"):
            client._shortcmd("USER x")
        assert client.stat()[0] == 1
        client.quit()

    await asyncio.to_thread(session)


async def test_too_many_errors_closes(env: Pop3Env) -> None:
    reader, writer = await asyncio.open_connection(*env.plain)
    await reader.readline()
    writer.write(b"BOGUS\r\n" * 12)
    await writer.drain()
    async with asyncio.timeout(10):
        rest = await reader.read()
    lines = rest.splitlines()
    assert lines[-1] == b"-ERR Too many errors, closing connection"
    assert len(lines) == 11
    writer.close()


async def test_long_line_gets_err(env: Pop3Env) -> None:
    reader, writer = await asyncio.open_connection(*env.plain)
    await reader.readline()
    writer.write(b"USER " + b"a" * 5000 + b"\r\nCAPA\r\n")
    await writer.drain()
    async with asyncio.timeout(10):
        assert (await reader.readline()).startswith(b"-ERR Line too long")
        assert (await reader.readline()).startswith(b"+OK")
    writer.close()


async def test_pop3s_tls_version(env: Pop3Env) -> None:
    def session() -> None:
        client = login(env, "pop3s")
        assert isinstance(client.sock, ssl.SSLSocket)
        client.quit()

    await asyncio.to_thread(session)


async def test_shutdown_mid_session_changes_nothing(env: Pop3Env) -> None:
    await env.deliver(message(1))
    client = await asyncio.to_thread(login, env)
    await asyncio.to_thread(client.dele, 1)
    await env.server.stop()
    line = await asyncio.to_thread(client.file.readline)
    assert line.startswith(b"-ERR [SYS/TEMP] Server shutting down")
    client.close()
    assert len(await env.uids()) == 1


async def test_quit_counts_in_words(env: Pop3Env) -> None:
    for n in range(3):
        await env.deliver(message(n))

    def quit_text() -> bytes:
        client = login(env)
        client.dele(1)
        client.dele(2)
        return client.quit()

    assert await asyncio.to_thread(quit_text) == b"+OK Bye, 1 message left"  # not "1 messages"


# -- the three ways RETR sends a message: whole from one read, sendfile, chunks -----------------------

# Messages that need byte-stuffing and messages that do not, with and without a last line end.
RETRIEVED = [
    message(1, b"no leading dots here\r\nnone at all\r\n", size=20_000),
    message(2, b"line\r\n.leading dot\r\n..two\r\n.\r\nend\r\n", size=20_000),
    message(3, b"no line end at the very end", size=20_000)[:-2] + b"no CRLF",
    message(4, b"dot right after a chunk\r\n" + b"x" * 4071 + b"\r\n.dot\r\n", size=20_000),
    b".starts with a dot\r\n\r\nbody\r\n",
    message(6, b"short\r\n"),
    message(7, b"short with\r\n.dot\r\n"),
]


def stuffed_reference(data: bytes) -> bytes:
    """RFC 1939 §3, written out line by line (independent of DotStuffer): a line that begins with
    "." gets another; the text ends with CRLF (added if missing), then ".CRLF"."""
    lines = data.split(b"\n")
    out = b"\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    if data and not data.endswith(b"\n"):
        out += b"\r\n"
    return out + b".\r\n"


async def retr_raw(env: Pop3Env, kind: str, commands: list[bytes], replies: int) -> list[bytes]:
    """Log in over plain or POP3S, send ``commands`` pipelined in one write, return the next
    ``replies`` responses (a multi-line one ends at the first CRLF.CRLF, which stuffing guarantees
    is its terminator)."""
    if kind == "pop3s":
        reader, writer = await asyncio.open_connection(
            *env.tls, ssl=env.client_context(), server_hostname="127.0.0.1"
        )
    else:
        reader, writer = await asyncio.open_connection(*env.plain)
    try:
        async with asyncio.timeout(20):
            await reader.readline()
            writer.write(b"USER " + ADDRESS.encode() + b"\r\nPASS " + PASSWORD.encode() + b"\r\n")
            await reader.readline()
            assert (await reader.readline()).startswith(b"+OK")
            writer.write(b"".join(c + b"\r\n" for c in commands))
            out: list[bytes] = []
            for command in commands[:replies]:
                first = await reader.readline()
                if first.startswith(b"+OK") and command.split()[0] in (b"RETR", b"TOP", b"LIST", b"UIDL"):
                    first += await reader.readuntil(b"\r\n.\r\n") if not first.endswith(b"\r\n.\r\n") else b""
                out.append(first)
            writer.write(b"QUIT\r\n")
            await reader.readline()
            return out
    finally:
        writer.close()


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the octets each RETR sent by sendfile (a spy: the real method runs)."""
    from pochta.server.connection import Connection

    calls: list[int] = []
    real = Connection.sendfile

    async def spy(self: Connection, file: object, offset: int, count: int, piece: int) -> int:
        sent = await real(self, file, offset, count, piece)  # type: ignore[arg-type]
        calls.append(sent)
        return sent

    monkeypatch.setattr(Connection, "sendfile", spy)
    return calls


@pytest.mark.parametrize(
    ("inline", "sendfile", "in_database"),
    [(65536, True, True), (65536, True, False), (0, True, False), (0, False, False), (0, True, True)],
    ids=["one-read", "one-read-files", "sendfile-or-chunks", "chunks", "chunks-from-database"],
)
@pytest.mark.parametrize("kind", ["plain", "pop3s"])
async def test_retr_paths_byte_exact(
    tmp_path: Path, sendfile_calls: list[int], kind: str, inline: int, sendfile: bool, in_database: bool
) -> None:
    """Every way a message leaves the server gives the same octets: RFC 1939 §3 stuffing of lines
    beginning with ".", a CRLF added before the terminator when the last line has none; TOP too.
    Small chunks (4 KiB) so that a 20 KB message takes several reads or sendfile pieces. The
    messages are rows of the database (``store.inline_blob_max``) or files."""
    from pop3_env import pop3_settings

    settings = pop3_settings(
        pop3={"inline_read_max": inline, "sendfile": sendfile, "chunk_size": 4096},
        store={"inline_blob_max": 65536 if in_database else 0},
    )
    async with pop3_server(tmp_path, settings) as env:
        for data in RETRIEVED:
            await env.deliver(data)
        count = len(RETRIEVED)
        commands = [f"RETR {n}".encode() for n in range(1, count + 1)] + [b"TOP 2 1", b"TOP 4 0"]
        got = await retr_raw(env, kind, commands, len(commands))
    for data, reply in zip(RETRIEVED, got, strict=False):
        assert reply == f"+OK {len(data)} octets\r\n".encode() + stuffed_reference(data)
    head2 = RETRIEVED[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert got[count] == b"+OK top of message follows\r\n" + head2 + b"line\r\n.\r\n"
    head4 = RETRIEVED[3].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert got[count + 1] == b"+OK top of message follows\r\n" + head4 + b".\r\n"
    # sendfile takes exactly the large messages that need no stuffing, and only without TLS, from
    # files (a message in the database has none).
    large_unstuffed = [len(d) for d in RETRIEVED if len(d) > inline and b"\n." not in d and d[:1] != b"."]
    expected = large_unstuffed if kind == "plain" and sendfile and not in_database else []
    assert sorted(sendfile_calls) == sorted(expected)


async def test_retr_pipelined_batch_keeps_order(env: Pop3Env) -> None:
    """Small messages read in one piece join the batch's other replies in command order."""
    for data in RETRIEVED[4:]:
        await env.deliver(data)
    commands = [b"RETR 1", b"DELE 2", b"RETR 3", b"NOOP", b"RETR 2", b"STAT"]
    got = await retr_raw(env, "plain", commands, len(commands))
    assert got == [
        f"+OK {len(RETRIEVED[4])} octets\r\n".encode() + stuffed_reference(RETRIEVED[4]),
        b"+OK Message 2 deleted\r\n",
        f"+OK {len(RETRIEVED[6])} octets\r\n".encode() + stuffed_reference(RETRIEVED[6]),
        b"+OK\r\n",
        b"-ERR Message already deleted\r\n",
        f"+OK 2 {len(RETRIEVED[4]) + len(RETRIEVED[6])}\r\n".encode(),
    ]


@pytest.mark.parametrize("size", [100, 100_000])
async def test_retr_of_a_missing_blob_fails_alone(env: Pop3Env, size: int) -> None:
    """A message whose file is gone gets -ERR [SYS/TEMP]; the session goes on."""
    await env.deliver(message(1, size=size))
    await env.deliver(message(2))
    info = await env.store.get_mailbox(env.account.id, "INBOX")
    assert info is not None
    view = await env.store.open_view(info.id)
    sha256 = view.blob(0).sha256
    replace_blob(env.data_dir, sha256, None)  # a file (100,000 octets) or a row of the database (100)
    got = await retr_raw(env, "plain", [b"RETR 1", b"RETR 2"], 2)
    assert got[0] == b"-ERR [SYS/TEMP] Message cannot be read now\r\n"
    assert got[1] == f"+OK {len(message(2))} octets\r\n".encode() + stuffed_reference(message(2))


async def test_only_the_own_inbox_whatever_is_shared(env: Pop3Env) -> None:
    # ACL (RFC 4314) is IMAP's: a POP3 session of bob sees bob's INBOX, never a mailbox of alice's
    # shared with him (not even her INBOX with every right).
    bob = await env.add_account("bob@example.org")
    await env.deliver(message(1))
    await env.deliver(message(2), account=bob)
    inbox = await env.store.get_mailbox(env.account.id, "INBOX")
    assert inbox is not None
    await env.store.set_mailbox_acl(inbox.id, "bob@example.org", "lrswipkxtea")
    await env.store.set_mailbox_acl(inbox.id, "anyone", "lr")

    def session() -> tuple[int, list[bytes]]:
        client = login(env, user="bob@example.org")
        try:
            count, _octets = client.stat()
            _, lines, _ = client.retr(1)
        finally:
            client.quit()
        return count, lines

    count, lines = await asyncio.to_thread(session)
    assert count == 1
    assert b"Subject: message 2" in lines
