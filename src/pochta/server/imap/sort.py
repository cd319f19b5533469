"""SORT, UID SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267 §3 ESORT), THREAD and UID
THREAD (RFC 5256 §3): SEARCH's evaluator chooses the messages (``search_eval``), the store gives
their kept sort keys (``MailStore.sort_keys``), and the pure orderings of ``pochta.proto.imap.sort``
and ``pochta.proto.imap.thread`` arrange them.

- SORT answers ``* SORT``, in IMAP4rev2 sessions too (RFC 5256 §4 names no ESEARCH form for it);
  SORT RETURN (...) answers ``* ESEARCH`` (RFC 5267 §3), RETURN () meaning ALL; MIN and MAX are the
  first and last message in the sort order, ALL lists them in that order.
- SAVE (RFC 5182 §1, §2.4) keeps the result in ``$`` as SEARCH's does (``search.saved_part``: with
  MIN and/or MAX alone just those, the first and last in the sort order; with PARTIAL what RFC 9394
  §3.2 says); SAVE alone sends no ESEARCH; a SORT ... SAVE that fails empties ``$`` (§2.1).
- The charset is mandatory and is SEARCH's: US-ASCII and UTF-8, else NO [BADCHARSET].
- SORT is done by the store (``sort_order``: SQLite orders the kept keys, no key reaches Python);
  THREAD reads the keys its algorithm needs (``sort_keys``). A message whose expunge this session
  has not been told of (RFC 9051 §7.5.1) is sorted here with empty keys (its data is gone from the
  store), at its place in the mailbox.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

from pochta.mime.sortkeys import SortKeys
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.responses import Code, ESearch
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.sort import ORDER_KEYS, Item, SortArgs, encode_sort, ordered_set, sort_items
from pochta.proto.imap.thread import ALGORITHMS, ThreadArgs, encode_threads, ordered_subject, references
from pochta.server.imap import context
from pochta.server.imap.kept_threads import renumber
from pochta.server.imap.search import modseq_data, saved_part
from pochta.server.imap.search_eval import SearchError, evaluate
from pochta.server.imap.session import Services, Session
from pochta.store.api import NotFound
from pochta.store.model import MailboxId, MessageEntry

__all__ = ["sort", "thread", "warm_thread"]

_EMPTY = SortKeys()
_TABLE_MIN = 256  # numbering this many messages or more goes through a table (``_numbering``)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a THREAD builds and writes its tree: the 50,000 objects of
    20,000 messages' tree start collections that walk the whole process's heap (a third of the CPU
    time measured). Nothing awaits inside; collection resumes right after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# The keys each criterion and algorithm reads (``MailStore.sort_keys`` fields; the internal date
# always comes): a store reads only those columns.
_FIELDS = {
    "ARRIVAL": (), "CC": ("cc",), "DATE": ("sent",), "FROM": ("from_",), "SIZE": ("size",),
    "SUBJECT": ("subject",), "TO": ("to",), "DISPLAYFROM": ("display_from",), "DISPLAYTO": ("display_to",),
    "ORDEREDSUBJECT": ("subject", "sent"),
    "REFERENCES": ("subject", "reply", "sent", "message_id", "references"),
}  # fmt: skip


def _fields(args: SortArgs | ThreadArgs) -> set[str]:
    if isinstance(args, ThreadArgs):
        return set(_FIELDS[args.algorithm])
    return {field for name, _ in args.criteria for field in _FIELDS[name]}


async def _searched(session: Session, command: Command, args: SortArgs | ThreadArgs) -> list[int] | Tagged:
    """The UIDs the program finds, or the tagged refusal of the search."""
    selected = session.selected
    assert selected is not None
    try:
        return await evaluate(session.services.store, selected, args.key, charset=args.charset)
    except SearchError as exc:
        if exc.bad:
            return Tagged(command.tag, Status.BAD, str(exc))
        code = Code.badcharset(exc.charsets) if exc.code == "BADCHARSET" else exc.code
        return Tagged(command.tag, Status.NO, str(exc), code=code)


async def _keyed(
    session: Session,
    command: Command,
    args: SortArgs | ThreadArgs,
    uids: list[int],
    *,
    as_uid: bool | None = None,
) -> list[Item]:
    """The searched messages with their keys, in mailbox order; ``number`` is the UID with
    ``as_uid`` (default: for UID commands), else the message number."""
    by_uid = command.uid if as_uid is None else as_uid
    selected = session.selected
    assert selected is not None
    store = session.services.store
    rows = await store.sort_keys(selected.mailbox_id, uids, _fields(args)) if uids else []
    found = {row.uid: row for row in rows} if len(rows) != len(uids) else None  # else: the same UIDs
    items: list[Item] = []
    for index, uid in enumerate(uids):
        seq = selected.seq_of(uid)
        if seq is None:
            continue
        row = rows[index] if found is None else found.get(uid)
        number = uid if by_uid else seq
        if row is None:
            items.append(Item(number, seq, _EMPTY, 0, 0))
        else:
            items.append(Item(number, seq, row.keys, row.internal_date, row.size))
    return items


async def _sorted(session: Session, command: Command, args: SortArgs) -> list[int] | Tagged:
    """The UIDs of the searched messages in the order of ``args.criteria``: sorted by
    the store, which keeps the keys; here only when a held-back expunge is among them (its keys are
    gone from the store: it sorts with empty ones, at its place in the mailbox)."""
    selected = session.selected
    assert selected is not None
    uids = await _searched(session, command, args)
    if isinstance(uids, Tagged):
        return uids
    ordered: list[int] = []
    if not selected.any_expunged(uids):
        order = [(ORDER_KEYS[name], reverse) for name, reverse in args.criteria]
        ordered = await session.services.store.sort_order(selected.mailbox_id, uids, order) if uids else []
    if len(ordered) != len(uids):  # held back, or expunged since the search: keys gone
        items = await _keyed(session, command, args, uids, as_uid=True)
        return [item.number for item in sort_items(items, args.criteria)]
    return ordered


async def sort(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SortArgs)
    selected = session.selected
    assert selected is not None
    names = frozenset(args.returns or ())
    updating = "UPDATE" in names
    saving = "SAVE" in names
    if updating and (refused := context.reused(session, command)) is not None:
        return refused
    with_modseq = args.has_modseq
    if with_modseq:
        session.enable_condstore()  # RFC 7162 §3.1: a search with MODSEQ enables CONDSTORE
    try:
        uids = await _sorted(session, command, args)
    except BaseException:
        if saving:
            selected.save_result(())  # RFC 5182 §2.1: a SAVE that fails leaves "$" empty
        raise
    if isinstance(uids, Tagged):
        if saving:
            selected.save_result(())  # RFC 5182 §2.1 (BADCHARSET is a NO)
        return uids
    if saving:
        # RFC 5182 §2.4: MIN/MAX alone save just those (here the first and last in the sort order).
        selected.save_result(saved_part(names, uids, args.partial))
    numbers = (
        uids if command.uid else [n for n in map(_numbering(selected, len(uids)), uids) if n is not None]
    )
    # RFC 5182 §2.4: SAVE asks for no result data; alone (CONTEXT is a hint) it sends no ESEARCH.
    silent = names - {"CONTEXT"} == {"SAVE"} and args.partial is None
    if args.returns is None:
        # RFC 7162 §3.1.9: with a MODSEQ key, the highest mod-sequence of the messages returned.
        highest = max(map(selected.modseq_of, uids)) if with_modseq and uids else None
        session.send(encode_sort(numbers, highest))
    elif not silent:
        # RFC 4731 §3.1: RETURN () is RETURN (ALL), and so is RETURN (CONTEXT) (a hint, RFC 5267
        # §4.2); PARTIAL excludes ALL (RFC 5267 §4.4).
        wanted = set(names) - {"CONTEXT"} or ({"ALL"} if args.partial is None else set())
        extra: list[tuple[str, bytes]] = []
        if args.partial is not None:
            # RFC 9394 §3.1 (RFC 5267 §4.4): the range as asked, the results in it in the sort order.
            picked = args.partial.pick(numbers)
            found = bytes(ordered_set(picked)) if picked else b"NIL"
            extra.append(("PARTIAL", b"(" + args.partial.encode() + b" " + found + b")"))
        if with_modseq:
            # RFC 7162 §3.1.10: ESORT with a MODSEQ key carries the MODSEQ result option (RFC 4731
            # §3.2) of the messages it returns; MIN and MAX are the first and last sorted.
            extra += modseq_data(selected, uids, wanted, args.partial)
        session.send(
            ESearch(
                tag=command.tag,
                uid=command.uid,
                # RFC 5267 §3.1: MIN/MAX are the lowest and highest *sorted* messages.
                min=numbers[0] if "MIN" in wanted and numbers else None,
                max=numbers[-1] if "MAX" in wanted and numbers else None,
                all=ordered_set(numbers) if "ALL" in wanted and numbers else None,
                count=len(numbers) if "COUNT" in wanted else None,
                extra=extra,
            )
        )
    if updating:
        context.start(session, command, args.key, args.charset, uids, criteria=args.criteria)
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


async def thread(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, ThreadArgs)
    selected = session.selected
    assert selected is not None
    uids = await _searched(session, command, args)
    if isinstance(uids, Tagged):
        return uids
    kept, store = session.services.threads, session.services.store
    view = None
    if kept.keeps(len(uids)):
        try:
            view = store.current_view(selected.mailbox_id) or await store.open_view(selected.mailbox_id)
        except NotFound:  # deleted meanwhile: threaded as it is seen, below
            view = None
    if view is None:
        items = await _keyed(session, command, args, uids)
        session.send(_threads(args.algorithm, items))
        return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")
    # A big mailbox: the answer kept from an earlier THREAD over the same messages (kept_threads),
    # else built with UIDs for numbers and kept when every searched message still had its keys.
    body = kept.get(view, args.algorithm, uids)
    if body is None:
        items = await _keyed(session, command, args, uids, as_uid=True)
        body = _threads(args.algorithm, items)
        if len(items) == len(uids) and not any(item.keys is _EMPTY for item in items):
            kept.put(view, args.algorithm, uids, body)
    numbered = body if command.uid else renumber(body, _numbering(selected, len(uids)))
    if numbered is None:  # a searched message no longer numbered here (not expected): as before
        numbered = _threads(args.algorithm, await _keyed(session, command, args, uids))
    session.send(numbered)
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


def _numbering(selected: SelectedMailbox[MessageEntry], count: int) -> Callable[[int], int | None]:
    """Each UID's message number (None: not numbered here): ``seq_of`` for a few, a table for many
    (one dict built in C beats thousands of ``seq_of`` lookups)."""
    if count < _TABLE_MIN:
        return selected.seq_of
    return dict(zip(selected.uids, range(1, selected.exists + 1), strict=True)).get


def _threads(algorithm: str, items: list[Item]) -> bytes:
    """``* THREAD ...`` over the searched messages (RFC 5256 §3, §4)."""
    with _gc_paused():
        roots = ordered_subject(items) if algorithm == "ORDEREDSUBJECT" else references(items)
        return encode_threads(roots)


async def warm_thread(services: Services, mailbox_id: MailboxId, algorithm: str) -> None:
    """Another worker's client threaded this whole big mailbox: build and keep the same answer
    here, in the background, so that the next THREAD ... ALL of it in this worker finds it
    (kept_threads). Nothing is announced back."""
    if algorithm not in ALGORITHMS:
        return
    store, kept = services.store, services.threads
    view = await store.open_view(mailbox_id)
    uids = list(view.uids)
    if not kept.keeps(len(uids)) or kept.get(view, algorithm, uids) is not None:
        return
    rows = await store.sort_keys(mailbox_id, uids, _FIELDS[algorithm])
    if len(rows) != len(uids):  # expunged meanwhile: the next client's THREAD builds it
        return
    items = [Item(row.uid, seq, row.keys, row.internal_date, row.size) for seq, row in enumerate(rows, 1)]
    kept.put(view, algorithm, uids, _threads(algorithm, items), announce=False)
