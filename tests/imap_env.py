"""A real IMAP server for tests: SQLite store in a temp dir, imap (STARTTLS) and imaps listeners on
ephemeral ports of 127.0.0.1, a trustme CA, domain example.org with alice and bob.

Clients (imaplib, imapclient, raw sockets) are blocking: run them with ``asyncio.to_thread`` while
the server runs on the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import socket
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import trustme

from pochta.auth.authenticator import Authenticator
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LISTENER_KINDS, Settings
from pochta.delivery import Delivery
from pochta.mail.ops import MailOps
from pochta.metrics import Metrics
from pochta.mime import parse_message
from pochta.server.imap import ImapHandler
from pochta.server.listeners import ProtocolHandler, Server
from pochta.server.pop3 import Pop3Handler
from pochta.server.smtp import smtp_handlers
from pochta.store.api import Store
from pochta.store.model import Account, MailboxInfo, Target
from pochta.store.spool import spool_directory
from server_env import ListenerEnv, loopback_ca
from store_env import open_test_store, store_settings

ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSWORD = "PASSWORD"


def imap_settings(**sections: Any) -> Settings:
    data: dict[str, Any] = {
        "listeners": {name: "off" for name in LISTENER_KINDS}
        | {"imap": "127.0.0.1:0", "imaps": "127.0.0.1:0"},
        "server": {"idle_timeout_unauthenticated": 10.0, "shutdown_grace": 2.0},
        "tls": {"handshake_timeout": 5.0},
        # Tests fail logins on purpose; keep the authenticator from slowing them down.
        "login": {"failures_before_delay": 1000, "lockout_after": 10000},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values
    return Settings.model_validate(data)


def message(n: int, body: bytes = b"") -> bytes:
    head = (
        f"From: Bob <{BOB}>\r\nTo: {ALICE}\r\nSubject: message {n}\r\nMessage-ID: <{n}@example.org>\r\n\r\n"
    ).encode()
    return head + (body or f"Body of message {n}.\r\n".encode())


@dataclass
class ImapEnv(ListenerEnv):
    data_dir: Path
    store: Store
    ops: MailOps
    server: Server
    alice: Account
    bob: Account
    ca: trustme.CA
    settings: Settings

    @property
    def plain(self) -> tuple[str, int]:
        return self.address("imap")

    @property
    def tls(self) -> tuple[str, int]:
        return self.address("imaps")

    # -- clients (blocking: call from a thread) ------------------------------------------------------

    def connect(self, kind: str = "plain") -> imaplib.IMAP4:
        if kind == "imaps":
            host, port = self.tls
            return imaplib.IMAP4_SSL(host, port, ssl_context=self.client_context(), timeout=10)
        host, port = self.plain
        client = imaplib.IMAP4(host, port, timeout=10)
        if kind == "starttls":
            client.starttls(self.client_context())
        return client

    def login_deflate(self, kind: str = "plain", user: str = ALICE) -> DeflateIMAP4:
        """A logged-in imaplib client (plain, or "starttls") that has sent COMPRESS DEFLATE."""
        client = DeflateIMAP4(*self.plain, timeout=10)
        if kind == "starttls":
            client.starttls(self.client_context())
        client.login(user, PASSWORD)
        typ, data = client.compress()
        assert typ == "OK", data
        return client

    def login(self, kind: str = "plain", user: str = ALICE) -> imaplib.IMAP4:
        client = self.connect(kind)
        client.login(user, PASSWORD)
        return client

    def raw(self) -> socket.socket:
        """A plain socket, greeting already read."""
        sock = socket.create_connection(self.plain, timeout=10)
        read_line(sock)
        return sock

    def session(self, *, enable: bytes = b"", user: str = ALICE) -> socket.socket:
        """A plain socket logged in as ``user``, after ``ENABLE enable`` when given."""
        sock = self.raw()
        assert exchange(sock, b"L LOGIN %s %s" % (user.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
        if enable:
            assert exchange(sock, b"E ENABLE " + enable)[-1].startswith(b"E OK")
        return sock

    # -- mail ----------------------------------------------------------------------------------------

    async def deliver(
        self,
        data: bytes,
        *,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        date: datetime | None = None,
        account: Account | None = None,
    ) -> int:
        """Deliver like the delivery pipeline does: one blob, parsed once, store.deliver."""
        info = await self.mailbox(mailbox, account)
        blob = await self.store.put_blob(data)
        parsed = parse_message(data, self.settings.mime)
        placed = await self.store.deliver(blob, parsed, [Target(info.id, frozenset(flags), date)])
        return placed[0].uid

    async def mailbox(self, name: str = "INBOX", account: Account | None = None) -> MailboxInfo:
        info = await self.store.get_mailbox((account or self.alice).id, name)
        assert info is not None, name
        return info

    async def seen_elsewhere(self, name: str = "INBOX") -> None:
        """As if another session had selected the mailbox: its messages so far are \\Recent to no
        session that comes later (RFC 3501 §2.3.2), for tests about something else."""
        info = await self.mailbox(name)
        await self.store.take_recent(info.id, info.uidnext)

    def spool_files(self) -> list[Path]:
        """APPEND literals being received, or left behind."""
        return [p for p in spool_directory(self.data_dir).glob("*") if p.is_file()]

    async def uids(self, mailbox: str = "INBOX", account: Account | None = None) -> list[int]:
        info = await self.mailbox(mailbox, account)
        return list((await self.store.open_view(info.id)).uids)

    async def modseqs(self, mailbox: str = "INBOX", account: Account | None = None) -> dict[int, int]:
        """Each message's MODSEQ by UID (RFC 7162), as the store holds it now."""
        info = await self.mailbox(mailbox, account)
        view = await self.store.open_view(info.id)
        return dict(zip(view.uids, view.modseqs, strict=True))


