"""EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1, RFC 9051 §6.4.9).

Which messages go is ``MailOps.expunge``'s rule (those carrying \\Deleted; for UID EXPUNGE only those
of the given UIDs). The session's own EXPUNGE responses come from ``SelectedMailbox.apply_own``, in
ascending order with each number lowered by those sent before (RFC 9051 §7.5.1; §6.4.3 "3, 3, 5, 8").
Expunges by other sessions follow from the dispatcher's update report (both commands may send
EXPUNGE: neither uses sequence numbers). A message another session already expunged whose EXPUNGE is
still held back is skipped here and reported by that report. In an EXAMINEd mailbox both are
refused with ``NO [READ-ONLY]`` (RFC 9051 §6.3.3: no changes to the mailbox are permitted). With
QRESYNC enabled the expunged messages are one ``VANISHED`` (``apply_own``) and the tagged OK carries
``[HIGHESTMODSEQ n]`` (RFC 7162 §3.2.7, §3.2.9).
"""

from __future__ import annotations

from pochta.proto.imap import Code, Command, Status, Tagged
from pochta.proto.imap.args import SequenceArgs
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap.acl import refused
from pochta.server.imap.session import Session
from pochta.store.model import ChangeSet, MessageEntry

__all__ = ["expunge", "uid_expunge"]


def _writable(session: Session, command: Command) -> tuple[SelectedMailbox[MessageEntry], Tagged | None]:
    selected = session.selected
    assert selected is not None  # the receiver allows these commands in the selected state only
    if selected.read_only:
        # RFC 9051 §6.3.3: an EXAMINEd mailbox cannot be changed.
        return selected, Tagged(command.tag, Status.NO, "Mailbox is read-only (EXAMINE)", code="READ-ONLY")
    return selected, refused(command, selected, "e", "EXPUNGE")  # RFC 4314 §4


async def expunge(session: Session, command: Command) -> Tagged:
    selected, refused = _writable(session, command)
    if refused is not None:
        return refused
    # RFC 9051 §6.4.3: remove every \Deleted message; an untagged EXPUNGE for each.
    changes = await session.services.ops.expunge(selected.mailbox_id)
    for response in selected.apply_own(changes):
        session.send(response)
    return _done(session, command, changes, "EXPUNGE completed")


async def uid_expunge(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SequenceArgs)
    selected, refused = _writable(session, command)
    if refused is not None:
        return refused
    # RFC 4315 §2.1: only the \Deleted messages among the given UIDs; absent UIDs are ignored.
    uids = [uid for uid in selected.resolve(args.sequence_set, uid=True) if not selected.is_expunged(uid)]
    if uids:
        changes = await session.services.ops.expunge(selected.mailbox_id, uids)
        for response in selected.apply_own(changes):
            session.send(response)
        return _done(session, command, changes, "UID EXPUNGE completed")
    return Tagged(command.tag, Status.OK, "UID EXPUNGE completed")


def _done(session: Session, command: Command, changes: ChangeSet, text: str) -> Tagged:
    selected = session.selected
    if session.qresync and changes.expunged and selected is not None:
        # RFC 7162 §3.2.7, §3.2.9: with QRESYNC enabled, the new HIGHESTMODSEQ in the tagged OK when
        # something was expunged (what this session has absorbed, below any expunge not yet told).
        return Tagged(command.tag, Status.OK, text, code=Code.highestmodseq(selected.safe_modseq))
    return Tagged(command.tag, Status.OK, text)
