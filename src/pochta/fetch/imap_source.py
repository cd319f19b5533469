"""An IMAP mailbox on another server as a ``RemoteSource`` of the fetcher (docs/fetch.md "IMAP
accounts"), on our IMAP client (``imap_remote``).

Per configured folder: EXAMINE, then ``UID FETCH 1:* (UID RFC822.SIZE FLAGS)`` lists it; each new
message is fetched with BODY.PEEK[] in batches (RFC 9051 §6.4.5: \\Seen stays as it is, the remote is
only read). In delete mode the messages stored here (their records committed) are marked at the end
with ``UID STORE +FLAGS.SILENT (\\Deleted)`` and removed with ``UID EXPUNGE`` (RFC 4315 §2.1,
IMAP4rev2), or EXPUNGE when the server has neither. Keys and stale records: ``imap_keys``."""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from itertools import groupby

from pochta.fetch import imap_keys
from pochta.fetch.imap_remote import CommandFailed, ImapRemote, RemoteServer, TlsMode
from pochta.fetch.remote import RemoteMessage
from pochta.proto.imap_client import ListItem

__all__ = ["ImapSource", "connect_imap"]

_STORE_CHUNK = 500  # UIDs per UID STORE / UID EXPUNGE (bounds the command line)


class ImapSource:
    def __init__(self, remote: ImapRemote, folders: Sequence[str]) -> None:
        self.remote = remote
        self.peer = remote.peer
        self.problems: list[str] = []  # folders that could not be opened, for the run's report
        self._folders = tuple(folders)
        self._listed: dict[str, imap_keys.ListedFolder] = {}
        self._earlier: dict[str, set[str]] = {}  # folder -> digests fetched under an older UIDVALIDITY
        self._deletions: dict[str, list[int]] = {}
        self._delimiter: str | None = None

    async def _read_delimiter(self) -> None:
        # RFC 9051 §6.3.9: LIST "" "" answers the hierarchy delimiter (and the root name).
        untagged, _ = await self.remote.command("LIST", "", "")
        for response in untagged:
            if isinstance(response, ListItem) and response.delimiter:
                self._delimiter = response.delimiter

    async def messages(self) -> list[RemoteMessage]:
        found: list[RemoteMessage] = []
        if any(name != "INBOX" for name in self._folders):
            await self._read_delimiter()
        for name in self._folders:
            try:
                # RFC 9051 §6.3.3: EXAMINE, read-only: listing and fetching change nothing there.
                state = await self.remote.select(name, read_only=True)
            except CommandFailed as exc:
                # A folder deleted or renamed there: the others are still fetched; its records stay.
                self.problems.append(f"folder {name!r} cannot be opened: {exc}")
                continue
            listing = await self.remote.listing(flags=True)
            self._listed[name] = imap_keys.ListedFolder(
                name, state.uidvalidity, frozenset(uid for uid, _, _ in listing)
            )
            found.extend(
                RemoteMessage(imap_keys.message_key(name, state.uidvalidity, uid), size, uid, name, flags)
                for uid, size, flags in listing
            )
        return found

    async def _open(self, folder: str, *, write: bool = False) -> None:
        selected = self.remote.selected
        if selected is None or selected.name != folder or (write and selected.read_only):
            await self.remote.select(folder, read_only=not write)

    async def retrieve(self, messages: Sequence[RemoteMessage]) -> AsyncIterator[tuple[RemoteMessage, bytes]]:
        """Folder by folder, in UID batches of ``batch_messages`` and at most ``batch_octets`` (by the
        listed sizes); a message expunged there since the listing is left out."""
        server = self.remote.server
        for folder, group in groupby(messages, key=lambda m: m.folder):
            await self._open(folder)
            pending = deque(group)
            while pending:
                batch = [pending.popleft()]
                octets = batch[0].size
                while (
                    pending
                    and len(batch) < server.batch_messages
                    and octets + pending[0].size <= server.batch_octets
                ):
                    octets += pending[0].size
                    batch.append(pending.popleft())
                fetched = {m.uid: m.data for m in await self.remote.fetch([m.number for m in batch])}
                for message in batch:
                    data = fetched.get(message.number)
                    if data is not None:
                        yield message, data

    async def delete(self, message: RemoteMessage) -> None:
        self._deletions.setdefault(message.folder, []).append(message.number)

    def local_folder(self, message: RemoteMessage, base: str | None) -> str | None:
        return imap_keys.local_folder(message.folder, self._delimiter, base)

    def record_keys(self, message: RemoteMessage, data: bytes) -> tuple[str, ...]:
        listed = self._listed[message.folder]
        return (message.key, imap_keys.content_key(message.folder, listed.uidvalidity, message.number, data))

    def stored_before(self, keys: tuple[str, ...], known: set[str]) -> bool:
        parsed = imap_keys.parse_key(keys[-1])
        if parsed is None or parsed.digest is None:
            return False
        folder = self._listed[parsed.folder]
        if folder.name not in self._earlier:  # the first message of the folder this run
            self._earlier[folder.name] = imap_keys.earlier_digests(known, folder)
        return parsed.digest in self._earlier[folder.name]

    def stale(self, known: set[str]) -> set[str]:
        return imap_keys.stale_keys(known, list(self._listed.values()))

    async def finish(self) -> None:
        """The deletions (of messages whose records are committed), then LOGOUT."""
        expunge_uids = "UIDPLUS" in self.remote.capabilities or "IMAP4REV2" in self.remote.capabilities
        for folder, uids in self._deletions.items():
            await self._open(folder, write=True)
            for start in range(0, len(uids), _STORE_CHUNK):
                chunk = uids[start : start + _STORE_CHUNK]
                await self.remote.uid_store(chunk, "+", ["\\Deleted"])
                if expunge_uids:
                    # RFC 4315 §2.1: only these; a message another client marked \Deleted stays.
                    await self.remote.uid_expunge(chunk)
            if not expunge_uids:
                # RFC 9051 §6.4.3: every \Deleted message of the folder goes (documented).
                await self.remote.command("EXPUNGE")
        self._deletions = {}
        await self.remote.logout()
        await self.remote.close()

    async def close(self) -> None:
        await self.remote.close()


async def connect_imap(
    host: str,
    port: int,
    tls: str,
    login: str,
    password: str,
    folders: Sequence[str],
    *,
    context: ssl.SSLContext,
    connect_timeout: float,
    command_timeout: float,
    max_message_size: int,
) -> ImapSource:
    """A logged-in session, or FetchError (``RemoteError``, ``AuthFailed``) with the kind of failure."""
    server = RemoteServer(
        host,
        port,
        TlsMode(tls),
        timeout=command_timeout,
        connect_timeout=connect_timeout,
        max_literal=max_message_size,
        context=context,
    )
    remote = await ImapRemote.connect(server)
    try:
        await remote.login(login, password)
    except BaseException:
        await remote.close()
        raise
    return ImapSource(remote, folders)
