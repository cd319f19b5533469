"""CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 §4): CANCELUPDATE's syntax, the diff into REMOVEFROM and
ADDTO runs, and the whole update path (``SelectedMailbox`` + ``server.imap.context.updates``) against
a fresh search after every step of random deliveries, flag changes and expunges: the client's result
with the updates applied equals what the search finds now, in both numberings and for SORT."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command
from test_selected import MAILBOX_ID, changes, entry, info

from pochta.proto.imap import Receiver, State
from pochta.proto.imap.context import CancelUpdate, SearchContexts, UpdateContext, diff
from pochta.proto.imap.responses import ESearch, Exists, Expunge, Response, serialise
from pochta.proto.imap.search import And, parse_keys
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.wire import Assembled, Cursor
from pochta.server.imap import context
from pochta.server.imap.search_eval import evaluate
from pochta.store.model import MailboxView, MessageEntry

# --- CANCELUPDATE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_cancelupdate_parses_quoted_tags(mode: str) -> None:
    command = only_command(b'a CANCELUPDATE "B01" "x.2"\r\n', mode)
    assert command.args == CancelUpdate((b"B01", b"x.2"))
    assert command.encode() == b'a CANCELUPDATE "B01" "x.2"\r\n'


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "line", [b"a CANCELUPDATE\r\n", b"a CANCELUPDATE B01\r\n", b'a CANCELUPDATE "B01" \r\n']
)
def test_cancelupdate_needs_quoted_tags(mode: str, line: bytes) -> None:
    receiver = Receiver()
    receiver.state = State.SELECTED
    assert error(feed(receiver, line, mode)).reply.encode().startswith(b"a BAD ")


# --- the diff ---------------------------------------------------------------------------------------


def apply(result: list[int], response: ESearch, sorted_: bool) -> list[int]:
    """What a client does with the ADDTO/REMOVEFROM of one ESEARCH (RFC 5267 §4.3.3, §4.3.4)."""
    out = list(result)
    for name, value in response.extra:
        pairs = re.findall(rb"(\d+) ([\d:,]+)", value)
        for position, items in pairs:
            numbers = expand(items)
            if name == "REMOVEFROM":
                if int(position) == 0:
                    assert not sorted_
                    out = [n for n in out if n not in numbers]
                else:
                    at = int(position) - 1
                    assert out[at : at + len(numbers)] == numbers  # the run sits at that position
                    del out[at : at + len(numbers)]
            else:
                assert name == "ADDTO"
                if int(position) == 0:
                    assert not sorted_
                    out = sorted({*out, *numbers})  # mailbox order
                else:
                    at = int(position) - 1
                    assert at <= len(out)
                    out[at:at] = numbers
    return out


def expand(items: bytes) -> list[int]:
    """A sequence set in the order written (RFC 5267 §3.2: ranges only where ascending)."""
    out: list[int] = []
    for part in items.split(b","):
        low, _, high = part.partition(b":")
        out.extend(range(int(low), int(high or low) + 1))
    return out


@st.composite
def reorderings(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """An old order and a new one keeping the survivors' relative order (sort keys never change)."""
    old = draw(st.lists(st.integers(1, 60), unique=True, max_size=25))
    kept = [u for u in old if draw(st.booleans())]
    new = list(kept)
    for uid in draw(st.lists(st.integers(61, 120), unique=True, max_size=10)):
        new.insert(draw(st.integers(0, len(new))), uid)
    return old, new


@given(reorderings())
def test_diff_runs_turn_the_old_order_into_the_new(case: tuple[list[int], list[int]]) -> None:
    old, new = case
    context_ = UpdateContext(b"t", True, And(()), None, (("SUBJECT", False),), set(old), list(old))
    response = context_.update(new, lambda u: None)
    got = old if response is None else apply(old, response, sorted_=True)
    assert got == new
    removals, additions = diff(old, new)
    assert sum(len(r) for _, r in removals) == len(set(old) - set(new))
    assert sum(len(r) for _, r in additions) == len(set(new) - set(old))


def test_rfc_5267_examples() -> None:
    # §4.3.3: a result of 2734:2735 and ADDTO (1 2731:2733) gives 2731:2735.
    assert apply([2734, 2735], ESearch(extra=[("ADDTO", b"(1 2731:2733)")]), True) == list(range(2731, 2736))
    context_ = UpdateContext(b"B01", True, And(()), None, None, {1, 5})
    response = context_.update([1, 5, 32768, 32769], lambda u: None)
    assert response is not None
    assert serialise(response) == b'* ESEARCH (TAG "B01") UID ADDTO (0 32768:32769)\r\n'
    response = context_.update([1, 5, 32769], lambda u: None)
    assert response is not None
    assert serialise(response) == b'* ESEARCH (TAG "B01") UID REMOVEFROM (0 32768)\r\n'
    assert context_.update([1, 5, 32769], lambda u: None) is None  # no change, nothing said


def test_contexts_cancel_and_dropping() -> None:
    contexts = SearchContexts()
    contexts.add(UpdateContext(b"a", False, And(()), None, None, {3, 7}))
    contexts.add(UpdateContext(b"b", True, And(()), None, (("ARRIVAL", True),), {3, 9}, [9, 3]))
    contexts.touch(7)
    told = contexts.dropping([3, 7], {3: 2, 7: 4, 9: 5}.get)
    assert [serialise(r) for r in told] == [
        b'* ESEARCH (TAG "a") REMOVEFROM (0 2,4)\r\n',  # message numbers, before the EXPUNGE
        b'* ESEARCH (TAG "b") UID REMOVEFROM (2 3)\r\n',  # UIDs, at its sort position
    ]
    assert contexts.take_touched() == set()  # dropped: nothing left to re-evaluate
    assert contexts.cancel([b"a", b"zz"]) == [b"zz"]
    assert len(contexts) == 1
    assert b"b" in contexts
    assert b"a" not in contexts


