"""Mailbox/set's records (RFC 8621 section 2.5), pure: a create's properties, or an update's
patched Mailbox, checked and turned into what the server writes (``MailboxWish``).

pochta keeps what IMAP keeps: the name (the last level; its parent gives the rest), the
subscription and a special use given at creation, and JMAP's sortOrder (revision 0042). A role is
given at creation only (IMAP CREATE's USE, RFC 6154 section 5.3; pochta's METADATA
refuses to change a special use too): each of these is ``invalidProperties``, as RFC 8620 section
5.3 answers a value the server cannot set."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.creation import is_id_or_reference
from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.ids import is_unsigned_int
from pochta.proto.jmap.mail.mailbox import DEFAULT_PROPERTIES, IMMUTABLE_SERVER_SET, SEPARATOR, special_use_of

__all__ = ["MailboxWish", "create_wish", "update_wish"]

# RFC 6154 special uses pochta can give a real mailbox (``pochta.mail.ops``: \All and \Flagged
# would be virtual mailboxes, which pochta does not have).
_CREATABLE_ROLES = frozenset({"archive", "drafts", "important", "junk", "sent", "trash"})


@dataclass(frozen=True)
class MailboxWish:
    """A Mailbox as the client wants it: its name's last level, its parent (an id, a
    ``#creationId`` or None), its role, subscription and sortOrder."""

    name: str
    parent_id: str | None
    role: str | None
    subscribed: bool
    sort_order: int = 0


def _invalid(properties: list[str], description: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, tuple(sorted(properties))))


def _check_name(value: Any) -> str:
    # RFC 8621 section 2: name is a non-empty String; servers MAY refuse names "containing a slash
    # (/) or control characters" (the slash is pochta's hierarchy separator).
    if not isinstance(value, str) or not value:
        raise _invalid(["name"], "name must be a non-empty String")
    if SEPARATOR in value:
        raise _invalid(["name"], f"name may not contain {SEPARATOR!r}, the hierarchy separator")
    if any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in value):
        raise _invalid(["name"], "name may not contain control characters")
    return unicodedata.normalize("NFC", value)


def _check(record: Mapping[str, Any]) -> MailboxWish:
    unknown = [name for name in record if name not in DEFAULT_PROPERTIES]
    if unknown:
        raise _invalid(unknown, "unknown Mailbox properties")
    name = _check_name(record.get("name"))
    parent = record.get("parentId")
    if parent is not None and not is_id_or_reference(parent):
        raise _invalid(["parentId"], "parentId must be an Id or null")
    role = record.get("role")
    if role is not None and not isinstance(role, str):
        raise _invalid(["role"], "role must be a String or null")
    subscribed = record.get("isSubscribed", False)
    if not isinstance(subscribed, bool):
        raise _invalid(["isSubscribed"], "isSubscribed must be a Boolean")
    sort_order = record.get("sortOrder", 0)
    if not is_unsigned_int(sort_order):
        # RFC 8621 section 2: sortOrder is an UnsignedInt.
        raise _invalid(["sortOrder"], "sortOrder must be an UnsignedInt")
    return MailboxWish(name, parent, role, subscribed, int(sort_order))


def create_wish(record: Mapping[str, Any]) -> MailboxWish:
    """A create's Mailbox; SetFailure(invalidProperties) for what cannot be created."""
    given = [name for name in record if name in IMMUTABLE_SERVER_SET]
    if given:
        # RFC 8620 section 5.3: server-set properties may not be given in a create.
        raise _invalid(given, "server-set properties")
    wish = _check(record)
    if wish.role is not None and wish.role not in _CREATABLE_ROLES:
        # "inbox" is INBOX's alone; "all" and "flagged" need virtual mailboxes.
        raise _invalid(["role"], f"a Mailbox cannot be created with role {wish.role!r}")
    assert wish.role is None or special_use_of(wish.role) is not None
    return wish


def update_wish(current: Mapping[str, Any], patched: Mapping[str, Any]) -> MailboxWish:
    """An update's Mailbox (``patched``: the current Mailbox with the PatchObject applied)."""
    changed = [
        name for name in IMMUTABLE_SERVER_SET if name in patched and patched[name] != current.get(name)
    ]
    if changed:
        raise _invalid(changed, "server-set properties cannot be changed")
    wish = _check(patched)
    if wish.role != current.get("role"):
        raise _invalid(["role"], "a role is given when a Mailbox is created, and not changed")
    return wish
