"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): UPDATE contexts kept current, and CANCELUPDATE.

- ``SEARCH``/``SORT`` with ``RETURN (UPDATE ...)`` (``search``, ``sort``) answer as usual and then
  ``start`` a context on the selected mailbox (``SelectedMailbox.contexts``, pure state in
  ``pochta.proto.imap.context``). A tag that already names a context is refused with BAD before the
  search runs (RFC 5267 §4.3: "SHALL result in the server rejecting the searching command with a BAD
  response"); past ``imap.max_search_updates`` contexts in the session the command still answers,
  with ``* NO [NOUPDATE "tag"]`` (RFC 5267 §4.3.1). CONTEXT is a hint and changes nothing (§4.2).
- Message-number criteria (and ``$``) are taken as the UIDs they named when the command ran
  (RFC 5267 §4.3: "evaluated at the time the command is received ... no notifications will be
  emitted" when those numbers later name other messages).
- ``refresh`` runs where the selected mailbox's pending changes are reported (``select.
  report_updates``, after EXISTS/EXPUNGE/FETCH: an ADDTO of a new message follows its EXISTS,
  RFC 5267 §4.3.3, and the FETCH of a flag change precedes the ESEARCH, RFC 5465 §5.1). It
  re-evaluates each program on the messages whose state changed since the last report (new ones,
  flag changes of this session and others, expunges held back), with SEARCH's evaluator restricted
  to them (``search_eval.evaluate(only=...)``): a change costs a search of the changed messages, not
  of the mailbox. A program with a UID range ending in "*" depends on the highest UID in the mailbox:
  it is re-run whole and diffed. A SORT context whose result gained messages asks the store for the
  order of its new result (``sort_order``, the same ordering SORT used); removals need no store call.
- Expunges: REMOVEFROM goes out just before the EXPUNGE (or VANISHED), while the numbers it carries
  are valid (``SelectedMailbox._drop``, RFC 5267 §4.3.4), so it follows RFC 9051 §7.5.1: during
  FETCH, STORE and SEARCH the EXPUNGE waits, and so does its REMOVEFROM, unless a flag change of the
  same message was being reported (it is then removed at once: the result no longer holds an
  expunged message, RFC 5267 Appendix A.3). ESEARCH itself may be sent at any time (§4.3.2), so no
  other update is held back.
- CONDSTORE: updates carry no MODSEQ (RFC 7162 §3.1.10 defines it for the searching command's own
  result; RFC 5267 §4.3: UPDATE does not interact with other return options); the unsolicited FETCH
  that precedes a flag-caused update carries the MODSEQ (RFC 7162 §3.2.4), and a ``MODSEQ`` key
  is re-evaluated like any other, so a message whose flags change joins ``MODSEQ n`` results.
- WITHIN (RFC 5032 §2): OLDER/YOUNGER are evaluated when a message's state changes, not as time
  passes ("the server might perform the evaluation periodically. Thus, the server may delay the
  updates").
"""

from __future__ import annotations

from collections.abc import Sequence

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.context import CancelUpdate, UpdateContext
from pochta.proto.imap.responses import Code, ESearch, Untagged
from pochta.proto.imap.search import And, Not, Or, SearchKey, SequenceKey
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.sort import ORDER_KEYS
from pochta.server.imap.search_eval import evaluate
from pochta.server.imap.session import Session
from pochta.store.api import MailStore
from pochta.store.model import MessageEntry

__all__ = ["add", "cancelupdate", "refresh", "reused", "start", "updates"]


def reused(session: Session, command: Command) -> Tagged | None:
    """BAD when the command's tag names a context still updating (RFC 5267 §4.3)."""
    selected = session.selected
    if selected is not None and command.tag in selected.contexts:
        return Tagged(command.tag, Status.BAD, "Tag reuse: an UPDATE context has this tag (CANCELUPDATE it)")
    return None


def start(
    session: Session,
    command: Command,
    program: And,
    charset: str | None,
    result: Sequence[int],
    criteria: tuple[tuple[str, bool], ...] | None = None,
) -> None:
    """Keep ``result`` (UIDs, SORT: in the sort order) updated for the command's tag, or send
    NOUPDATE when the session has as many contexts as ``imap.max_search_updates`` allows."""
    selected = session.selected
    assert selected is not None
    limit = session.services.settings.imap.max_search_updates
    if len(selected.contexts) >= limit:
        # RFC 5267 §4.3.1: an untagged NO [NOUPDATE "tag"]; the other return options are honoured.
        code = Code("NOUPDATE", b'"' + command.tag + b'"')  # a tag is an astring of ASTRING-CHARs
        session.send(Untagged(Status.NO, f"At most {limit} UPDATE contexts per session", code=code))
        return
    add(selected, command.tag, command.uid, program, charset, result, criteria)


def add(
    selected: SelectedMailbox[MessageEntry],
    tag: bytes,
    uid: bool,
    program: And,
    charset: str | None,
    result: Sequence[int],
    criteria: tuple[tuple[str, bool], ...] | None = None,
) -> UpdateContext:
    """Add the context of a searching command that found ``result`` (UIDs, in the requested order)."""
    frozen, rerun = _freeze(selected, program)
    context = UpdateContext(
        tag=tag,
        uid=uid,
        program=frozen,
        charset=charset,
        criteria=criteria,
        members=set(result),
        order=list(result) if criteria is not None else [],
        rerun=rerun,
    )
    selected.contexts.add(context)
    for member in result:
        if selected.is_expunged(member):
            # Expunged, its EXPUNGE held back: in the client's result now; the next report removes
            # it (RFC 5267 Appendix A.3: a context tells of expunges at once).
            selected.contexts.touch(member)
    return context


async def cancelupdate(session: Session, command: Command) -> Tagged:
    """RFC 5267 §4.3.5: end the contexts named; NO, ending none, when a tag names none (as Dovecot)."""
    args = command.args
    assert isinstance(args, CancelUpdate)
    selected = session.selected
    assert selected is not None
    unknown = [tag for tag in args.tags if tag not in selected.contexts]
    if unknown:
        # None is cancelled then (as Dovecot does): the command either did all it said or nothing.
        name = unknown[0].decode("ascii", "replace")[:40]
        return Tagged(command.tag, Status.NO, f"No UPDATE context has the tag {name}")
    selected.contexts.cancel(args.tags)
    return Tagged(command.tag, Status.OK, "CANCELUPDATE completed, no further updates")


async def refresh(session: Session) -> None:
    """Send ADDTO/REMOVEFROM for every context whose result changed since the last report."""
    if session.selected is not None:
        for response in await updates(session.services.store, session.selected):
            session.send(response)


async def updates(store: MailStore, selected: SelectedMailbox[MessageEntry]) -> list[ESearch]:
    """The ESEARCH updates of the contexts whose result changed since the last call."""
    contexts = selected.contexts
    touched = contexts.take_touched()
    highest_moved = contexts.take_highest_moved()
    out: list[ESearch] = []
    if not (touched or highest_moved) or not len(contexts):
        return out
    # The changed messages the client can name (numbered, not expunged): the subset to search;
    # the others (expunged, or echoes of messages gone) are in no result.
    live = sorted(u for u in touched if selected.seq_of(u) is not None and not selected.is_expunged(u))
    for context in contexts:
        members = context.members
        if context.rerun:
            everything = await evaluate(store, selected, context.program, charset=context.charset)
            found = {u for u in everything if not selected.is_expunged(u)}
            removed, added = members - found, found - members
        else:
            matched = (
                set(await evaluate(store, selected, context.program, charset=context.charset, only=live))
                if live
                else set()
            )
            # Only the changed messages can have moved in or out: the cost is theirs.
            removed = {u for u in touched if u in members and u not in matched}
            added = matched - members
        if not removed and not added:
            continue
        if context.criteria is None:
            response = context.change(removed, added, selected.seq_of)
        elif not added:  # the others keep their order: no store call
            response = context.update([u for u in context.order if u not in removed], selected.seq_of)
        else:
            order = [(ORDER_KEYS[name], reverse) for name, reverse in context.criteria]
            new = sorted((members - removed) | added)
            # Those expunged meanwhile are left out by the store: gone from the result too.
            response = context.update(
                await store.sort_order(selected.mailbox_id, new, order), selected.seq_of
            )
        if response is not None:
            out.append(response)
    return out


def _freeze(selected: SelectedMailbox[MessageEntry], program: And) -> tuple[And, bool]:
    """The program with message-number sets and ``$`` replaced by the UIDs they name now (RFC 5267
    §4.3), and whether it must be re-run whole (a UID set with "*": the highest UID moves)."""
    uids = selected.uids
    count = len(uids)
    rerun = False

    def freeze(key: SearchKey) -> SearchKey:
        nonlocal rerun
        match key:
            case SequenceKey(set=numbers, uid=False) if not numbers.saved:
                # As SEARCH reads them (search_eval.sequence_mask): numbers past the end match nothing.
                named: list[int] = []
                for low, high in numbers.resolve(count):
                    first, last = max(low, 1), min(high, count)
                    if first <= last:
                        named.extend(uids[first - 1 : last])
                return SequenceKey(SequenceSet.of(*named), uid=True)
            case SequenceKey(set=numbers) if numbers.saved:
                return SequenceKey(SequenceSet.of(*selected.resolve(numbers, uid=True)), uid=True)
            case SequenceKey(set=numbers):
                rerun = rerun or numbers.uses_star()
                return key
            case And(keys):
                return And(tuple(map(freeze, keys)))
            case Or(left, right):
                return Or(freeze(left), freeze(right))
            case Not(inner):
                return Not(freeze(inner))
        return key

    frozen = freeze(program)
    assert isinstance(frozen, And)
    return frozen, rerun