class SocketLike(Protocol):
    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...


class DeflateSocket:
    """A client socket after COMPRESS DEFLATE (RFC 4978): raw DEFLATE both ways, each ``sendall``
    sync-flushed. ``recv`` returns inflated octets; ``raw`` is the socket underneath."""

    def __init__(self, sock: socket.socket) -> None:
        self.raw = sock
        self._out = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._in = zlib.decompressobj(-zlib.MAX_WBITS)
        self._pending = b""
        self.wire_in = 0  # compressed octets received

    def compressed(self, data: bytes) -> bytes:
        """``data`` as this client's compressor sends it (sync-flushed)."""
        return self._out.compress(data) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def finished(self, data: bytes) -> bytes:
        """``data`` and the end of this client's DEFLATE stream (Z_FINISH)."""
        return self._out.compress(data) + self._out.flush(zlib.Z_FINISH)

    def sendall(self, data: bytes) -> None:
        self.raw.sendall(self.compressed(data))

    def recv(self, size: int) -> bytes:
        while not self._pending:
            chunk = self.raw.recv(65536)
            if not chunk:
                return b""
            self.wire_in += len(chunk)
            self._pending = self._in.decompress(chunk)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def read_to_end(self) -> bytes:
        """Read until the server finished its DEFLATE stream (Z_FINISH); returns the octets that
        came after it, in clear. Fails if inflated octets were still unread."""
        while not self._in.eof:
            chunk = self.raw.recv(65536)
            assert chunk, "the connection closed before the end of the compressed stream"
            self._pending += self._in.decompress(chunk)
        assert self._pending == b"", self._pending
        return self._in.unused_data

    def close(self) -> None:
        self.raw.close()


class DeflateIMAP4(imaplib.IMAP4):
    """imaplib with ``compress()`` (RFC 4978): after its OK, everything goes through DEFLATE."""

    deflate: DeflateSocket | None = None

    def compress(self) -> tuple[str, list[Any]]:
        typ, data = self.xatom("COMPRESS", "DEFLATE")
        if typ == "OK":
            self.deflate = DeflateSocket(self.sock)
        return typ, data

    def read(self, size: int) -> bytes:
        if self.deflate is None:
            return super().read(size)
        out = b""
        while len(out) < size:
            got = self.deflate.recv(size - len(out))
            if not got:
                break
            out += got
        return out

    def readline(self) -> bytes:
        if self.deflate is None:
            return super().readline()
        return read_line(self.deflate)

    def send(self, data: bytes) -> None:
        if self.deflate is None:
            super().send(data)
        else:
            self.deflate.sendall(data)