# --- the update path against a fresh search ---------------------------------------------------------

FLAGS = ("\\Seen", "\\Flagged", "\\Deleted", "$Junk")
PROGRAMS = [
    b"SEEN",
    b"UNSEEN FLAGGED",
    b"OR SEEN NOT KEYWORD $Junk",
    b"NOT (DELETED OR FLAGGED SEEN)",
    b"UID 3:*",  # the highest UID moves: re-run whole
    b"2:4 UNDELETED",  # numbers frozen to the UIDs they named at the start
    b"ALL",
]


class SortingStore:
    """What ``updates`` asks of a store for SORT contexts and flag-only programs: ``sort_order``
    (here REVERSE ARRIVAL: descending UIDs); any other call fails the test."""

    async def sort_order(
        self, mailbox_id: int, uids: Iterable[int], order: Sequence[tuple[str, bool]]
    ) -> list[int]:
        assert mailbox_id == MAILBOX_ID
        assert list(order) == [("arrival", True)]
        return sorted(uids, reverse=True)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected store call {name}")


def program(text: bytes) -> And:
    return parse_keys(Cursor(Assembled([text])), 64)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[frozenset[str]], list[tuple[str, int, str]]]:
    start = draw(st.lists(st.frozensets(st.sampled_from(FLAGS), max_size=2), min_size=0, max_size=8))
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["deliver", "flag", "unflag", "expunge", "report", "report-held", "own"]),
                st.integers(0, 30),
                st.sampled_from(FLAGS),
            ),
            max_size=25,
        )
    )
    return start, steps


def number_of(selected: SelectedMailbox[MessageEntry], uid: bool) -> Any:
    return (lambda u: u) if uid else selected.seq_of


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from(PROGRAMS), st.booleans(), st.booleans())
# The highest UID expunged under "UID 3:*": the range names UID 1 afterwards (found by hypothesis).
@example(([frozenset(), frozenset()], [("expunge", 1, "\\Seen")]), b"UID 3:*", False, False)
def test_updates_applied_equal_a_fresh_search(
    history: tuple[list[frozenset[str]], list[tuple[str, int, str]]], text: bytes, by_uid: bool, sort: bool
) -> None:
    start, steps = history
    asyncio.run(_run(start, steps, program(text), by_uid, sort))


async def _run(
    start: list[frozenset[str]], steps: list[tuple[str, int, str]], searched: And, by_uid: bool, sort: bool
) -> None:
    store: Any = SortingStore()
    mailbox: dict[int, frozenset[str]] = {uid: flags for uid, flags in enumerate(start, 1)}
    selected = SelectedMailbox(
        MailboxView.from_entries(info(1), [entry(u, f) for u, f in mailbox.items()]),
        read_only=False,
        rev1=False,
    )
    modseq = 1
    criteria = (("ARRIVAL", True),) if sort else None

    async def fresh() -> list[int]:
        found = [u for u in await evaluate(store, selected, frozen_program) if not selected.is_expunged(u)]
        return sorted(found, reverse=True) if sort else found

    found = await evaluate(store, selected, searched)
    result = sorted(found, reverse=True) if sort else found
    ctx = context.add(selected, b"t", by_uid, searched, None, result, criteria)
    frozen_program = ctx.program
    # The client's view of the result, in its own terms (UIDs, or message numbers it renumbers).
    number = number_of(selected, by_uid)
    client = [number(u) for u in result]

    def tell(responses: Iterable[Response]) -> None:
        nonlocal client
        for response in responses:
            if isinstance(response, ESearch):
                client = apply(client, response, sorted_=sort)
            elif isinstance(response, Expunge) and not by_uid:
                assert response.seq not in client  # REMOVEFROM came first (RFC 5267 §4.3.4)
                client = [n - 1 if n > response.seq else n for n in client]
            else:
                assert isinstance(response, Exists | Expunge) or type(response).__name__ == "Fetch"

    for action, index, flag in steps:
        uids = sorted(mailbox)
        if action == "deliver":
            modseq += 1
            uid = max([*mailbox, selected.max_uid, 0]) + 1
            mailbox[uid] = frozenset({flag}) if index % 2 else frozenset()
            selected.absorb(changes(modseq, [entry(uid, mailbox[uid], modseq)]))
        elif action in ("flag", "unflag", "own") and uids:
            uid = uids[index % len(uids)]
            modseq += 1
            mailbox[uid] = mailbox[uid] | {flag} if action != "unflag" else mailbox[uid] - {flag}
            change = changes(modseq, [entry(uid, mailbox[uid], modseq)])
            if action == "own" and selected.seq_of(uid) is not None and not selected.is_expunged(uid):
                modseq = max(modseq, selected.highestmodseq + 1)
                change = changes(modseq, [entry(uid, mailbox[uid], modseq)])
                tell(selected.apply_own(change))
            else:
                selected.absorb(change)
        elif action == "expunge" and uids:
            uid = uids[index % len(uids)]
            del mailbox[uid]
            modseq += 1
            selected.absorb(changes(modseq, expunged=[uid]))
        elif action in ("report", "report-held"):
            tell(selected.updates(allow_expunge=action == "report", include_uid=by_uid))
            tell(await context.updates(store, selected))
            number = number_of(selected, by_uid)
            assert client == [number(u) for u in await fresh()]
    tell(selected.updates(allow_expunge=True, include_uid=by_uid))
    tell(await context.updates(store, selected))
    number = number_of(selected, by_uid)
    assert client == [number(u) for u in await fresh()]
