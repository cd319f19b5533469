"""An asyncio IMAP client of another server, on the sans-IO core ``pochta.proto.imap_client``.

``ImapRemote.connect(RemoteServer(...))`` opens a connection (implicit TLS, STARTTLS, or plain when
the caller says so), and then: ``login``, ``capabilities``, ``id``, ``enable``, ``folders``,
``select`` (EXAMINE unless told to write), ``uid_search``, ``fetch_since`` (every message above a
UID in batches, without setting \\Seen), ``fetch_flags`` (CONDSTORE CHANGEDSINCE when the server
has it), ``uid_store``, ``uid_expunge``, ``append``, ``create``, ``subscribe`` and ``logout``.
``pochta migrate`` (``pochta.fetch.migrate``) and the fetcher of IMAP accounts use it.

Every read has the caller's timeout; a response line, a literal and a whole response each have a
size limit (``RemoteServer``), past which the connection is given up with a ``RemoteError``.
TLS verifies the certificate and the host name against the system's CAs, or only the CA file
given.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from pochta.fetch.connection import Stream, close_stream, open_stream, upgrade_stream
from pochta.fetch.remote import ErrorKind, FetchError
from pochta.proto.imap.mutf7 import MalformedName, modified_utf7_decode
from pochta.proto.imap_client import (
    Capability,
    CommandEncoder,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    FetchData,
    Flags,
    IdData,
    ListItem,
    Literal,
    Mailbox,
    Raw,
    Response,
    ResponseError,
    ResponseFramer,
    Search,
    Status,
    Tagged,
    Untagged,
    Value,
    format_internal_date,
    parse_response,
)

__all__ = [
    "AuthFailed",
    "CommandFailed",
    "FolderState",
    "ImapRemote",
    "Namespaces",
    "RemoteError",
    "RemoteFolder",
    "RemoteMessage",
    "RemoteServer",
    "TlsMode",
    "uid_set",
]

SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")  # RFC 6154 §2
_READ_CHUNK = 65536


class TlsMode(enum.StrEnum):
    IMPLICIT = "implicit"
    STARTTLS = "starttls"
    NONE = "none"


class RemoteError(FetchError):
    """The connection failed, timed out, or the server broke the protocol or a limit; ``kind``
    says which, as the fetcher reports it (``pochta.fetch.remote.ErrorKind``)."""

    def __init__(self, message: str, kind: ErrorKind = "protocol") -> None:
        super().__init__(kind, message)


class CommandFailed(RemoteError):
    """A command answered NO or BAD."""

    def __init__(self, command: str, response: Tagged) -> None:
        code = f"[{response.code.name}] " if response.code else ""
        super().__init__(f"{command}: {response.word} {code}{response.text}".rstrip(), self.failure_kind)
        self.response = response

    failure_kind: ErrorKind = "remote"


class AuthFailed(CommandFailed):
    """LOGIN or AUTHENTICATE refused (wrong password, say)."""

    failure_kind: ErrorKind = "auth"


@dataclass(frozen=True)
class RemoteServer:
    host: str
    port: int
    tls: TlsMode = TlsMode.IMPLICIT
    ca_file: str | None = None  # None: the system's CAs
    timeout: float = 60.0  # seconds for connecting and for each read
    connect_timeout: float | None = None  # seconds for connecting and TLS; None: ``timeout``
    max_line: int = 65536
    max_literal: int = 64 * 1024 * 1024  # the largest message (literal) accepted
    batch_messages: int = 100  # messages per UID FETCH
    batch_octets: int = 8 * 1024 * 1024  # and at most this many octets of them (RFC822.SIZE)
    context: ssl.SSLContext | None = field(default=None, compare=False)  # given: used as it is

    def ssl_context(self) -> ssl.SSLContext:
        if self.context is not None:
            return self.context
        # Verifying by default: the CA file replaces the system store when given.
        return ssl.create_default_context(cafile=self.ca_file)


@dataclass(frozen=True)
class RemoteFolder:
    name: str  # decoded (modified UTF-7 or UTF-8)
    delimiter: str | None
    attributes: frozenset[str]
    subscribed: bool

    @property
    def selectable(self) -> bool:
        # RFC 9051 §7.3.1: \Noselect and \NonExistent cannot be selected.
        return not any(flag.lower() in ("\\noselect", "\\nonexistent") for flag in self.attributes)

    @property
    def special_use(self) -> str | None:
        for use in SPECIAL_USES:
            if any(flag.lower() == use.lower() for flag in self.attributes):
                return use
        return None

    @property
    def parts(self) -> list[str]:
        """The hierarchy levels of the name."""
        return self.name.split(self.delimiter) if self.delimiter else [self.name]


@dataclass(frozen=True)
class FolderState:
    """What SELECT/EXAMINE told (RFC 9051 §7.1, §7.3.2; RFC 7162 §3.1.2.1 HIGHESTMODSEQ)."""

    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int
    highestmodseq: int | None  # None: the server has no CONDSTORE (or NOMODSEQ for this folder)
    read_only: bool
    flags: tuple[str, ...]


@dataclass(frozen=True)
class RemoteMessage:
    uid: int
    flags: frozenset[str]  # without \Recent
    internal_date: datetime | None
    data: bytes
    modseq: int | None = None


def uid_set(uids: Iterable[int]) -> str:
    """A compact sequence set: 1:3,7,9:10."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = None
    for uid in ordered:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


