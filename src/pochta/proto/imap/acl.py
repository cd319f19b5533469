"""Arguments of the ACL commands (RFC 4314 §3, grammar §7): SETACL, DELETEACL, GETACL, LISTRIGHTS,
MYRIGHTS.

Mailbox names, identifiers and rights stay the octets the client sent (each an astring); what they
mean (an unknown right is a BAD, RFC 4314 §3.1) is the handler's, with ``pochta.mail.acl``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.imap import wire
from pochta.proto.imap.wire import Cursor


def _a(data: bytes) -> bytes:
    return wire.astring(data, utf8=True)


@dataclass(frozen=True)
class AclArgs:
    """``mailbox`` for GETACL and MYRIGHTS; ``identifier`` too for DELETEACL and LISTRIGHTS;
    ``rights`` (mod-rights) too for SETACL."""

    mailbox: bytes
    identifier: bytes | None = None
    rights: bytes | None = None

    def encode(self) -> bytes:
        parts = [self.mailbox, self.identifier, self.rights]
        return b"".join(b" " + _a(part) for part in parts if part is not None)


def parse_setacl(cur: Cursor, max_depth: int) -> AclArgs:
    # RFC 4314 §7: setacl = "SETACL" SP mailbox SP identifier SP mod-rights
    mailbox, identifier = _mailbox_identifier(cur)
    cur.sp()
    return AclArgs(mailbox, identifier, cur.astring())  # mod-rights = astring


def parse_deleteacl(cur: Cursor, max_depth: int) -> AclArgs:
    # RFC 4314 §7: deleteacl = "DELETEACL" SP mailbox SP identifier
    return AclArgs(*_mailbox_identifier(cur))


def parse_listrights(cur: Cursor, max_depth: int) -> AclArgs:
    # RFC 4314 §7: listrights = "LISTRIGHTS" SP mailbox SP identifier
    return AclArgs(*_mailbox_identifier(cur))


def parse_mailbox_only(cur: Cursor, max_depth: int) -> AclArgs:
    # RFC 4314 §7: getacl = "GETACL" SP mailbox; myrights = "MYRIGHTS" SP mailbox
    cur.sp()
    return AclArgs(cur.astring())


def _mailbox_identifier(cur: Cursor) -> tuple[bytes, bytes]:
    cur.sp()
    mailbox = cur.astring()
    cur.sp()
    return mailbox, cur.astring()  # identifier = astring
