"""GETMETADATA and SETMETADATA (RFC 5464 §4.2, §4.3) over ``pochta.mail.metadata`` and the store.

- GETMETADATA answers one METADATA response with the entries found (none: no response), with
  ``[METADATA LONGENTRIES n]`` on the tagged OK when MAXSIZE left some out (§4.2.1).
- SETMETADATA changes every entry given or none (§4.3): a read-only entry is ``NO [CANNOT]``, a
  server /shared/ entry set by a user who is no administrator ``NO [NOPERM]``, as is a mailbox's
  /shared/imapsieve/script (RFC 6785) set by another user than its owner, a value or a count
  over a limit ``NO [METADATA MAXSIZE n]`` / ``NO [METADATA TOOMANY]`` (the store checks inside its
  write), each with nothing changed. No METADATA response is sent for it (§4.3: SHOULD NOT).
- No unsolicited METADATA responses (§4.1 ties them to ENABLE METADATA, which is not offered); a
  change is published on the change feed (``ChangeKind.METADATA``) for NOTIFY to use.
"""

from __future__ import annotations

from pochta.mail import metadata as rules
from pochta.mail.errors import Code as OpsCode
from pochta.mail.errors import OpsError
from pochta.proto.imap import Code, Command, Status, Tagged
from pochta.proto.imap.metadata import GetMetadata, SetMetadata
from pochta.proto.imap.responses import Metadata
from pochta.server.imap.notify import own_metadata
from pochta.server.imap.session import Session
from pochta.sieve.imapsieve import SCRIPT_ENTRY
from pochta.store.api import MetadataRefused, NotFound
from pochta.store.model import MailboxInfo

__all__ = ["getmetadata", "setmetadata"]


async def _mailbox(session: Session, raw: bytes) -> tuple[MailboxInfo, str] | None:
    """The mailbox a METADATA command names and its name as the user writes it, or None for ``""``:
    the server (RFC 5464 §4.1)."""
    if raw == b"":
        return None
    # Another user's mailbox by its "Other Users/" name, as ACL (RFC 4314) allows; NONEXISTENT
    # when the user holds no right there (§6).
    located = await session.locate(raw)
    info = located.mailbox or await session.services.ops.lookup(session.account_id, located.name)
    if not rules.can_access_metadata(located.rights):
        # RFC 5464 §3.3: "the server MUST respond with a NO response".
        raise OpsError(OpsCode.NOPERM, "No access to this mailbox's annotations")
    return info, located.shown if located.mailbox is not None else info.name


async def getmetadata(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, GetMetadata)
    target = await _mailbox(session, args.mailbox)
    mailbox, shown = (None, "") if target is None else target
    store = session.services.store
    values = await store.metadata(None if mailbox is None else mailbox.id, session.account_id)
    values.update(rules.computed_entries(session.services.settings, mailbox))
    found, longest = rules.select_entries(values, args.entries, args.depth, args.maxsize)
    if found:
        session.send(Metadata(shown, found))
    # RFC 5464 §4.2.1: the size of the biggest value left out by MAXSIZE.
    code = None if longest is None else Code("METADATA", b"LONGENTRIES %d" % longest)
    return Tagged(command.tag, Status.OK, "GETMETADATA completed", code=code)


async def setmetadata(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SetMetadata)
    target = await _mailbox(session, args.mailbox)
    mailbox = None if target is None else target[0]
    store = session.services.store
    server = mailbox is None
    for name, _value in args.values:
        if rules.read_only(name, server):
            raise OpsError(OpsCode.CANNOT, f"The {name} entry cannot be changed")
    foreign = mailbox is not None and mailbox.account_id != session.account_id
    if foreign and any(name == SCRIPT_ENTRY for name, _ in args.values):
        # RFC 6785 §2.3.1: the entry names a script of the mailbox's owner, which runs on every
        # event there; RFC 5464 §3.3 lets a server restrict it: the owner alone sets it.
        raise OpsError(OpsCode.NOPERM, "Only the mailbox's owner sets its IMAPSIEVE script")
    if server and any(name.startswith("/shared/") for name, _ in args.values):
        # RFC 5464 §3.3: a server MAY restrict the creation of server annotations (NO).
        account = await store.get_account_by_id(session.account_id)  # afresh: the flag may change
        if account is None or not account.admin:
            raise OpsError(OpsCode.NOPERM, "Only administrators set the server's shared entries")
    limits = rules.limits(session.services.settings)
    try:
        changed = await store.set_metadata(
            None if mailbox is None else mailbox.id, session.account_id, args.values, limits
        )
    except MetadataRefused as refused:
        # RFC 5464 §4.3: NO [METADATA MAXSIZE n] / [METADATA TOOMANY], nothing changed.
        return Tagged(command.tag, Status.NO, refused.reason, code=Code("METADATA", refused.code.encode()))
    except NotFound:
        raise OpsError(OpsCode.NONEXISTENT, "No such mailbox") from None
    own_metadata(session, mailbox, changed)  # RFC 5465 §5: not told to this session
    return Tagged(command.tag, Status.OK, "SETMETADATA completed")
