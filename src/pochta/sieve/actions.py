"""What a Sieve script asks delivery to do (RFC 5228 §2.10, §4; RFC 5429): the interpreter's
result, in script order, with duplicates folded (§2.10.3) and the implicit keep made explicit."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Action",
    "DuplicateRecord",
    "Fcc",
    "FileIntoAction",
    "KeepAction",
    "NotifyAction",
    "RedirectAction",
    "RejectAction",
    "VacationAction",
]


@dataclass(frozen=True)
class Fcc:
    """RFC 8580: where a copy of a message the script sends is stored (with its flags, created
    when missing with ``create``, or into the mailbox holding ``special_use`` when one does)."""

    mailbox: str
    flags: tuple[str, ...] = ()
    create: bool = False
    special_use: str | None = None


@dataclass(frozen=True)
class KeepAction:
    """Store the message in the user's INBOX (§4.3); ``implicit`` when no action cancelled the
    implicit keep (§2.10.2) or when the script failed."""

    implicit: bool = False
    flags: tuple[str, ...] = ()  # IMAP flags to store it with (RFC 5232)
    message: bytes | None = None  # the message as editheader left it (RFC 5293 §7); None: as it came


@dataclass(frozen=True)
class FileIntoAction:
    mailbox: str
    flags: tuple[str, ...] = ()  # IMAP flags to store it with (RFC 5232)
    create: bool = False  # RFC 5490 §3.2: create the mailbox when missing (failing is an error)
    # RFC 8579 §4: file into the mailbox with this attribute when there is one (``mailbox`` is
    # then already that one); with ``create``, a mailbox created may be given the attribute.
    special_use: str | None = None
    message: bytes | None = None  # the message as editheader left it (RFC 5293 §7); None: as it came


@dataclass(frozen=True)
class RedirectAction:
    address: str
    message: bytes | None = None  # the message as editheader left it (RFC 5293 §7); None: as it came


@dataclass(frozen=True)
class RejectAction:
    """Refuse the message (RFC 5429): ``extended`` (ereject) prefers a protocol-level refusal."""

    reason: str
    extended: bool


@dataclass(frozen=True)
class VacationAction:
    """Send an auto-reply (RFC 5230) unless one with the same ``tracking`` went to ``recipient``
    within ``period`` seconds (§4.2; delivery keeps that record). Everything the reply needs is
    here: ``subject`` already defaulted (§5.3), ``sender`` the :from when it was a valid address
    (§4.3; None: the user's address, §5.4), ``in_reply_to``/``references`` from the original
    (§5.8), ``reason`` a UTF-8 text or, with ``mime``, a MIME entity (§4.4)."""

    recipient: str
    tracking: str
    period: int
    subject: str
    sender: str | None
    reason: str
    mime: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    fcc: Fcc | None = None  # RFC 8580
    to: str = ""  # §5.5: the To field, the recipient with its display name; "": ``recipient``
    envelope_sender: str = ""  # §5.1: the null reverse-path, unless configured otherwise


@dataclass(frozen=True)
class NotifyAction:
    """A notification by mail (RFC 5435, RFC 5436 §2.7), composed: the envelope sender ("" when the
    triggering message had the null sender, so no loop can start), From, the recipients, the
    subject and body, the URI's other header fields, the importance (1 high .. 3 low). Delivery
    adds Auto-Submitted: auto-notified with the owner's address, Date and Message-ID."""

    method: str
    envelope_sender: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str | None
    headers: tuple[tuple[str, str], ...]
    importance: int
    options: tuple[str, ...] = ()
    fcc: Fcc | None = None  # RFC 8580
    # §2.7: the To and Cc fields, the URI's addresses as written (display names kept), those
    # already notified in the run left out; empty To: the recipients.
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class DuplicateRecord:
    """RFC 7352 §3: put ``key`` in the tracking list when the run's actions were carried out
    (first sight: expiring ``seconds`` later; with ``last``, each sight moves the expiry)."""

    key: str
    seconds: int
    last: bool


Action = KeepAction | FileIntoAction | RedirectAction | RejectAction | VacationAction | NotifyAction
