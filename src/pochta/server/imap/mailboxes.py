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

from pochta.mail.errors import Code as OpsCode
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, Status, Tagged, objectid
from pochta.proto.imap.args import MailboxArgs, Rename
from pochta.proto.imap.responses import Code, Namespace, NamespaceDescr, Untagged
from pochta.server.imap.session import Session
from pochta.store.model import HIERARCHY_SEPARATOR

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
    info = await session.services.ops.create(session.account_id, name, use[0] if use else None)
    # RFC 8474 §4.1: the tagged OK of every successful CREATE carries the new mailbox's MAILBOXID.
    mailboxid = Code.mailboxid(objectid.objectid(objectid.MAILBOX, info.id))
    return Tagged(command.tag, Status.OK, f"{command.name} completed", code=mailboxid)


async def delete(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    name = session.mailbox_name(args.mailbox)
    ops = session.services.ops
    selected = session.selected
    target = await ops.lookup(session.account_id, name) if selected is not None else None
    await ops.delete(session.account_id, name)
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
    await session.services.ops.rename(session.account_id, old, new)
    return _ok(command)


async def subscribe(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    await session.services.ops.subscribe(session.account_id, session.mailbox_name(args.mailbox))
    return _ok(command)


async def unsubscribe(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    await session.services.ops.unsubscribe(session.account_id, session.mailbox_name(args.mailbox))
    return _ok(command)


async def namespace(session: Session, command: Command) -> Tagged:
    # RFC 2342 §5 / RFC 9051 §6.3.10: one personal namespace with prefix "" and "/"; no shared or
    # other users' namespaces.
    session.send(Namespace(personal=(NamespaceDescr("", HIERARCHY_SEPARATOR),)))
    return _ok(command)
