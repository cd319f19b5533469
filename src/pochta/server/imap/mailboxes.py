"""CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and NAMESPACE (RFC 9051 §6.3.4-§6.3.8, RFC 2342).

The rules are ``pochta.mail.ops.MailOps``'s (see its docstring); this module only decodes names in
the session's encoding and turns results into responses. ``OpsError`` becomes ``NO [code]`` in the
dispatcher. What MailOps decides, in IMAP terms:

- CREATE: answers OK [MAILBOXID (id)] (RFC 8474 §4.1); missing superiors are created as real
  mailboxes; INBOX or an existing name is NO [ALREADYEXISTS]; wildcards, empty levels, "." / ".."
  are NO [CANNOT]; a trailing "/" is ignored (RFC 9051 §6.3.4). ``USE (\\Sent)`` sets the special
  use (RFC 6154 §3, one attribute).
- DELETE: INBOX is NO [CANNOT]; a mailbox with inferiors is NO [HASCHILDREN], the choice RFC 9051
  §6.3.5 offers besides \\Noselect placeholders, which pochta does not have.
- RENAME: inferiors move along; renaming INBOX moves its messages to the new mailbox and leaves
  INBOX empty (RFC 9051 §6.3.6).
"""

from __future__ import annotations

from pochta.mail.access import OTHER_USERS, SHARED, is_shared_name, prefix_levels
from pochta.mail.errors import Code as OpsCode
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, Status, Tagged, objectid
from pochta.proto.imap.args import MailboxArgs, Rename
from pochta.proto.imap.responses import Code, Namespace, NamespaceDescr, Untagged
from pochta.server.imap.session import Session
from pochta.store.model import HIERARCHY_SEPARATOR, Account, MailboxInfo

SEP = HIERARCHY_SEPARATOR

__all__ = ["create", "delete", "namespace", "rename", "subscribe", "unsubscribe"]


def _ok(command: Command) -> Tagged:
    return Tagged(command.tag, Status.OK, f"{command.name} completed")


async def create(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    for name, _value in args.params:
        if name != "USE":
            return Tagged(command.tag, Status.BAD, f"Unsupported CREATE parameter {name}")  # RFC 4466 §2.2
    use = args.use
    if len(use) > 1:
        raise OpsError(OpsCode.USEATTR, "A mailbox can have one special use here")  # RFC 6154 §3
    name = session.mailbox_name(args.mailbox)
    ops = session.services.ops
    if is_shared_name(name):
        # RFC 4314 §4: CREATE under another user's (or a public) mailbox needs "k" on the nearest
        # existing parent; here the parent itself (the namespace's levels are no mailboxes).
        owner, local = await _parent_with(session, name.rstrip(SEP), "k", "CREATE")
        info = await ops.create(owner, local, use[0] if use else None)
    else:
        info = await ops.create(session.account_id, name, use[0] if use else None)
    await _inherit_acl(session, info)
    # RFC 8474 §4.1: the tagged OK of every successful CREATE carries the new mailbox's MAILBOXID.
    mailboxid = Code.mailboxid(objectid.objectid(objectid.MAILBOX, info.id))
    return Tagged(command.tag, Status.OK, f"{command.name} completed", code=mailboxid)


async def delete(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    located = await session.locate(args.mailbox)
    located.require("x", "DELETE")  # RFC 4314 §4
    ops = session.services.ops
    selected = session.selected
    target = await ops.lookup(located.account_id, located.name) if selected is not None else None
    await ops.delete(located.account_id, located.name)
    if selected is not None and target is not None and target.id == selected.mailbox_id:
        # Deleting the selected mailbox deselects it; RFC 9051 §7.1 CLOSED tells the client so.
        await session.unselect()
        session.send(Untagged(Status.OK, "Selected mailbox deleted", code="CLOSED"))
    return _ok(command)


async def rename(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Rename)
    if args.params:
        return Tagged(command.tag, Status.BAD, f"Unsupported RENAME parameter {args.params[0][0]}")
    old, new = session.mailbox_name(args.old), session.mailbox_name(args.new)
    if not (is_shared_name(old) or is_shared_name(new)):
        await session.services.ops.rename(session.account_id, old, new)
        return _ok(command)
    # RFC 4314 §4: "x" on the mailbox, "k" on the new parent; both in the same owner's account.
    source = await session.locate(args.old)
    source.require("x", "RENAME")
    owner, local = await _parent_with(session, new, "k", "RENAME")
    if owner != source.account_id:
        raise OpsError(OpsCode.CANNOT, "A mailbox can only be renamed within its owner's mailboxes")
    await session.services.ops.rename(owner, source.name, local)
    return _ok(command)


async def _inherit_acl(session: Session, info: MailboxInfo) -> None:
    """RFC 4314 §4: "When a new mailbox is created, it SHOULD inherit the ACL from the parent
    mailbox (if one exists)". One read when there is a parent; a write per entry it has."""
    parent, sep, _leaf = info.name.rpartition(SEP)
    if not sep:
        return
    store = session.services.store
    above = await store.get_mailbox(info.account_id, parent)
    if above is None:
        return
    for identifier, rights in (await store.mailbox_acl(above.id)).items():
        await store.set_mailbox_acl(info.id, identifier, rights)


async def _parent_with(session: Session, name: str, right: str, what: str) -> tuple[int, str]:
    """For a new name below another user's or a public mailbox: its owner and the name there, when
    the user holds ``right`` on the parent (RFC 4314 §4 "k"); CANNOT for a name that has no such
    parent (a new public mailbox at the top is the administrator's: ``pochta shared create``)."""
    parent, sep, leaf = name.rpartition(SEP)
    if not sep or not leaf or parent.count(SEP) < prefix_levels(parent):
        raise OpsError(OpsCode.CANNOT, "Mailboxes of other users are created below one of them")
    located = await session.services.ops.access.locate(_account(session), parent)
    located.require(right, what)
    if located.own:
        raise OpsError(OpsCode.CANNOT, "Mailboxes of other users are created below one of them")
    return located.account_id, located.name + SEP + leaf


def _account(session: Session) -> Account:
    assert session.account is not None  # the receiver allows these commands once authenticated
    return session.account


async def subscribe(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    name = session.mailbox_name(args.mailbox)
    if is_shared_name(name):
        # RFC 4314 §4: "l" when the server checks that the mailbox exists, which it does for the
        # names of other users' mailboxes (any other would leak their existence or be a dead name).
        (await session.locate(args.mailbox)).require("l", "SUBSCRIBE")
    await session.services.ops.subscribe(session.account_id, name)
    return _ok(command)


async def unsubscribe(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    await session.services.ops.unsubscribe(session.account_id, session.mailbox_name(args.mailbox))
    return _ok(command)


async def namespace(session: Session, command: Command) -> Tagged:
    # RFC 2342 §5 / RFC 9051 §6.3.10: one personal namespace with prefix "" and "/", the other
    # users' one and the shared one of the domain's public mailboxes (RFC 2342 §2, ``mail.access``).
    session.send(
        Namespace(
            personal=(NamespaceDescr("", HIERARCHY_SEPARATOR),),
            other=(NamespaceDescr(OTHER_USERS + HIERARCHY_SEPARATOR, HIERARCHY_SEPARATOR),),
            shared=(NamespaceDescr(SHARED + HIERARCHY_SEPARATOR, HIERARCHY_SEPARATOR),),
        )
    )
    return _ok(command)
