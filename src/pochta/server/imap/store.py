"""STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9): set, add or remove flags; FETCH FLAGS back.

Flag rules (\\Recent cannot be stored, keyword case, the keyword limit) are ``MailOps.store_flags``'s.
Every message of the set gets its FETCH (FLAGS ...) unless .SILENT, changed or not (RFC 9051
§6.4.6: "the server returns an untagged FETCH response ... for each message"); UID STORE adds UID
(§6.4.9). A message whose expunge by another session is not told yet keeps its number; its flags
can no longer change, and it is reported as it is. In an EXAMINEd mailbox STORE is refused.

CONDSTORE (RFC 7162 §3.1.3): ``(UNCHANGEDSINCE n)`` changes only the messages whose mod-sequence is
at most n (the store decides, in the write), the others are listed in ``OK [MODIFIED set]``
(message numbers, or UIDs for UID STORE) and get no FETCH; the rest get ``FETCH (UID [FLAGS] MODSEQ)``
even with .SILENT. Once CONDSTORE is enabled every FETCH here carries UID and MODSEQ (§3.2.4).
"""

from __future__ import annotations

from pochta.mail import acl
from pochta.mail.flags import flag_key
from pochta.proto.imap import Code, Command, SequenceSet, Status, Tagged
from pochta.proto.imap.args import Store
from pochta.proto.imap.responses import Fetch, FetchValue
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap.imapsieve import Event, after_event
from pochta.server.imap.select import announce_keywords
from pochta.server.imap.session import Session
from pochta.sieve.imapsieve import changed_flags
from pochta.store.api import FlagOp
from pochta.store.model import MessageEntry

__all__ = ["store"]

_OPS: dict[str, FlagOp] = {"+": "add", "-": "remove", "": "replace"}


async def store(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Store)
    selected = session.selected
    assert selected is not None
    if selected.read_only:
        return Tagged(command.tag, Status.NO, "Mailbox is read-only (EXAMINE)", code="READ-ONLY")
    unchanged_since = args.unchanged_since
    if any(name != "UNCHANGEDSINCE" for name, _ in args.modifiers):
        # RFC 4466 store-modifiers other than RFC 7162's UNCHANGEDSINCE.
        return Tagged(command.tag, Status.BAD, f"STORE modifier {args.modifiers[0][0]} is not supported")
    if unchanged_since is not None:
        session.enable_condstore()  # RFC 7162 §3.1: a CONDSTORE enabling command
    uids = selected.resolve(args.sequence_set, uid=command.uid)
    live = [uid for uid in uids if not selected.is_expunged(uid)]
    failed: frozenset[int] = frozenset()
    changed: frozenset[int] = frozenset()
    writes = _permitted(selected, live, _OPS[args.mode], args.flags)
    event_flags: dict[int, tuple[str, ...]] = {}
    if writes is None:
        # RFC 4314 §4: STORE needs "s" for \Seen, "t" for \Deleted, "w" for the other flags.
        return Tagged(command.tag, Status.NO, "Permission denied for these flags", code="NOPERM")
    if live:
        ops = session.services.ops
        for n, (op, flags) in enumerate(writes):
            # A second write (a replacement with partial rights) goes to what the first did not refuse.
            changes = await ops.store_flags(
                selected.mailbox_id,
                [uid for uid in live if uid not in failed],
                op,
                flags,
                unchanged_since=unchanged_since if n == 0 else None,
                known_keywords=selected.known_keywords,
            )
            for entry in changes.changed:  # RFC 6785 §4.5: which flags changed, for the FLAG event
                flipped = changed_flags(selected.flags_of(entry.uid), entry.flags)
                event_flags[entry.uid] = changed_flags(event_flags.get(entry.uid, ()), flipped)
            selected.apply_own(changes)  # flags only: no expunges come back
            # RFC 7162 §3.1.3: a message whose mod-sequence is above UNCHANGEDSINCE is left as it is
            # (one equal to it is changed); its number (UID for UID STORE) goes into MODIFIED.
            failed |= frozenset(changes.failed_unchanged_since)
            changed |= frozenset(entry.uid for entry in changes.changed)
    announce_keywords(session)  # a keyword new to the mailbox is in FLAGS before any FETCH shows it
    condstore, uidonly = session.condstore, selected.uidonly
    for uid in uids:
        if uid in failed:
            continue
        # RFC 7162 §3.1.3: a conditional STORE answers FETCH (MODSEQ) even when .SILENT; once
        # CONDSTORE is on, a new mod-sequence is told too (the client's cache needs it).
        if args.silent and unchanged_since is None and not (condstore and uid in changed):
            continue
        seq = uid if uidonly else selected.seq_of(uid)
        if seq is None:  # pragma: no cover - resolve() returns numbered UIDs
            continue
        items: list[tuple[str, FetchValue]] = []
        if (command.uid or condstore) and not uidonly:
            items.append(("UID", uid))  # RFC 9051 §6.4.9; RFC 7162 §3.2.4 once CONDSTORE is on
        if not args.silent:
            items.append(("FLAGS", selected.client_flags(uid)))
        if condstore:
            items.append(("MODSEQ", selected.modseq_item(uid)))  # RFC 7162 §3.1.3, §3.2.4
        # RFC 9586 §3.3: with UIDONLY, UIDFETCH led by the UID (the UID item only when asked for).
        session.send(Fetch(seq, tuple(items), uidfetch=uidonly))
    # RFC 6785 §2.2.3: each message whose flags changed is an event (after the FETCHes of the STORE).
    changed_uids = tuple(uid for uid, flipped in sorted(event_flags.items()) if flipped)
    owner = selected.owner_id if selected.owner_id is not None else session.account_id
    event = Event("FLAG", owner, selected.mailbox_id, changed_uids, changed=event_flags)
    await after_event(session, event, selected.rights)
    if failed:
        numbers = (
            sorted(failed) if command.uid else [n for n in map(selected.seq_of, failed) if n is not None]
        )
        modified = Code.modified(SequenceSet.of(*numbers))
        return Tagged(command.tag, Status.OK, "Conditional STORE failed", code=modified)
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


def _permitted(
    selected: SelectedMailbox[MessageEntry], uids: list[int], op: FlagOp, flags: tuple[str, ...]
) -> list[tuple[FlagOp, tuple[str, ...]]] | None:
    """The writes a STORE makes with the session's rights (RFC 4314 §4): the flags it may not change
    are left out ("SHOULD NOT fail if the user has rights to modify at least one flag"); None when
    it may change none of those named. A FLAGS replacement changes only the flags it may change:
    it adds those given and removes the others of those kinds the messages carry."""
    rights = selected.rights
    if rights == acl.ALL:
        return [(op, flags)]
    allowed = tuple(sorted(acl.storable_flags(rights, flags)))
    if flags and not allowed:
        return None
    if op != "replace":
        return [(op, allowed)]
    if not rights & frozenset("stw"):
        return None
    given = {flag_key(flag) for flag in flags}
    carried = {flag for uid in uids for flag in selected.flags_of(uid)}
    drop = tuple(sorted(f for f in carried if flag_key(f) not in given and acl.flag_allowed(rights, f)))
    writes: list[tuple[FlagOp, tuple[str, ...]]] = [("add", allowed), ("remove", drop)]
    return [(o, f) for o, f in writes if f]
