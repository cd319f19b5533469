"""SEARCH and UID SEARCH (RFC 9051 §6.4.4, §6.4.9), with ESEARCH (RFC 4731, RFC 9051 §7.3.4) and
SEARCHRES (RFC 5182): the program is evaluated by ``search_eval``; this module answers.

- IMAP4rev1 sessions get ``* SEARCH n ...`` for a SEARCH without RETURN (RFC 3501 §7.2.5);
  IMAP4rev2 sessions always get ``* ESEARCH`` (RFC 9051 §6.4.4: ESEARCH replaces SEARCH).
- RETURN () means RETURN (ALL) (RFC 4731 §3.1). MIN, MAX, COUNT, ALL as asked.
- SAVE (RFC 5182 §2.4): the result goes into ``$``; with MIN and/or MAX only those are saved; with
  SAVE alone no ESEARCH is sent. A failed SEARCH ... SAVE empties ``$`` (RFC 5182 §2.1).
"""

from __future__ import annotations

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.responses import Code, ESearch, Search
from pochta.proto.imap.search import SearchArgs
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap.search_eval import SearchError, evaluate
from pochta.server.imap.selected import SelectedMailbox
from pochta.server.imap.session import Session

__all__ = ["search"]


async def search(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SearchArgs)
    selected = session.selected
    assert selected is not None
    names = args.return_names
    saving = "SAVE" in names
    with_modseq = args.has_modseq
    if with_modseq:
        session.enable_condstore()  # RFC 7162 §3.1: SEARCH MODSEQ enables CONDSTORE
    try:
        uids = await evaluate(session.services.store, selected, args.key, charset=args.charset)
    except SearchError as exc:
        if saving:
            selected.save_result(())  # RFC 5182 §2.1: a failed SAVE search leaves $ empty
        if exc.bad:
            return Tagged(command.tag, Status.BAD, str(exc))
        code = Code.badcharset(exc.charsets) if exc.code == "BADCHARSET" else exc.code
        return Tagged(command.tag, Status.NO, str(exc), code=code)
    except BaseException:
        if saving:
            selected.save_result(())
        raise
    if saving:
        kept = uids
        if names & {"MIN", "MAX"} and not names & {"ALL", "COUNT"}:
            # RFC 5182 §2.4: SAVE with MIN and/or MAX saves just those.
            ends = ([uids[0]] if "MIN" in names else []) + ([uids[-1]] if "MAX" in names else [])
            kept = sorted(set(ends)) if uids else []
        selected.save_result(kept)
    numbers = uids if command.uid else [n for n in map(selected.seq_of, uids) if n is not None]
    if args.returns is None and not session.rev2:
        # RFC 3501 §7.2.5; RFC 7162 §3.1.6: with a MODSEQ key, the highest mod-sequence of the result.
        highest = max(map(selected.modseq_of, uids)) if with_modseq and uids else None
        session.send(Search(numbers, highest))
    elif names != {"SAVE"}:
        wanted = names or {"ALL"}  # RFC 4731 §3.1: RETURN () is RETURN (ALL)
        if args.returns is None:
            wanted = {"ALL"}  # RFC 9051 §6.4.4: a plain SEARCH in rev2 answers ESEARCH ALL
        session.send(
            ESearch(
                tag=command.tag,
                uid=command.uid,
                min=numbers[0] if "MIN" in wanted and numbers else None,
                max=numbers[-1] if "MAX" in wanted and numbers else None,
                all=SequenceSet.of(*numbers) if "ALL" in wanted and numbers else None,
                count=len(numbers) if "COUNT" in wanted else None,
                extra=_modseq_data(selected, uids, wanted) if with_modseq else (),
            )
        )
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


def _modseq_data(
    selected: SelectedMailbox, uids: list[int], wanted: set[str] | frozenset[str]
) -> list[tuple[str, bytes]]:
    """RFC 7162 §3.1.10, RFC 4731 §3.2: the MODSEQ result option, the highest mod-sequence of the
    messages returned (only MIN and/or MAX: of those), omitted when nothing matched."""
    if not uids:
        return []
    if wanted & {"ALL", "COUNT"}:
        returned = uids
    else:
        returned = ([uids[0]] if "MIN" in wanted else []) + ([uids[-1]] if "MAX" in wanted else [])
    return [("MODSEQ", b"%d" % max(map(selected.modseq_of, returned)))]