@dataclass(frozen=True)
class Namespaces:
    """Namespace prefixes, decoded (RFC 2342 §5)."""

    personal: tuple[str, ...]
    other: tuple[str, ...]
    shared: tuple[str, ...]

    def personal_name(self, name: str) -> bool:
        """Whether a folder name is the account's own: not below another user's or a shared
        namespace's prefix."""
        return not any(prefix and name.startswith(prefix) for prefix in (*self.other, *self.shared))


def _prefixes(value: Value) -> tuple[str, ...]:
    """The prefixes of one namespace list: NIL or ((prefix delimiter ext...) ...)."""
    if not isinstance(value, list):
        return ()
    found: list[str] = []
    for entry in value:
        if isinstance(entry, list) and entry and isinstance(entry[0], bytes | str):
            raw = entry[0]
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            try:
                found.append(modified_utf7_decode(text) if text.isascii() else text)
            except MalformedName:
                found.append(text)
    return tuple(found)


def _session_flags(flags: Iterable[str]) -> frozenset[str]:
    # RFC 3501 §2.3.2: \Recent belongs to a session, it cannot be stored or appended.
    return frozenset(flag for flag in flags if flag.lower() != "\\recent")


class ImapRemote:
    def __init__(self, server: RemoteServer, stream: Stream) -> None:
        self.server = server
        self._stream = stream
        self._reader = stream.reader
        self._writer = stream.writer
        self.peer = stream.peer
        self._framer = ResponseFramer(max_line=server.max_line, max_literal=server.max_literal)
        self._encoder = CommandEncoder()
        self.capabilities: frozenset[str] = frozenset()
        self.enabled: frozenset[str] = frozenset()
        self.selected: FolderState | None = None
        self.octets_read = 0

    # Connection

    @classmethod
    async def connect(cls, server: RemoteServer) -> ImapRemote:
        context = server.ssl_context() if server.tls is not TlsMode.NONE else None
        try:
            stream = await open_stream(
                server.host, server.port, server.tls.value, context, server.connect_timeout or server.timeout
            )
        except FetchError as exc:
            raise RemoteError(exc.message, exc.kind) from None
        client = cls(server, stream)
        try:
            await client._greeting()
            if server.tls is TlsMode.STARTTLS:
                assert context is not None
                await client._starttls(context)
        except BaseException:
            await client.close()
            raise
        return client

    async def __aenter__(self) -> ImapRemote:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            with contextlib.suppress(RemoteError):
                await self.logout()
        await self.close()

    async def close(self) -> None:
        await close_stream(self._stream)

    async def _greeting(self) -> None:
        greeting = await self._response()
        # RFC 9051 §7.1.5: BYE at the greeting refuses the connection.
        if not isinstance(greeting, Status) or greeting.word not in ("OK", "PREAUTH"):
            raise RemoteError(f"the server refused the connection: {greeting}")
        if greeting.code is not None and greeting.code.name == "CAPABILITY":
            self._set_capabilities(greeting.code.args)

    async def _starttls(self, context: ssl.SSLContext) -> None:
        if not self.capabilities:
            await self.capability()
        if "STARTTLS" not in self.capabilities:
            # RFC 9051 §6.2.1: never go on in plain text when TLS was asked for.
            raise RemoteError(f"{self.server.host} does not offer STARTTLS", "tls")
        await self.command("STARTTLS")
        if self._framer.buffered:
            # RFC 9051 §6.2.1: nothing may follow the OK before the TLS negotiation (an injection).
            raise RemoteError("data after the STARTTLS answer, before TLS")
        try:
            await upgrade_stream(
                self._stream, context, self.server.host, self.server.connect_timeout or self.server.timeout
            )
        except FetchError as exc:
            raise RemoteError(exc.message, exc.kind) from None
        # RFC 9051 §6.2.1: capabilities learned before TLS are discarded.
        self.capabilities = frozenset()
        await self.capability()

    # Reading and running commands

    async def _response(self) -> Response:
        while True:
            try:
                framed = self._framer.next_response()
            except ResponseError as exc:
                raise RemoteError(f"bad response from {self.server.host}: {exc}") from exc
            if framed is not None:
                try:
                    return parse_response(framed)
                except ResponseError as exc:
                    raise RemoteError(f"bad response from {self.server.host}: {exc}") from exc
            try:
                async with asyncio.timeout(self.server.timeout):
                    data = await self._reader.read(_READ_CHUNK)
            except TimeoutError:
                raise RemoteError(
                    f"{self.server.host} did not answer in {self.server.timeout:g} s", "timeout"
                ) from None
            except (OSError, ssl.SSLError) as exc:
                raise RemoteError(f"connection to {self.server.host} failed: {exc}", "unreachable") from exc
            if not data:
                raise RemoteError(f"{self.server.host} closed the connection", "remote")
            self.octets_read += len(data)
            self._framer.receive_data(data)

    async def _send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            async with asyncio.timeout(self.server.timeout):
                await self._writer.drain()
        except TimeoutError:
            raise RemoteError(f"{self.server.host} stopped reading", "timeout") from None
        except OSError as exc:
            raise RemoteError(f"cannot send to {self.server.host}: {exc}", "unreachable") from exc

    def _set_capabilities(self, names: Iterable[object]) -> None:
        self.capabilities = frozenset(str(name).upper() for name in names if isinstance(name, str))
        self._encoder.literal_plus = "LITERAL+" in self.capabilities
        self._encoder.literal_minus = "LITERAL-" in self.capabilities

    def _note(self, response: Response) -> None:
        """What any response tells the session, whichever command it came with."""
        if isinstance(response, Capability):
            self._set_capabilities(response.names)
        elif isinstance(response, Status | Tagged) and response.code and response.code.name == "CAPABILITY":
            self._set_capabilities(response.code.args)

    async def command(
        self,
        name: str,
        *args: Raw | Literal | Mailbox | str | bytes,
        continuation: Callable[[bytes], bytes] | None = None,
        failure: type[CommandFailed] = CommandFailed,
    ) -> tuple[list[Response], Tagged]:
        """Runs one command: the untagged responses it brought and its tagged completion;
        ``failure`` (a CommandFailed) when that is NO or BAD. ``continuation`` answers each
        continuation request that is not for a literal (SASL) with the line to send."""
        encoded = self._encoder.encode(name, *args)
        chunks = list(encoded.chunks)
        await self._send(chunks.pop(0))
        untagged: list[Response] = []
        while True:
            response = await self._response()
            if isinstance(response, Continuation):
                if chunks:
                    await self._send(chunks.pop(0))
                elif continuation is not None:
                    await self._send(continuation(response.text) + b"\r\n")
                else:
                    raise RemoteError(f"{name}: an unexpected continuation request")
                continue
            self._note(response)
            if isinstance(response, Tagged):
                if response.tag != encoded.tag:
                    raise RemoteError(
                        f"{name}: completion of tag {response.tag!r}, waiting for {encoded.tag!r}"
                    )
                if not response.ok:
                    raise failure(name, response)
                return untagged, response
            if isinstance(response, Status) and response.word == "BYE" and name != "LOGOUT":
                raise RemoteError(f"{self.server.host} said BYE: {response.text}", "remote")
            untagged.append(response)

    # Commands

    async def capability(self) -> frozenset[str]:
        await self.command("CAPABILITY")
        return self.capabilities

    async def login(self, user: str, password: str) -> None:
        """AUTHENTICATE PLAIN when offered (RFC 4616; SASL-IR, RFC 4959, saves a turn), else LOGIN
        unless the server says LOGINDISABLED (RFC 9051 §6.2.3)."""
        if not self.capabilities:
            await self.capability()
        if "AUTH=PLAIN" in self.capabilities:
            token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
            if "SASL-IR" in self.capabilities:
                _, done = await self.command("AUTHENTICATE", Raw(b"PLAIN"), Raw(token), failure=AuthFailed)
            else:
                _, done = await self.command(
                    "AUTHENTICATE", Raw(b"PLAIN"), continuation=lambda _: token, failure=AuthFailed
                )
        elif "LOGINDISABLED" in self.capabilities:
            raise RemoteError(f"{self.server.host} allows no login here (LOGINDISABLED): use TLS", "tls")
        else:
            _, done = await self.command("LOGIN", user, password, failure=AuthFailed)
        # RFC 9051 §6.2.2: the capabilities may change at login; a server not sending them anew
        # is asked.
        if done.code is None or done.code.name != "CAPABILITY":
            await self.capability()

    async def id(self, fields: dict[str, str] | None = None) -> dict[str, str | None]:
        """RFC 2971 ID: tells ours, returns the server's (empty when it has no ID)."""
        if "ID" not in self.capabilities:
            return {}
        ours = fields or {"name": "pochta"}
        # RFC 2971 §3.3: field names and values are strings; ours are quoted (printable ASCII).
        pieces = [
            b'"' + text.encode("ascii", "replace").replace(b"\\", b"").replace(b'"', b"") + b'"'
            for pair in ours.items()
            for text in pair
        ]
        untagged, _ = await self.command("ID", Raw(b"(" + b" ".join(pieces) + b")"))
        for response in untagged:
            if isinstance(response, IdData):
                return response.fields
        return {}

    async def enable(self, *names: str) -> frozenset[str]:
        """RFC 5161 ENABLE of those the server advertises; what it enabled."""
        wanted = [name for name in names if name.upper() in self.capabilities]
        if not wanted or "ENABLE" not in self.capabilities:
            return frozenset()
        untagged, _ = await self.command("ENABLE", *(Raw(name.encode()) for name in wanted))
        for response in untagged:
            if isinstance(response, Enabled):
                self.enabled |= response.names
        # RFC 6855 §3: after ENABLE UTF8=ACCEPT, names go out and come back as UTF-8.
        self._encoder.utf8 = "UTF8=ACCEPT" in self.enabled
        return self.enabled

    async def folders(self) -> list[RemoteFolder]:
        """Every folder with its attributes (SPECIAL-USE ones too, RFC 6154) and whether it is
        subscribed: one LIST-EXTENDED command (RFC 5258 §3) when offered, else LIST and LSUB."""
        extended = "LIST-EXTENDED" in self.capabilities
        if extended:
            options = [b"SUBSCRIBED"] + ([b"SPECIAL-USE"] if "SPECIAL-USE" in self.capabilities else [])
            returns = Raw(b"RETURN (" + b" ".join(options) + b")")
            listed, _ = await self.command("LIST", "", Raw(b"*"), returns)
            subscribed_lines: list[Response] = []
        else:
            listed, _ = await self.command("LIST", "", Raw(b"*"))
            subscribed_lines, _ = await self.command("LSUB", "", Raw(b"*"))
        subscribed = {item.name for item in subscribed_lines if isinstance(item, ListItem)}
        found: dict[str, RemoteFolder] = {}
        for item in listed:
            if not isinstance(item, ListItem) or item.kind != "LIST":
                continue
            marked = item.has("\\Subscribed") if extended else item.name in subscribed
            if extended and item.has("\\NonExistent"):
                # RFC 5258 §3.4: a subscribed name with no mailbox.
                found.setdefault(item.name, RemoteFolder(item.name, item.delimiter, item.attributes, marked))
                continue
            found[item.name] = RemoteFolder(item.name, item.delimiter, item.attributes, marked)
        for name in subscribed - set(found):
            found[name] = RemoteFolder(name, None, frozenset({"\\NonExistent"}), True)
        return list(found.values())

    async def namespaces(self) -> Namespaces:
        """RFC 2342 NAMESPACE (RFC 9051 §6.3.10): the prefixes of the personal, other users' and
        shared namespaces (a server without NAMESPACE: one personal namespace, "")."""
        if "NAMESPACE" not in self.capabilities and "IMAP4REV2" not in self.capabilities:
            return Namespaces(("",), (), ())
        untagged, _ = await self.command("NAMESPACE")
        for response in untagged:
            if isinstance(response, Untagged) and response.name == "NAMESPACE" and len(response.values) == 3:
                personal, other, shared = (_prefixes(value) for value in response.values)
                return Namespaces(personal, other, shared)
        raise RemoteError("NAMESPACE: no namespace data")

    async def select(self, name: str, *, read_only: bool = True) -> FolderState:
        """EXAMINE (or SELECT): the folder's UIDVALIDITY, UIDNEXT, count and HIGHESTMODSEQ; asks
        for CONDSTORE (RFC 7162 §3.1.8) when the server has it."""
        args: list[Raw | Mailbox] = [Mailbox(name)]
        if "CONDSTORE" in self.capabilities and "CONDSTORE" not in self.enabled:
            args.append(Raw(b"(CONDSTORE)"))
        # RFC 9051 §6.3.2: a SELECT or EXAMINE that fails leaves no mailbox selected.
        self.selected = None
        untagged, done = await self.command("EXAMINE" if read_only else "SELECT", *args)
        uidvalidity = uidnext = highest = None
        exists = 0
        flags: tuple[str, ...] = ()
        for response in [*untagged, done]:
            if isinstance(response, Exists):
                exists = response.count
            elif isinstance(response, Flags):
                flags = response.flags
            elif isinstance(response, Status | Tagged) and response.code is not None:
                code = response.code
                if code.name == "UIDVALIDITY":
                    uidvalidity = code.number()
                elif code.name == "UIDNEXT":
                    uidnext = code.number()
                elif code.name == "HIGHESTMODSEQ":
                    highest = code.number()
        if uidvalidity is None:
            raise RemoteError(f"SELECT {name}: the server gave no UIDVALIDITY")
        state = FolderState(
            name,
            uidvalidity,
            uidnext,
            exists,
            highest,
            read_only or (done.code is not None and done.code.name == "READ-ONLY"),
            flags,
        )
        self.selected = state
        return state

    async def uid_search(self, criteria: bytes = b"ALL") -> list[int]:
        """UID SEARCH; ESEARCH's RETURN (ALL) form when offered (RFC 4731), else SEARCH."""
        if "ESEARCH" in self.capabilities or "IMAP4REV2" in self.capabilities:
            untagged, _ = await self.command("UID SEARCH", Raw(b"RETURN (ALL) " + criteria))
        else:
            untagged, _ = await self.command("UID SEARCH", Raw(criteria))
        found: list[int] = []
        for response in untagged:
            if isinstance(response, ESearch | Search):
                found.extend(response.numbers)
        return sorted(set(found))

    async def sizes_since(self, uid: int) -> list[tuple[int, int]]:
        """(UID, RFC822.SIZE) of every message above ``uid``, ascending."""
        return [(found, size) for found, size, _ in await self.listing(uid)]

    async def listing(self, uid: int = 0, *, flags: bool = False) -> list[tuple[int, int, frozenset[str]]]:
        """(UID, RFC822.SIZE, flags) of every message above ``uid``, ascending; the flags only when
        asked for (else empty)."""
        if self.selected is not None and self.selected.exists == 0:
            return []
        items = b"(UID RFC822.SIZE FLAGS)" if flags else b"(UID RFC822.SIZE)"
        untagged, _ = await self.command("UID FETCH", Raw(b"%d:*" % (uid + 1)), Raw(items))
        found = {
            response.uid: (response.size, _session_flags(response.flags or ()))
            for response in untagged
            if isinstance(response, FetchData) and response.uid is not None and response.size is not None
        }
        # RFC 9051 §6.4.9 (n:* includes the highest UID even when it is below n).
        return sorted((key, size, marks) for key, (size, marks) in found.items() if key > uid)

    async def fetch(self, uids: Sequence[int]) -> list[RemoteMessage]:
        """UID FETCH of whole messages (BODY.PEEK[]: \\Seen stays as it is, RFC 9051 §6.4.5) with
        flags, internal date and MODSEQ when CONDSTORE is on."""
        if not uids:
            return []
        items = b"(UID FLAGS INTERNALDATE BODY.PEEK[]" + (b" MODSEQ)" if self._condstore else b")")
        untagged, _ = await self.command("UID FETCH", Raw(uid_set(uids).encode()), Raw(items))
        wanted = set(uids)
        messages: dict[int, RemoteMessage] = {}
        for response in untagged:
            if not isinstance(response, FetchData) or response.uid not in wanted or response.body is None:
                continue  # a flag update of another message, say
            messages[response.uid] = RemoteMessage(
                response.uid,
                _session_flags(response.flags or ()),
                response.internal_date,
                response.body,
                response.modseq,
            )
        return [messages[uid] for uid in sorted(messages)]

    @property
    def _condstore(self) -> bool:
        return "CONDSTORE" in self.capabilities and (
            self.selected is None or self.selected.highestmodseq is not None
        )

    async def fetch_since(
        self, uid: int, *, too_large: Callable[[int, int], None] | None = None
    ) -> AsyncIterator[RemoteMessage]:
        """Every message above ``uid`` in UID order, fetched in batches (``batch_messages`` and
        ``batch_octets``); a message larger than ``max_literal`` is left out and told to
        ``too_large(uid, size)``."""
        batch: list[int] = []
        octets = 0
        for found, size in await self.sizes_since(uid):
            if size > self.server.max_literal:
                if too_large is not None:
                    too_large(found, size)
                continue
            if batch and (
                len(batch) >= self.server.batch_messages or octets + size > self.server.batch_octets
            ):
                for message in await self.fetch(batch):
                    yield message
                batch, octets = [], 0
            batch.append(found)
            octets += size
        for message in await self.fetch(batch):
            yield message

    async def fetch_flags(
        self, uids: str = "1:*", changed_since: int | None = None
    ) -> dict[int, tuple[frozenset[str], int | None]]:
        """UID -> (flags, MODSEQ) of the messages; with ``changed_since`` only those whose MODSEQ
        is above it (RFC 7162 §3.1.4.1 CHANGEDSINCE)."""
        if self.selected is not None and self.selected.exists == 0:
            return {}
        items = b"(UID FLAGS MODSEQ)" if self._condstore else b"(UID FLAGS)"
        args = [Raw(uids.encode()), Raw(items)]
        if changed_since is not None:
            args.append(Raw(b"(CHANGEDSINCE %d)" % changed_since))
        untagged, _ = await self.command("UID FETCH", *args)
        return {
            response.uid: (_session_flags(response.flags), response.modseq)
            for response in untagged
            if isinstance(response, FetchData) and response.uid is not None and response.flags is not None
        }

    async def uid_store(self, uids: Iterable[int], op: str, flags: Iterable[str]) -> None:
        """UID STORE +FLAGS/-FLAGS/FLAGS .SILENT (``op``: "+", "-" or "")."""
        if op not in ("+", "-", ""):
            raise ValueError(f"unknown flag operation {op!r}")
        names = " ".join(flags).encode()
        await self.command(
            "UID STORE",
            Raw(uid_set(uids).encode()),
            Raw(f"{op}FLAGS.SILENT".encode()),
            Raw(b"(" + names + b")"),
        )

    async def uid_expunge(self, uids: Iterable[int]) -> None:
        """RFC 4315 §2.1 UID EXPUNGE (IMAP4rev2 has it too)."""
        await self.command("UID EXPUNGE", Raw(uid_set(uids).encode()))

    async def create(self, name: str) -> None:
        await self.command("CREATE", Mailbox(name))

    async def subscribe(self, name: str) -> None:
        await self.command("SUBSCRIBE", Mailbox(name))

    async def append(
        self, name: str, data: bytes, flags: Iterable[str] = (), internal_date: datetime | None = None
    ) -> int | None:
        """APPEND; the new UID when the server says (RFC 4315 APPENDUID)."""
        args: list[Raw | Mailbox | Literal] = [Mailbox(name), Raw(b"(" + " ".join(flags).encode() + b")")]
        if internal_date is not None:
            args.append(Raw(b'"' + format_internal_date(internal_date).encode() + b'"'))
        args.append(Literal(data))
        _, done = await self.command("APPEND", *args)
        if done.code is not None and done.code.name == "APPENDUID" and len(done.code.args) == 2:
            uid = done.code.args[1]
            return int(uid) if isinstance(uid, str) and uid.isdigit() else None
        return None

    async def logout(self) -> None:
        # RFC 9051 §6.1.3: BYE comes before the tagged OK.
        with contextlib.suppress(CommandFailed):
            await self.command("LOGOUT")
