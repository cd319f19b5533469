"""REPLACE and UID REPLACE (RFC 8508): APPEND a message and remove one of the selected mailbox, as
one action to the client.

- What is appended, and how (flags, date, literal8, APPENDLIMIT, TRYCREATE, OVERQUOTA), is APPEND's
  (``append.new_message``, ``MailOps.append_many``, RFC 8508 §3.4: "extensions that affect APPEND
  affect REPLACE in the same way"); the receiver treats its literal as APPEND's (``Flag.MESSAGE_LITERALS``).
- The message replaced must still be there: a message number past the end is BAD (RFC 9051 §9), a
  UID that names no message NO [NONEXISTENT], a message another session expunged NO [EXPUNGEISSUED];
  nothing is appended then. In an EXAMINEd mailbox: NO [READ-ONLY].
- Two store writes: the APPEND, then the removal of exactly that UID (whatever its flags, RFC 8508
  §3.4: "the EXPUNGE portion ... only applies to the specified message"). Should the message vanish
  between the two (another session expunged it meanwhile), the new message is removed again and the
  answer is NO [EXPUNGEISSUED]: no intermediate state stays (§3.4) and no EXPUNGE was sent.
- Responses (RFC 8508 §4.3): ``* OK [APPENDUID v uid]`` first, then the EXPUNGE of the replaced
  message (its number as the client knows it, RFC 9051 §7.5.1); EXISTS of a replacement into the
  selected mailbox comes with the dispatcher's report before the tagged OK.
"""

from __future__ import annotations

import dataclasses

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import Replace
from pochta.proto.imap.responses import Code, Untagged
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap import catenate
from pochta.server.imap.acl import insertion, refused, storable
from pochta.server.imap.append import new_message
from pochta.server.imap.imapsieve import Event, after_event
from pochta.server.imap.notify import own_messages
from pochta.server.imap.select import catch_up, take_own_additions
from pochta.server.imap.session import Session
from pochta.store.model import ChangeSet

__all__ = ["replace"]


async def replace(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Replace)
    selected = session.selected
    assert selected is not None  # RFC 8508 §3.5: the receiver allows it in the selected state only
    tag = command.tag
    if selected.read_only:
        # RFC 8508 §3.4: it removes a message, which an EXAMINEd mailbox does not permit.
        return Tagged(tag, Status.NO, "Mailbox is read-only (EXAMINE)", code="READ-ONLY")
    # RFC 8508 §3.4 is APPEND + STORE \Deleted + EXPUNGE: "t" and "e" here (RFC 4314 §4).
    no = refused(command, selected, "te", "REPLACE")
    if no is not None:
        return no
    target = SequenceSet.parse(b"*") if args.target is None else SequenceSet.of(args.target)
    uids = selected.resolve(target, uid=command.uid)  # BAD past the last message number
    destination = await insertion(session, args.mailbox, "REPLACE")
    await catch_up(session)  # an expunge elsewhere must be known here first
    if not uids:
        return Tagged(tag, Status.NO, "No message has that UID", code="NONEXISTENT")
    [uid] = uids
    if selected.is_expunged(uid):
        return Tagged(tag, Status.NO, "The message was expunged meanwhile", code="EXPUNGEISSUED")
    try:
        # RFC 8508 §3.4: extensions of APPEND (CATENATE, RFC 4469) apply to REPLACE alike.
        if args.message.catenate:
            await catenate.check_destination(session, destination)
        new = await new_message(session, args.message)
    except catenate.CatenateError as exc:
        return Tagged(tag, Status.NO, exc.text, code=exc.code)
    if not destination.own:
        new = dataclasses.replace(new, flags=storable(destination, new.flags))
    ops = session.services.ops
    mine = selected.owner_id is None and destination.own  # the keywords help within this account only
    known = (selected.name, selected.known_keywords) if mine else None
    [placed] = await ops.append_many(destination.account_id, destination.name, [new], known)
    own_messages(session, placed.mailbox_id, (placed.uid,))  # RFC 5465 §5
    removed = await ops.expunge_uids(selected.mailbox_id, [uid])
    if uid not in removed.expunged:
        # RFC 8508 §3.4: no inconsistent state: the replacement goes again, nothing was announced.
        await ops.expunge_uids(placed.mailbox_id, [placed.uid])
        if removed.changed or removed.expunged:
            selected.absorb(removed)
        return Tagged(tag, Status.NO, "The message was expunged meanwhile", code="EXPUNGEISSUED")
    # RFC 8508 §4.3: APPENDUID in an untagged OK before the EXPUNGE.
    appenduid = Code.appenduid(placed.uidvalidity, SequenceSet.of(placed.uid))
    session.send(Untagged(Status.OK, "Replacement Message ready", code=appenduid))
    if placed.mailbox_id == selected.mailbox_id:
        entry = placed.entry
        take_own_additions(
            session, [None if entry is None else ChangeSet(placed.mailbox_id, entry.modseq, (entry,))]
        )
    for response in selected.apply_own(removed):
        session.send(response)
    # RFC 8508 §3.4: REPLACE is an APPEND (RFC 6785 §2.2.1) followed by an expunge.
    event = Event("APPEND", destination.account_id, placed.mailbox_id, (placed.uid,))
    await after_event(session, event, destination.rights)
    return Tagged(tag, Status.OK, f"{command.spec.name} completed")
