"""SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC 4314 §3), and the rights of the selected
mailbox read again before each command (``refresh``).

What the rights are and how they combine is ``pochta.mail.acl``'s; where a name leads and the rule
of no leak is ``pochta.mail.access``'s. Here:

- GETACL, SETACL, DELETEACL and LISTRIGHTS need "a"; MYRIGHTS any of "lrikxa" (RFC 4314 §4). A user
  without "l" who lacks the right is told the mailbox does not exist (§6).
- Identifiers are ``anyone`` or the address of an account (a negative entry ``-`` + either);
  another identifier is NO, an unknown right or an empty identifier BAD (§3.1). The owner's entry
  is implicit (every right, always): GETACL lists it, SETACL/DELETEACL of it are NO [CANNOT].
- A SETACL that leaves no right deletes the entry. ACL, MYRIGHTS and LISTRIGHTS write ``c`` and
  ``d`` after their members (§2.1.1).
- ``refresh``: when the selected mailbox is another user's, the rights are read before every
  command, so a change made by any session of any worker counts at once; FLAGS and PERMANENTFLAGS
  are sent again when they change (§5.1.1 SHOULD), and a session that lost "r" is closed with
  ``BYE`` (§5.1.1 MAY), the clear answer for a client whose mailbox went away.
"""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mail import acl
from pochta.mail.access import Located
from pochta.mail.errors import Code, OpsError
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.acl import AclArgs
from pochta.proto.imap.responses import Acl, Bye, ListRights, MyRights
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap.select import announce_rights
from pochta.server.imap.session import Session
from pochta.store.model import MailboxId, MessageEntry

__all__ = [
    "deleteacl",
    "getacl",
    "insertion",
    "listrights",
    "myrights",
    "refresh",
    "refused",
    "setacl",
    "storable",
]

_MYRIGHTS_NEEDS = frozenset("lrikxa")  # RFC 4314 §4: MYRIGHTS needs any one of them


async def _mailbox_id(session: Session, located: Located) -> MailboxId:
    if located.mailbox is not None:
        return located.mailbox.id
    return (await session.services.ops.lookup(located.account_id, located.name)).id


def _identifier(command: Command, raw: bytes | None) -> str | Tagged:
    """The identifier's key, or the BAD for one that cannot be (RFC 4314 §3: SASLprep'd strings)."""
    assert raw is not None  # the parser requires it for these commands
    try:
        return acl.identifier_key(raw.decode("utf-8"))
    except (UnicodeDecodeError, acl.RightsError) as exc:
        return Tagged(command.tag, Status.BAD, f"Invalid identifier: {exc}")


async def getacl(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, AclArgs)
    located = await session.locate(args.mailbox)
    located.require("a", "GETACL")  # RFC 4314 §4
    owner = None if located.public else located.owner  # a public mailbox has no user for an owner
    listed = await session.services.ops.access.entries(await _mailbox_id(session, located), owner)
    session.send(Acl(located.shown, listed))
    return Tagged(command.tag, Status.OK, "GETACL completed")


async def setacl(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, AclArgs)
    assert args.rights is not None  # the parser requires it for SETACL
    key = _identifier(command, args.identifier)
    if isinstance(key, Tagged):
        return key
    try:
        # RFC 4314 §3.1: "an unrecognized right MUST cause the command to return the BAD response".
        op, rights = acl.parse_change(args.rights.decode("ascii"))
    except (UnicodeDecodeError, acl.RightsError) as exc:
        return Tagged(command.tag, Status.BAD, f"Invalid rights: {exc}")
    located = await session.locate(args.mailbox)
    located.require("a", "SETACL")
    await session.services.ops.access.change(
        await _mailbox_id(session, located), located.owner, key, op, rights
    )
    return Tagged(command.tag, Status.OK, "SETACL completed")


async def deleteacl(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, AclArgs)
    key = _identifier(command, args.identifier)
    if isinstance(key, Tagged):
        return key
    located = await session.locate(args.mailbox)
    located.require("a", "DELETEACL")
    await session.services.ops.access.delete(await _mailbox_id(session, located), located.owner, key)
    return Tagged(command.tag, Status.OK, "DELETEACL completed")


async def listrights(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, AclArgs)
    key = _identifier(command, args.identifier)
    if isinstance(key, Tagged):
        return key
    located = await session.locate(args.mailbox)
    located.require("a", "LISTRIGHTS")
    required, optional = acl.listrights(owner=key == located.owner.lower())
    assert args.identifier is not None
    session.send(ListRights(located.shown, args.identifier.decode("utf-8"), required, optional))
    return Tagged(command.tag, Status.OK, "LISTRIGHTS completed")


async def myrights(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, AclArgs)
    located = await session.locate(args.mailbox)
    if not located.rights & _MYRIGHTS_NEEDS:
        raise OpsError(Code.NONEXISTENT, "No such mailbox")  # RFC 4314 §4, §6
    if located.own:
        await session.services.ops.lookup(located.account_id, located.name)  # NONEXISTENT if none
    session.send(MyRights(located.shown, acl.format_rights(located.rights, legacy=True)))
    return Tagged(command.tag, Status.OK, "MYRIGHTS completed")


def refused(
    command: Command, selected: SelectedMailbox[MessageEntry], rights: str, what: str
) -> Tagged | None:
    """NO [NOPERM] when the session lacks one of ``rights`` on its selected mailbox (RFC 4314 §4),
    else None. (It holds "r" there: it could not have selected it, or kept it, otherwise.)"""
    missing = frozenset(rights) - selected.rights
    if not missing:
        return None
    text = f"Permission denied: {what} needs the {acl.format_rights(missing)!r} right"
    return Tagged(command.tag, Status.NO, text, code="NOPERM")


async def insertion(session: Session, raw: bytes, what: str) -> Located:
    """The destination of APPEND, COPY, MOVE or REPLACE, where the user needs "i" (RFC 4314 §4)."""
    located = await session.locate(raw)
    located.require("i", what)
    return located


def storable(located: Located, flags: Iterable[str]) -> tuple[str, ...]:
    """The flags a message may carry into the destination (RFC 4314 §4: the others are dropped, not
    refused)."""
    if located.rights == acl.ALL:
        return tuple(flags)
    return tuple(sorted(acl.storable_flags(located.rights, flags)))


async def refresh(session: Session) -> bool:
    """Read the rights on the selected mailbox again when it is another user's: False (after a BYE)
    when "r" is gone, else True (FLAGS and PERMANENTFLAGS sent again if what may be stored changed)."""
    selected = session.selected
    if selected is None or selected.owner_id is None or session.account is None:
        return True
    rights = await session.services.ops.access.rights_on(
        session.account, selected.mailbox_id, selected.owner_id
    )
    if "r" not in rights:
        # RFC 4314 §5.1.1: "If such server detects that the user no longer has read access to the
        # mailbox, it MAY send an untagged BYE response and close connection."
        session.send(Bye("Access to the selected mailbox was revoked", code="NOPERM"))
        session.logout = True
        await session.unselect()
        return False
    if rights != selected.rights:
        selected.rights = rights
        announce_rights(session)
    return True
