"""The JMAP Mailbox object (RFC 8621 section 2), pure: a Mailbox from an IMAP mailbox (its name in
the hierarchy, its special use, its counts and the user's rights), and the rules of Mailbox/set's
properties. The filter and sort of Mailbox/query are ``mailbox_query``'s.

- name: the last level of the IMAP name (levels are separated by ``/``, ``pochta.mail.names``);
  parentId: the mailbox of the name above (IMAP CREATE makes every superior a real mailbox, so it
  exists). INBOX's children are INBOX's children here too.
- role: RFC 8621 section 2 takes the names of the IANA "IMAP Mailbox Name Attributes" registry in
  lower case: "inbox" for INBOX, else the special use (RFC 6154, RFC 8457 \\Important) lower-cased
  without its backslash.
- sortOrder: the number the client set (revision 0042's ``mailboxes.sort_order``), 0 until then.
- myRights: RFC 8621 section 2's mapping from IMAP ACL rights (RFC 4314), ``my_rights``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_PROPERTIES",
    "IMMUTABLE_SERVER_SET",
    "INBOX",
    "SEPARATOR",
    "MailboxRecord",
    "leaf_name",
    "mailbox_object",
    "my_rights",
    "parent_name",
    "role_of",
    "special_use_of",
]

INBOX = "INBOX"
SEPARATOR = "/"

# RFC 8621 section 2: every property of a Mailbox, in the RFC's order.
DEFAULT_PROPERTIES = (
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
)
# RFC 8621 section 2: these are server-set (a create or update may not give other values).
IMMUTABLE_SERVER_SET = frozenset(
    {"id", "totalEmails", "unreadEmails", "totalThreads", "unreadThreads", "myRights"}
)

# RFC 8621 section 2 role -> RFC 6154 special-use attribute (the IANA registry's names).
_SPECIAL_USES = {
    "all": "\\All",
    "archive": "\\Archive",
    "drafts": "\\Drafts",
    "flagged": "\\Flagged",
    "important": "\\Important",
    "junk": "\\Junk",
    "sent": "\\Sent",
    "trash": "\\Trash",
}
_ROLES = {use.lower(): role for role, use in _SPECIAL_USES.items()}


def leaf_name(name: str) -> str:
    return name.rpartition(SEPARATOR)[2]


def parent_name(name: str) -> str | None:
    parent, separator, _ = name.rpartition(SEPARATOR)
    return parent if separator else None


def role_of(name: str, special_use: str | None) -> str | None:
    if name == INBOX:
        return "inbox"
    if special_use is None:
        return None
    return _ROLES.get(special_use.lower(), special_use.lstrip("\\").lower())


def special_use_of(role: str) -> str | None:
    """The special use a role is kept as; None for a role that has none ("inbox", or unknown)."""
    return _SPECIAL_USES.get(role)


# RFC 8621 section 2 myRights: each property and the IMAP rights it needs (all of them).
_RIGHTS = {
    "mayReadItems": "lr",
    "mayAddItems": "i",
    "mayRemoveItems": "te",
    "maySetSeen": "s",
    "maySetKeywords": "w",
    "mayCreateChild": "k",
    "mayRename": "x",
    "mayDelete": "x",
}


def my_rights(rights: Iterable[str], *, may_submit: bool) -> dict[str, bool]:
    """RFC 8621 section 2 MailboxRights from RFC 4314 rights. ``maySubmit`` has no IMAP right:
    the account's owner may submit as it (the caller knows)."""
    held = frozenset(rights)
    found = {name: all(letter in held for letter in needed) for name, needed in _RIGHTS.items()}
    found["maySubmit"] = may_submit
    return found


@dataclass(frozen=True)
class MailboxRecord:
    """What a Mailbox is made of; ``parent_id`` is already a Mailbox id."""

    id: str
    name: str  # the full IMAP name
    parent_id: str | None
    special_use: str | None
    subscribed: bool
    rights: frozenset[str]
    may_submit: bool
    total_emails: int = 0
    unread_emails: int = 0
    total_threads: int = 0
    unread_threads: int = 0
    sort_order: int = 0

    @property
    def role(self) -> str | None:
        return role_of(self.name, self.special_use)


def mailbox_object(record: MailboxRecord, properties: Iterable[str] | None = None) -> dict[str, Any]:
    """The Mailbox with ``properties`` (None: all; "id" always, RFC 8620 section 5.1)."""
    everything: Mapping[str, Any] = {
        "id": record.id,
        "name": leaf_name(record.name),
        "parentId": record.parent_id,
        "role": record.role,
        "sortOrder": record.sort_order,
        "totalEmails": record.total_emails,
        "unreadEmails": record.unread_emails,
        "totalThreads": record.total_threads,
        "unreadThreads": record.unread_threads,
        "myRights": my_rights(record.rights, may_submit=record.may_submit),
        "isSubscribed": record.subscribed,
    }
    wanted = DEFAULT_PROPERTIES if properties is None else ("id", *properties)
    return {name: everything[name] for name in dict.fromkeys(wanted)}