def read_line(sock: SocketLike) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def exchange(sock: SocketLike, line: bytes, tag: bytes = b"") -> list[bytes]:
    """Send ``line`` (CRLF added) and read responses up to the tagged one (or a BYE, or EOF)."""
    sock.sendall(line + b"\r\n")
    tag = tag or line.split(b" ", 1)[0]
    return read_until(sock, tag)


def send_append(sock: socket.socket, head: bytes, parts: list[tuple[bytes, bytes]]) -> list[bytes]:
    """``head`` is "tag APPEND mailbox" (or "tag REPLACE n mailbox"); each part is (flags/date text
    before the literal, octets).

    Waits for each ``+`` and returns every line up to the tagged reply."""
    tag = head.split(b" ", 1)[0]
    lines: list[bytes] = []
    pending = head
    for prefix, data in parts:
        sock.sendall(pending + b" " + prefix + b"{%d}\r\n" % len(data))
        got = read_line(sock)
        lines.append(got)
        if not got.startswith(b"+"):
            return lines  # refused before the literal (TOOBIG)
        pending = data
    sock.sendall(pending + b"\r\n")
    while not lines[-1].startswith(tag + b" "):
        lines.append(read_line(sock))
    return lines


def read_until(sock: SocketLike, tag: bytes) -> list[bytes]:
    lines = []
    while True:
        got = read_line(sock)
        if not got:
            return lines
        lines.append(got)
        if got.startswith(tag + b" ") or got.startswith(b"* BYE"):
            if got.startswith(b"* BYE") and not tag.startswith(b"*"):
                lines.append(read_line(sock))  # the tagged reply may follow (LOGOUT)
            return [line for line in lines if line]


def imap_session(
    env: ImapEnv, *, select: bytes = b"INBOX", enable: bytes = b"", user: bytes = ALICE.encode()
) -> socket.socket:
    """A raw socket logged in (and with ``select``, a mailbox selected; with ``enable``, ENABLEd)."""
    sock = env.raw()
    assert exchange(sock, b"L LOGIN " + user + b" " + PASSWORD.encode())[-1].startswith(b"L OK")
    if enable:
        assert exchange(sock, b"E ENABLE " + enable)[-1] == b"E OK ENABLE completed\r\n"
    if select:
        assert exchange(sock, b"S SELECT " + select)[-1].startswith(b"S OK")
    return sock


