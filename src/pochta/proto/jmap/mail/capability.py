"""The Mail capability object (RFC 8621 section 1.3.1), pure: what an account's
``accountCapabilities["urn:ietf:params:jmap:mail"]`` tells a client of the limits it will meet.

Each value is derived from the setting that enforces it (the caller passes them in), so the
Session never promises a limit the methods do not keep: the mailbox name and depth limits are
IMAP's (Mailbox/set creates and renames through IMAP's operations), the attachment size follows
from the largest message accepted, and the sort options are those Email/query parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.mail.query import SORT_OPTIONS

__all__ = ["MailCapability", "attachments_within"]

# RFC 2045 section 6.8: base64 turns each 57 octets into a line of 76 characters and its CRLF.
_BASE64_IN, _BASE64_OUT = 57, 78


def attachments_within(max_message_size: int) -> int:
    """The decoded attachment octets whose base64 form still fits in a message of
    ``max_message_size`` octets (RFC 8621 section 1.3.1's maxSizeAttachmentsPerEmail is of the
    attachments' decoded size, while the message limit counts their encoded form; the header
    and the other parts take some more, which the RFC lets a server refuse)."""
    lines, rest = divmod(max_message_size, _BASE64_OUT)
    # A last, shorter line: whole groups of 4 characters (3 octets) before its CRLF.
    return lines * _BASE64_IN + max(rest - 2, 0) // 4 * 3


@dataclass(frozen=True)
class MailCapability:
    """An account's ``urn:ietf:params:jmap:mail`` object (RFC 8621 section 1.3.1)."""

    max_mailboxes_per_email: int | None  # None: no limit
    max_mailbox_depth: int | None  # levels: one more than the most ancestors a Mailbox may have
    max_size_mailbox_name: int  # UTF-8 octets; the RFC asks for at least 100
    max_size_attachments_per_email: int
    may_create_top_level_mailbox: bool
    email_query_sort_options: tuple[str, ...] = SORT_OPTIONS

    def to_json(self) -> dict[str, Any]:
        return {
            "maxMailboxesPerEmail": self.max_mailboxes_per_email,
            "maxMailboxDepth": self.max_mailbox_depth,
            "maxSizeMailboxName": self.max_size_mailbox_name,
            "maxSizeAttachmentsPerEmail": self.max_size_attachments_per_email,
            "emailQuerySortOptions": list(self.email_query_sort_options),
            "mayCreateTopLevelMailbox": self.may_create_top_level_mailbox,
        }
