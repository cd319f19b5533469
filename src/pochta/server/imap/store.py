"""STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9): set, add or remove flags; FETCH FLAGS back.

Flag rules (\\Recent cannot be stored, keyword case, the keyword limit) are ``MailOps.store_flags``'s.
Every message of the set gets its FETCH (FLAGS ...) unless .SILENT, changed or not (RFC 9051
§6.4.6: "the server returns an untagged FETCH response ... for each message"); UID STORE adds UID
(§6.4.9). A message whose expunge by another session is not told yet keeps its number; its flags
can no longer change, and it is reported as it is. In an EXAMINEd mailbox STORE is refused.
"""

from __future__ import annotations

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import Store
from pochta.proto.imap.responses import Fetch, FetchValue
from pochta.server.imap.select import announce_keywords
from pochta.server.imap.session import Session
from pochta.store.api import FlagOp

__all__ = ["store"]

_OPS: dict[str, FlagOp] = {"+": "add", "-": "remove", "": "replace"}


async def store(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Store)
    selected = session.selected
    assert selected is not None
    if selected.read_only:
        return Tagged(command.tag, Status.NO, "Mailbox is read-only (EXAMINE)", code="READ-ONLY")
    if args.modifiers:
        # RFC 4466 store-modifiers: UNCHANGEDSINCE is CONDSTORE (RFC 7162), not implemented yet.
        return Tagged(command.tag, Status.BAD, f"STORE modifier {args.modifiers[0][0]} is not supported")
    uids = selected.resolve(args.sequence_set, uid=command.uid)
    live = [uid for uid in uids if not selected.is_expunged(uid)]
    if live:
        changes = await session.services.ops.store_flags(
            selected.mailbox_id, live, _OPS[args.mode], args.flags, known_keywords=selected.known_keywords
        )
        selected.apply_own(changes)  # flags only: no expunges come back
    announce_keywords(session)  # a keyword new to the mailbox is in FLAGS before any FETCH shows it
    if not args.silent:
        for uid in uids:
            seq = selected.seq_of(uid)
            if seq is None:  # pragma: no cover - resolve() returns numbered UIDs
                continue
            items: list[tuple[str, FetchValue]] = [("FLAGS", selected.client_flags(uid))]
            if command.uid:
                items.insert(0, ("UID", uid))
            session.send(Fetch(seq, tuple(items)))
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")
