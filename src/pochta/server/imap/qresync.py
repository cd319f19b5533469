"""QRESYNC's resynchronisation (RFC 7162 §3.2.5, §3.2.6): what changed since a client's mod-sequence.

- ``resync`` (SELECT/EXAMINE ... (QRESYNC (uidvalidity modseq [known-uids [seq-match-data]]))): after
  the usual SELECT responses, one ``VANISHED (EARLIER)`` with the known UIDs expunged since the
  client's mod-sequence, then ``FETCH (UID FLAGS MODSEQ)`` of every known message changed since it
  (§3.2.5.1: "semantically equivalent to ... UID FETCH known-uids (FLAGS) (CHANGEDSINCE modseq
  VANISHED)"). Flags come from the session's new view; expunges from the store's expunge records,
  minus the UIDs the view still holds (an expunge committed after the view was read is told later as
  a plain VANISHED). A UIDVALIDITY that differs ignores the rest (§3.2.5).
- ``vanished`` (UID FETCH ... (CHANGEDSINCE n VANISHED)): the ``VANISHED (EARLIER)`` of the UID set.

When the records after the client's mod-sequence were pruned (``store.expunge_record_days``), every
known UID the mailbox does not hold is reported: RFC 7162 §3.2.6 asks exactly that of a server
given a mod-sequence older than it remembers, and §3.2.5.2's sequence match data narrows it.
"""

from __future__ import annotations

from bisect import bisect_right

from pochta.proto.imap.condstore import QResync, seq_match_floor, vanished_earlier
from pochta.proto.imap.responses import Fetch, Vanished
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap.session import Session
from pochta.store.model import MailboxView, MessageEntry

__all__ = ["resync", "vanished"]


def _uid_at(selected: SelectedMailbox[MessageEntry], seq: int) -> int | None:
    try:
        return selected.uid_at(seq)
    except IndexError:
        return None


async def resync(
    session: Session, selected: SelectedMailbox[MessageEntry], view: MailboxView, qresync: QResync
) -> None:
    """Send the VANISHED (EARLIER) and FETCH responses of a QRESYNC SELECT (module docstring)."""
    mailbox = view.mailbox
    if qresync.uidvalidity != mailbox.uidvalidity:
        return  # RFC 7162 §3.2.5: "ignore the remaining parameters"
    top = mailbox.uidnext - 1
    # RFC 7162 §3.2.5.1: no known-uids is "1:<maxuid>", <maxuid> being UIDNEXT - 1.
    known = qresync.known_uids
    ranges = known.resolve(top) if known is not None else ([(1, top)] if top >= 1 else [])
    if qresync.modseq < mailbox.highestmodseq:
        expunged = await session.services.store.expunged_since(mailbox.id, qresync.modseq)
        floor = seq_match_floor(qresync.seq_match, lambda seq: _uid_at(selected, seq))
        gone = vanished_earlier(ranges, view.uids, expunged, floor=floor, top=top)
        if gone.ranges:
            session.send(Vanished(gone, earlier=True))  # RFC 7162 §3.2.10.1, before any FETCH
    since = qresync.modseq
    changed = [i for i, modseq in enumerate(view.modseqs) if modseq > since]
    if known is not None:
        starts = [first for first, _ in ranges]

        def is_known(uid: int) -> bool:
            index = bisect_right(starts, uid) - 1
            return index >= 0 and uid <= ranges[index][1]

        changed = [i for i in changed if is_known(view.uids[i])]
    for position in changed:
        uid = view.uids[position]
        # RFC 7162 §3.2.5.1: "using FETCH responses that MUST contain UIDs"
        flags, modseq = ("FLAGS", selected.client_flags(uid)), ("MODSEQ", selected.modseq_item(uid))
        if selected.uidonly:
            session.send(Fetch(uid, (flags, modseq), uidfetch=True))  # RFC 9586 §3.3: the UID leads
            continue
        session.send(Fetch(position + 1, (("UID", uid), flags, modseq)))


async def vanished(
    session: Session, selected: SelectedMailbox[MessageEntry], uid_set: SequenceSet, changed_since: int
) -> None:
    """RFC 7162 §3.2.6: VANISHED (EARLIER) with the UIDs of ``uid_set`` expunged after
    ``changed_since``, before the FETCH responses."""
    uids = selected.uids
    top = selected.max_uid
    if uid_set.saved:
        return  # "$" holds UIDs of messages still numbered: nothing of it has vanished earlier
    # "*" as the highest UID the mailbox gave that the session knows of, so that "1:*" covers
    # messages that vanished from the end too (RFC 9051 §9 would make it the highest UID still there).
    ranges = uid_set.resolve(top)
    expunged = await session.services.store.expunged_since(selected.mailbox_id, changed_since)
    gone = vanished_earlier(ranges, uids, expunged, top=top)
    if gone.ranges:
        session.send(Vanished(gone, earlier=True))
