"""COPY, UID COPY (RFC 9051 §6.4.7, §6.4.9), MOVE and UID MOVE (RFC 6851, RFC 9051 §6.4.8).

- What may be copied or moved where (TRYCREATE for a missing destination, OVERQUOTA, flags kept) is
  ``MailOps.copy``/``MailOps.move``'s; the store does each as one commit, so a failed COPY or MOVE
  changes nothing (RFC 9051 §6.4.7: "MUST restore the destination mailbox to its state before the
  COPY attempt"; RFC 6851 §3.3: no message is lost or left in both mailboxes).
- UIDPLUS (RFC 4315 §3): COPY answers ``OK [COPYUID uidvalidity source-uids dest-uids]``. MOVE sends
  the COPYUID in an untagged ``* OK`` *before* its EXPUNGEs (RFC 6851 §4.3), then the EXPUNGE of each
  moved message (``SelectedMailbox.apply_own``: ascending, each number lowered by those sent before,
  RFC 9051 §7.5.1), then a plain tagged OK. Sets that name no message (UID sets, RFC 9051 §6.4.9)
  answer OK without COPYUID: RFC 4315 §3 has no syntax for empty UID sets.
- MOVE by message number sends EXPUNGE too (RFC 6851 §3.3 "the server may send EXPUNGE responses
  before the tagged response"): they are this command's own, and the numbers are the client's current
  ones. Expunges by *other* sessions wait while a MOVE by number runs (the dispatcher's
  ``allow_expunge`` is False for commands using sequence numbers), which keeps the client's numbering
  consistent; the UID forms report them as well.
- A message that another session has expunged but whose EXPUNGE this session has not been told yet
  cannot be copied or moved any more: the command is refused as a whole with ``NO [EXPUNGEISSUED]``
  (RFC 5530 §3) rather than copying part of the set, so that COPY stays all or nothing. The changes
  the feed signalled are absorbed first so that this is known; an expunge committed while the COPY
  itself runs still just leaves that message out (its COPYUID shows which were copied).
- Copying (or moving, RFC 6851 §3.3) into the selected mailbox itself works; the new messages are
  announced with EXISTS before the tagged reply.
- In an EXAMINEd mailbox COPY is allowed (it does not change the source); MOVE is refused with
  ``NO [READ-ONLY]`` since it expunges from the source (RFC 6851 §3.3: MOVE is COPY + STORE \\Deleted +
  UID EXPUNGE, none of which an EXAMINEd mailbox permits, RFC 9051 §6.3.3).
"""

from __future__ import annotations

from pochta.mail import acl
from pochta.mail.access import Located
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import CopyArgs
from pochta.proto.imap.responses import Code, Untagged
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap.acl import insertion, refused
from pochta.server.imap.imapsieve import Event, after_event
from pochta.server.imap.notify import own_messages
from pochta.server.imap.select import catch_up, take_own_additions
from pochta.server.imap.session import Session
from pochta.store.model import ChangeSet, CopyResult, MessageEntry

__all__ = ["copy", "move"]


async def _across(
    session: Session,
    selected: SelectedMailbox[MessageEntry],
    uids: list[int],
    destination: Located,
    *,
    move: bool,
) -> CopyResult:
    """COPY or MOVE from or to another user's mailbox: by mailbox id (the two may be of two
    accounts); the flags the user may not set there are taken off the copies again (RFC 4314 §4:
    "Only when the user has a particular right are the corresponding flags stored")."""
    ops = session.services.ops
    target = destination.mailbox
    if target is None:
        try:
            target = await ops.lookup(destination.account_id, destination.name)
        except OpsError:
            raise ops.missing_destination(destination.name) from None
    flags = {flag for uid in uids if not selected.is_expunged(uid) for flag in selected.flags_of(uid)}
    result = await ops.transfer_between(selected.mailbox_id, uids, target.id, move=move)
    drop = frozenset(flags) - acl.storable_flags(destination.rights, flags)
    if drop and result.destination_uids:
        await ops.store_flags(target.id, result.destination_uids, "remove", sorted(drop))
    return result


def _copyuid(result: CopyResult) -> Code:
    # RFC 4315 §3: destination UIDs are allocated in source UID order, so both sets ascend together.
    source = SequenceSet.of(*result.source_uids)
    return Code.copyuid(result.uidvalidity, source, SequenceSet.of(*result.destination_uids))


async def copy(session: Session, command: Command) -> Tagged:
    return await _transfer(session, command, move=False)


async def move(session: Session, command: Command) -> Tagged:
    return await _transfer(session, command, move=True)


async def _transfer(session: Session, command: Command, *, move: bool) -> Tagged:
    args = command.args
    assert isinstance(args, CopyArgs)
    selected = session.selected
    assert selected is not None  # the receiver allows these commands in the selected state only
    tag = command.tag
    if move and selected.read_only:
        return Tagged(tag, Status.NO, "Mailbox is read-only (EXAMINE)", code="READ-ONLY")
    if move and (no := refused(command, selected, "te", "MOVE")) is not None:
        return no  # RFC 4314 §4 via RFC 6851 §3.3: MOVE is COPY + STORE \Deleted + EXPUNGE
    uids = selected.resolve(args.sequence_set, uid=command.uid)
    destination = await insertion(session, args.mailbox, command.spec.name)
    await catch_up(session)  # expunges elsewhere must be known here first
    if any(selected.is_expunged(uid) for uid in uids):
        # RFC 5530 §3 EXPUNGEISSUED: all or nothing (RFC 9051 §6.4.7), see the module docstring.
        return Tagged(tag, Status.NO, "Some of the messages were expunged meanwhile", code="EXPUNGEISSUED")
    ops = session.services.ops
    if not destination.own or selected.owner_id is not None:
        result = await _across(session, selected, uids, destination, move=move)
    elif move:
        result = await ops.move(session.account_id, selected.mailbox_id, uids, destination.name)
    else:
        result = await ops.copy(session.account_id, selected.mailbox_id, uids, destination.name)
    own_messages(session, result.destination_id, result.destination_uids)  # RFC 5465 §5
    if result.destination_id == selected.mailbox_id and result.source_uids:
        # RFC 9051 §6.4.7/§7.5: announce the new messages (EXISTS) before the tagged reply, without
        # waiting for the feed's wake-up to arrive, from the write's result when it can be.
        take_own_additions(session, [result.added])
    if not result.source_uids:
        return Tagged(tag, Status.OK, f"{command.spec.name} completed, no messages")
    # RFC 6785 §2.2.2: each message copied is an event; MOVE is a COPY into the target (RFC 6851 §3.3).
    event = Event(
        "COPY", destination.account_id, result.destination_id, result.destination_uids, selected.mailbox_id
    )
    await after_event(session, event, destination.rights)
    training = session.services.spam_training
    if training is not None:  # into or out of Junk: teach the spam engine, in the background
        training.after_copy(
            destination.account_id, selected.mailbox_id, result.destination_id, result.destination_uids
        )
    if not move:
        return Tagged(tag, Status.OK, f"{command.spec.name} completed", code=_copyuid(result))
    # RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
    session.send(Untagged(Status.OK, "Moved", code=_copyuid(result)))
    moved = result.removed
    if moved is None:
        moved = ChangeSet(selected.mailbox_id, selected.highestmodseq, expunged=result.source_uids)
    for response in selected.apply_own(moved):  # RFC 6851 §3.3: EXPUNGE for each moved message
        session.send(response)
    return Tagged(tag, Status.OK, f"{command.spec.name} completed")
