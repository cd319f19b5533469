"""What a Sieve script asks delivery to do (RFC 5228 §2.10, §4; RFC 5429): the interpreter's
result, in script order, with duplicates folded (§2.10.3) and the implicit keep made explicit."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Action", "FileIntoAction", "KeepAction", "RedirectAction", "RejectAction"]


@dataclass(frozen=True)
class KeepAction:
    """Store the message in the user's INBOX (§4.3); ``implicit`` when no action cancelled the
    implicit keep (§2.10.2) or when the script failed."""

    implicit: bool = False
    flags: tuple[str, ...] = ()  # IMAP flags to store it with (RFC 5232)


@dataclass(frozen=True)
class FileIntoAction:
    mailbox: str
    flags: tuple[str, ...] = ()  # IMAP flags to store it with (RFC 5232)


@dataclass(frozen=True)
class RedirectAction:
    address: str


@dataclass(frozen=True)
class RejectAction:
    """Refuse the message (RFC 5429): ``extended`` (ereject) prefers a protocol-level refusal."""

    reason: str
    extended: bool


Action = KeepAction | FileIntoAction | RedirectAction | RejectAction
