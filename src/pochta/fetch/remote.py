"""What the fetcher asks of a remote mailbox, whatever the protocol: the messages there (a key that
never changes and a size), one message's bytes, deleting one, which records a stored message
leaves, which records are stale, and the errors a user can act on.

POP3 (``pop3_remote``) and IMAP (``imap_source``) implement it. Part of the fetcher (docs/fetch.md)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = ["ErrorKind", "FetchError", "RemoteMessage", "RemoteSource", "client_tls_context"]

# The kinds of error a run reports. The first three are the user's to fix (a message tells them once,
# docs/fetch.md "Errors"); the others are the remote's or the network's and pass with retries.
ErrorKind = Literal["auth", "certificate", "unreachable", "tls", "protocol", "timeout", "remote", "local"]
ACTIONABLE: frozenset[str] = frozenset({"auth", "certificate", "unreachable", "tls"})


class FetchError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


@dataclass(frozen=True)
class RemoteMessage:
    # What fetched_messages records: "uidl:<UIDL>" (or "top:<digest>" without UIDL) for POP3,
    # "imap:<folder>:<UIDVALIDITY>:<UID>" for IMAP (pochta.fetch.imap_keys).
    key: str
    size: int
    number: int  # the protocol's handle for it in this session (the POP3 message number, the IMAP UID)
    folder: str = ""  # IMAP: the remote folder it is in
    flags: frozenset[str] = frozenset()  # IMAP: its flags there when listed (for --mirror-flags)


class RemoteSource(Protocol):
    peer: str  # the remote's address as connected ("[192.0.2.1]")
    problems: list[str]  # what the listing could not read (an IMAP folder that does not open)

    async def messages(self) -> list[RemoteMessage]:
        """Every message of the remote mailbox, oldest first."""

    def retrieve(self, messages: Sequence[RemoteMessage]) -> AsyncIterator[tuple[RemoteMessage, bytes]]:
        """Each message's bytes, in order (a protocol may ask for the next ones ahead)."""

    async def delete(self, message: RemoteMessage) -> None:
        """Mark it for deletion; ``finish`` makes the deletions happen."""

    def local_folder(self, message: RemoteMessage, base: str | None) -> str | None:
        """Where the message is filed here (None: INBOX); ``base`` is the account's ``--folder``."""

    def record_keys(self, message: RemoteMessage, data: bytes) -> tuple[str, ...]:
        """The records a stored message leaves: its key first (IMAP adds its content digest)."""

    def stored_before(self, keys: tuple[str, ...], known: set[str]) -> bool:
        """Whether the message is here already under another key (IMAP: the same bytes, fetched
        from the folder before its UIDVALIDITY changed)."""

    def stale(self, known: set[str]) -> set[str]:
        """The records (of ``known``, as it is after the run) that serve nothing any more: their
        messages are gone from the remote."""

    async def finish(self) -> None:
        """End the session cleanly (POP3 QUIT: the marked messages are deleted now)."""

    async def close(self) -> None:
        """Drop the connection (nothing marked is deleted when ``finish`` was not called)."""


def client_tls_context(ca_file: str, data_dir: Path) -> ssl.SSLContext:
    """Certificates verified, host names checked: the system's store, or ``fetch.ca_file``."""
    context = ssl.create_default_context()
    if ca_file:
        path = Path(ca_file)
        context = ssl.create_default_context(cafile=str(path if path.is_absolute() else data_dir / path))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
