"""A POP3 mailbox on another server as a ``RemoteSource``: the asyncio I/O around the sans-IO client
(``pochta.proto.pop3.client``), with TLS as the account says (RFC 8314 implicit TLS, or RFC 2595
STLS, never falling back to plain text), USER/PASS or AUTH PLAIN, UIDL, RETR, DELE and QUIT.

A server without UIDL (RFC 1939 §7 makes it optional) gets each message's key from a digest of its
header (TOP n 0): stable as long as the server does not rewrite headers (docs/fetch.md)."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence

from pochta.fetch.connection import Stream, close_stream, open_stream, upgrade_stream
from pochta.fetch.remote import FetchError, RemoteMessage
from pochta.proto.pop3.client import (
    Capabilities,
    Err,
    Greeting,
    Listing,
    Message,
    NeedData,
    Ok,
    Pop3Client,
    Pop3ClientError,
    Pop3Response,
    UniqueIds,
)

__all__ = ["Pop3Remote", "connect_pop3"]

_READ = 256 * 1024
# RETRs sent ahead of their answers, by the sizes LIST gave (bounds what the socket buffers hold).
_AHEAD_OCTETS = 1024 * 1024


class Pop3Remote:
    def __init__(self, stream: Stream, client: Pop3Client, command_timeout: float) -> None:
        self._stream = stream
        self._reader = stream.reader
        self._writer = stream.writer
        self._client = client
        self._timeout = command_timeout
        self.peer = stream.peer
        self.capabilities = Capabilities()
        self._deletions: list[int] = []  # message numbers to DELE at ``finish``
        self._listed: set[str] = set()  # the keys of the last listing
        self.problems: list[str] = []  # a POP3 listing is all or nothing

    async def _send(self, data: bytes) -> None:
        self._writer.write(data)
        try:
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
        except TimeoutError:
            raise FetchError("timeout", "the remote server stopped reading") from None
        except (ConnectionError, OSError) as exc:
            raise FetchError("unreachable", f"the connection broke: {exc}") from None

    async def _next(self) -> Pop3Response:
        """The next answer, reading as needed within the command timeout."""
        while True:
            try:
                event = self._client.next_event()
            except Pop3ClientError as exc:
                raise FetchError("protocol", f"the remote server broke POP3: {exc}") from None
            if not isinstance(event, NeedData):
                return event
            try:
                async with asyncio.timeout(self._timeout):
                    data = await self._reader.read(_READ)
            except TimeoutError:
                raise FetchError("timeout", f"no answer within {self._timeout:g} s") from None
            except ssl.SSLError as exc:
                raise FetchError("protocol", f"TLS failed: {exc.reason or exc}") from None
            except (ConnectionError, OSError) as exc:
                raise FetchError("unreachable", f"the connection broke: {exc}") from None
            if not data:
                raise FetchError("remote", "the remote server closed the connection")
            self._client.receive_data(data)

    async def _ask(self, data: bytes) -> Pop3Response:
        await self._send(data)
        return await self._next()

    async def greeting(self) -> None:
        event = await self._next()
        if isinstance(event, Err):
            raise FetchError("remote", f"the server refused the session: {event.text}")
        assert isinstance(event, Greeting)

    async def read_capabilities(self) -> None:
        event = await self._ask(self._client.capa())
        # RFC 2449 §5: a server without CAPA answers -ERR; it then has none of the extensions.
        self.capabilities = event if isinstance(event, Capabilities) else Capabilities()

    async def starttls(self, context: ssl.SSLContext, host: str, connect_timeout: float) -> None:
        if not self.capabilities.has("STLS"):
            # RFC 2595 §4: STLS is announced in CAPA; never go on in plain text (docs/fetch.md).
            raise FetchError("tls", "the remote server does not offer STLS (STARTTLS)")
        event = await self._ask(self._client.stls())
        if not isinstance(event, Ok):
            raise FetchError("tls", f"the remote server refused STLS: {_text(event)}")
        self._client.start_tls()
        await upgrade_stream(self._stream, context, host, connect_timeout)
        # RFC 2595 §4: the capabilities are asked again once TLS is on (they may differ).
        await self.read_capabilities()

    async def login(self, login: str, password: str) -> None:
        caps = self.capabilities
        if " " not in login and (caps.has("USER") or not caps.has("SASL") or "PLAIN" not in caps.sasl):
            # RFC 1939 §7 USER/PASS: what every POP3 server has (CAPA lists it as USER, RFC 2449 §6.2).
            event = await self._ask(self._client.user(login))
            if isinstance(event, Ok):
                event = await self._ask(self._client.pass_(password))
        else:
            event = await self._ask(self._client.auth_plain(login, password))  # RFC 5034
        if isinstance(event, Err):
            if event.code in ("IN-USE", "LOGIN-DELAY", "SYS/TEMP"):
                # RFC 2449 §8.1.1, RFC 3206 section 4: the credentials may be right; try again later.
                raise FetchError("remote", f"the remote server refused the login for now: {event.text}")
            raise FetchError("auth", f"login refused: {event.text}")

    async def messages(self) -> list[RemoteMessage]:
        sizes = await self._ask(self._client.list_())
        if not isinstance(sizes, Listing):
            raise FetchError("remote", f"LIST failed: {_text(sizes)}")
        ids = await self._ask(self._client.uidl())
        if isinstance(ids, UniqueIds):
            keys = {n: f"uidl:{uid}" for n, uid in ids.ids.items()}
        else:
            keys = await self._header_keys(sorted(sizes.sizes))
        self._listed = set(keys.values())
        return [RemoteMessage(keys[n], size, n) for n, size in sorted(sizes.sizes.items()) if n in keys]

    def local_folder(self, message: RemoteMessage, base: str | None) -> str | None:
        return base  # one mailbox there: into --folder or INBOX

    def record_keys(self, message: RemoteMessage, data: bytes) -> tuple[str, ...]:
        return (message.key,)

    def stored_before(self, keys: tuple[str, ...], known: set[str]) -> bool:
        return False  # a unique-id stays with its message (RFC 1939 §7): its key says it all

    def stale(self, known: set[str]) -> set[str]:
        # A unique-id is never used again for another message (RFC 1939 §7): a record whose
        # message is not listed any more serves nothing.
        return known - self._listed

    async def _header_keys(self, numbers: Sequence[int]) -> dict[int, str]:
        """No UIDL: each message's header, hashed, is its key (TOP n 0, RFC 1939 §7)."""
        keys: dict[int, str] = {}
        for number in numbers:
            event = await self._ask(self._client.top(number, 0))
            if not isinstance(event, Message):
                raise FetchError("remote", f"the server has neither UIDL nor TOP: {_text(event)}")
            keys[number] = "top:" + hashlib.sha256(event.data).hexdigest()
        return keys

    async def retrieve(self, messages: Sequence[RemoteMessage]) -> AsyncIterator[tuple[RemoteMessage, bytes]]:
        """RETR each, in order. With PIPELINING (RFC 2449 §6.6) the next RETRs are sent before the
        answer to the first is read, up to ``_AHEAD_OCTETS`` of listed sizes (always one), so the
        remote prepares the next message while we deliver this one."""
        ahead = _AHEAD_OCTETS if self.capabilities.has("PIPELINING") else 0
        pending: deque[RemoteMessage] = deque()
        octets = 0
        rest = iter(messages)
        while True:
            batch = b""
            for message in rest:
                batch += self._client.retr(message.number)
                pending.append(message)
                octets += message.size
                if octets >= ahead:
                    break
            if batch:
                await self._send(batch)
            if not pending:
                return
            message = pending.popleft()
            octets -= message.size
            event = await self._next()
            if not isinstance(event, Message):
                raise FetchError("remote", f"RETR {message.number} failed: {_text(event)}")
            yield message, event.data

    async def delete(self, message: RemoteMessage) -> None:
        """Marked here; the DELEs go at ``finish``, just before QUIT. POP3 deletes nothing before
        QUIT anyway (RFC 1939 §6), so this is the same as a DELE now, at one round trip for all
        when the server pipelines (RFC 2449 §6.6) instead of one each."""
        self._deletions.append(message.number)

    async def finish(self) -> None:
        """The DELEs, then QUIT: the UPDATE state (RFC 1939 §6) deletes the marked messages now."""
        numbers, self._deletions = self._deletions, []
        batch = 256 if self.capabilities.has("PIPELINING") else 1
        for start in range(0, len(numbers), batch):
            chunk = numbers[start : start + batch]
            await self._send(b"".join(self._client.dele(n) for n in chunk))
            for number in chunk:
                event = await self._next()
                if isinstance(event, Err):
                    # RSET would undo the others; QUIT is not sent: nothing is deleted this run.
                    raise FetchError("remote", f"DELE {number} failed: {event.text}")
        event = await self._ask(self._client.quit())
        if isinstance(event, Err):
            raise FetchError("remote", f"QUIT failed, nothing was deleted: {event.text}")
        await self.close()

    async def close(self) -> None:
        await close_stream(self._stream)


def _text(event: Pop3Response) -> str:
    return event.text if isinstance(event, Ok | Err) else type(event).__name__


async def connect_pop3(
    host: str,
    port: int,
    tls: str,
    login: str,
    password: str,
    *,
    context: ssl.SSLContext,
    connect_timeout: float,
    command_timeout: float,
    max_message_size: int,
) -> Pop3Remote:
    """A logged-in session, or FetchError with the kind of failure."""
    stream = await open_stream(host, port, tls, context, connect_timeout)
    remote = Pop3Remote(stream, Pop3Client(max_message_size=max_message_size), command_timeout)
    try:
        await remote.greeting()
        await remote.read_capabilities()
        if tls == "starttls":
            await remote.starttls(context, host, connect_timeout)
        await remote.login(login, password)
    except BaseException:
        await remote.close()
        raise
    return remote