def login_socket(port: int, *, user: str = ALICE, timeout: float = 15) -> socket.socket:
    """A raw socket to 127.0.0.1:``port`` (pochta's or a peer's, e.g. Dovecot), logged in."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    read_line(sock)
    assert exchange(sock, b"L LOGIN %s %s" % (user.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
    return sock


def tagged_command(client: imaplib.IMAP4, line: str) -> tuple[list[bytes], bytes]:
    """One command on an imaplib connection, read by hand: its untagged lines and its tagged line
    (after the tag), raw, for commands imaplib has no method for."""
    tag = client._new_tag()  # type: ignore[attr-defined]
    client.send(tag + b" " + line.encode() + b"\r\n")
    untagged: list[bytes] = []
    while True:
        got = client.readline()
        if got.startswith(tag + b" "):
            return untagged, got[len(tag) + 1 :].rstrip(b"\r\n")
        untagged.append(got.rstrip(b"\r\n"))


async def open_session(
    env: ImapEnv, *, select: bytes = b"INBOX", enable: bytes = b"", user: bytes = ALICE.encode()
) -> socket.socket:
    """``imap_session`` off the event loop (the server under test runs on it)."""
    return await asyncio.to_thread(imap_session, env, select=select, enable=enable, user=user)


async def ask(sock: socket.socket, line: bytes) -> list[bytes]:
    """``exchange`` off the event loop (the server under test runs on it)."""
    return await asyncio.to_thread(exchange, sock, line)


@contextlib.asynccontextmanager
async def imap_server(tmp_path: Path, settings: Settings | None = None) -> AsyncIterator[ImapEnv]:
    settings = store_settings(settings or imap_settings())
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    ca, server_context = loopback_ca()
    store = await open_test_store(data_dir, settings)
    try:
        await store.add_domain("example.org")
        scram = make_scram_credentials(PASSWORD)
        alice = await store.add_account(ALICE, hash_password(PASSWORD), scram)
        bob = await store.add_account(BOB, hash_password(PASSWORD), scram)
        ops = MailOps.from_settings(store, settings)
        delivery = Delivery(store, settings, data_dir)
        handler = ImapHandler(
            store,
            settings,
            authenticator=Authenticator(store, settings.login),
            ops=ops,
            scram_secret=b"k" * 32,
            spool_dir=spool_directory(data_dir),
            outbound=delivery.send_outgoing,  # Sieve on IMAP events: redirects into the queue
        )
        handlers: dict[str, ProtocolHandler] = {"imap": handler}
        if settings.listeners.get("pop3", "off") != "off":
            # POP3 on the same store, for tests of IMAP sessions beside POP3 clients.
            handlers["pop3"] = Pop3Handler(store, settings, ops=ops, scram_secret=b"k" * 32)
        if settings.listeners.get("lmtp", "off") != "off":
            # LMTP delivering into the same store, for tests that deliver as an MTA would.
            handlers["lmtp"] = smtp_handlers(store, settings, delivery, scram_secret=b"k" * 32)["lmtp"]
        server = Server(settings, data_dir, handlers, metrics=Metrics(), ssl_context=server_context)
        await server.start()
        try:
            yield ImapEnv(data_dir, store, ops, server, alice, bob, ca, settings)
        finally:
            await server.stop()
    finally:
        await store.close()


_IMAP_TOKEN = re.compile(rb' *(?:(\()|(\))|"((?:[^"\\\r\n\x00]|\\["\\])*)"|\{(\d+)\}\r\n|([^ ()"{]+))')


def read_imap(data: bytes, *, errors: str = "strict") -> Any:
    """Read one IMAP value (parenthesised lists, quoted strings, literals, NIL, numbers) into
    Python lists, str, int and None (other atoms, such as ``BODY[1]``, as str); asserts that the
    whole input is well-formed and consumed. ``errors`` is how strings that are not UTF-8 decode."""
    pos = 0
    stack: list[list[Any]] = [[]]
    while pos < len(data):
        token = _IMAP_TOKEN.match(data, pos)
        assert token is not None, data[pos : pos + 40]
        pos = token.end()
        opening, closing, quoted, literal, atom = token.groups()
        if opening:
            stack.append([])
        elif closing:
            done = stack.pop()
            stack[-1].append(done)
        elif quoted is not None:
            stack[-1].append(re.sub(rb'\\(["\\])', rb"\1", quoted).decode("utf-8", errors))
        elif literal is not None:
            length = int(literal)
            stack[-1].append(data[pos : pos + length].decode("utf-8", errors))
            pos += length
        else:
            text = atom.decode("ascii")
            stack[-1].append(None if text == "NIL" else int(text) if text.isdigit() else text)
    assert len(stack) == 1, stack
    assert len(stack[0]) == 1, stack
    return stack[0][0]


def fetch_items(client: imaplib.IMAP4, number: int, items: str) -> dict[str, Any]:
    """FETCH ``items`` of message ``number`` with imaplib; the answer parsed (read_imap, strings
    that are not UTF-8 kept as surrogate escapes) into {item name: value}, e.g.
    {"BODYSTRUCTURE": [...], "BODY[1]": "..."}."""
    typ, data = client.fetch(str(number), f"({items})")
    assert typ == "OK", (typ, data)
    raw = b""
    for piece in data:
        if isinstance(piece, tuple):
            raw += piece[0] + b"\r\n" + piece[1]
        elif piece is not None:
            raw += piece
    seq, _, rest = raw.partition(b" ")
    assert int(seq) == number, raw[:80]
    values = read_imap(rest, errors="surrogateescape")
    return {str(values[i]).upper(): values[i + 1] for i in range(0, len(values), 2)}
