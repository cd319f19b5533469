"""SEARCH and UID SEARCH (RFC 9051 §6.4.4, §6.4.9), with ESEARCH (RFC 4731, RFC 9051 §7.3.4) and
SEARCHRES (RFC 5182): the program is evaluated by ``search_eval``; this module answers.

- IMAP4rev1 sessions get ``* SEARCH n ...`` for a SEARCH without RETURN (RFC 3501 §7.2.5);
  IMAP4rev2 sessions always get ``* ESEARCH`` (RFC 9051 §6.4.4: ESEARCH replaces SEARCH).
- RETURN () means RETURN (ALL) (RFC 4731 §3.1). MIN, MAX, COUNT, ALL as asked.
- SAVE (RFC 5182 §2.4): the result goes into ``$``; with MIN and/or MAX only those are saved; with
  SAVE alone no ESEARCH is sent. A failed SEARCH ... SAVE empties ``$`` (RFC 5182 §2.1).
- PARTIAL (RFC 9394 §3.1): ``PARTIAL (range set)`` (NIL when the range holds no result); with SAVE,
  ``$`` keeps what Table 1 of §3.2 says.
- CONTEXT and UPDATE (RFC 5267 §4.2, §4.3): UPDATE starts a context (``context``); neither is a
  result option: ``RETURN (UPDATE)`` answers ``* ESEARCH (TAG "t")`` with no result data, and
  ``RETURN (CONTEXT)`` is ``RETURN ()``, ALL (as Dovecot answers both).
"""

from __future__ import annotations

from collections.abc import Sequence

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.partial import PartialRange
from pochta.proto.imap.responses import Code, ESearch, Search
from pochta.proto.imap.search import SearchArgs
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap import context
from pochta.server.imap.search_eval import SearchError, evaluate
from pochta.server.imap.session import Session
from pochta.store.model import MessageEntry

__all__ = ["esearch_response", "failed", "modseq_data", "saved_part", "search"]


async def search(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SearchArgs)
    selected = session.selected
    assert selected is not None
    names = args.return_names
    saving = "SAVE" in names
    updating = "UPDATE" in names
    if updating and (refused := context.reused(session, command)) is not None:
        return refused
    with_modseq = args.has_modseq
    if with_modseq:
        session.enable_condstore()  # RFC 7162 §3.1: SEARCH MODSEQ enables CONDSTORE
    try:
        uids = await evaluate(session.services.store, selected, args.key, charset=args.charset)
    except SearchError as exc:
        if saving:
            selected.save_result(())  # RFC 5182 §2.1: a failed SAVE search leaves $ empty
        return failed(session, command, exc)
    except BaseException:
        if saving:
            selected.save_result(())
        raise
    if saving:
        selected.save_result(saved_part(names, uids, args.partial))
    numbers = uids if command.uid else [n for n in map(selected.seq_of, uids) if n is not None]
    if args.returns is None and not session.rev2:
        # RFC 3501 §7.2.5; RFC 7162 §3.1.6: with a MODSEQ key, the highest mod-sequence of the result.
        highest = max(map(selected.modseq_of, uids)) if with_modseq and uids else None
        session.send(Search(numbers, highest))
    elif (shown := names - {"CONTEXT"}) != {"SAVE"}:
        # RFC 4731 §3.1: RETURN () is RETURN (ALL); so is RETURN (CONTEXT), a hint (RFC 5267 §4.2),
        # as Dovecot answers. UPDATE alone asks for no result data.
        wanted = shown or {"ALL"}
        if args.returns is None:
            wanted = {"ALL"}  # RFC 9051 §6.4.4: a plain SEARCH in rev2 answers ESEARCH ALL
        modseq = modseq_data(selected, uids, wanted, args.partial) if with_modseq else ()
        session.send(
            esearch_response(
                command.tag, numbers, wanted, uid=command.uid, partial=args.partial, extra=modseq
            )
        )
    if updating:
        context.start(session, command, args.key, args.charset, uids)
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


def failed(session: Session, command: Command, exc: SearchError) -> Tagged:
    """The tagged answer to a search that could not run (BAD syntax of a string, NO [BADCHARSET])."""
    if exc.bad:
        return Tagged(command.tag, Status.BAD, str(exc))
    code = Code.badcharset(exc.charsets) if exc.code == "BADCHARSET" else exc.code
    return Tagged(command.tag, Status.NO, str(exc), code=code)


def saved_part(names: frozenset[str], uids: list[int], partial: PartialRange | None = None) -> list[int]:
    """What SAVE keeps of a result: all of it, or with MIN and/or MAX alone just those (RFC 5182
    §2.4); with PARTIAL and no COUNT, the partial results and MIN/MAX (RFC 9394 §3.2, Table 1)."""
    if "COUNT" in names or "ALL" in names or not (partial or names & {"MIN", "MAX"}):
        return uids
    kept = set(partial.pick(uids)) if partial is not None else set()
    if uids:
        kept.update(([uids[0]] if "MIN" in names else []) + ([uids[-1]] if "MAX" in names else []))
    return sorted(kept)


def esearch_response(
    tag: bytes,
    numbers: list[int],
    wanted: frozenset[str] | set[str],
    *,
    uid: bool,
    mailbox: str | None = None,
    uidvalidity: int | None = None,
    partial: PartialRange | None = None,
    extra: Sequence[tuple[str, bytes]] = (),
) -> ESearch:
    """``* ESEARCH`` with the RETURN options ``wanted`` (RFC 4731 §3.1), over ascending ``numbers``;
    ``extra``: further return data (RFC 7162's MODSEQ)."""
    data: list[tuple[str, bytes]] = []
    if partial is not None:
        # RFC 9394 §3.1: the range as requested, then the results in it (NIL when none).
        picked = partial.pick(numbers)
        found = bytes(SequenceSet.of(*picked)) if picked else b"NIL"
        data.append(("PARTIAL", b"(" + partial.encode() + b" " + found + b")"))
    return ESearch(
        tag=tag,
        uid=uid,
        min=numbers[0] if "MIN" in wanted and numbers else None,
        max=numbers[-1] if "MAX" in wanted and numbers else None,
        all=SequenceSet.of(*numbers) if "ALL" in wanted and numbers else None,
        count=len(numbers) if "COUNT" in wanted else None,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        extra=[*data, *extra],
    )


def modseq_data(
    selected: SelectedMailbox[MessageEntry],
    uids: list[int],
    wanted: set[str] | frozenset[str],
    partial: PartialRange | None = None,
) -> list[tuple[str, bytes]]:
    """RFC 7162 §3.1.10, RFC 4731 §3.2: the MODSEQ result option, the highest mod-sequence of the
    messages returned (only MIN and/or MAX: of those; PARTIAL: of those in its range), omitted when
    nothing is returned. ``uids`` in the result's order: ascending for SEARCH, sorted for ESORT
    (whose MIN and MAX are its first and last, RFC 5267 §3.1)."""
    if not uids:
        return []
    if wanted & {"ALL", "COUNT"}:
        returned = uids
    else:
        returned = ([uids[0]] if "MIN" in wanted else []) + ([uids[-1]] if "MAX" in wanted else [])
        returned += partial.pick(uids) if partial is not None else []
    if not returned:
        return []
    return [("MODSEQ", b"%d" % max(map(selected.modseq_of, returned)))]
