"""SORT and THREAD in the IMAP core: arguments (whole and byte by byte), the orderings of RFC 5256 §3
and RFC 5957, ESORT's ordered sets (RFC 5267 §3.2), ORDEREDSUBJECT and REFERENCES threading and the
THREAD response; hypothesis checks that every message appears exactly once in a thread tree and that
References loops end."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.mime.sortkeys import SortKeys
from pochta.proto.imap import Receiver
from pochta.proto.imap.search import And, FlagKey, StringKey
from pochta.proto.imap.sort import Item, SortArgs, encode_sort, ordered_set, sort_items
from pochta.proto.imap.thread import Node, ThreadArgs, encode_threads, ordered_subject, references

# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sort_arguments(mode: str) -> None:
    command = only_command(
        b'a UID SORT (REVERSE DATE subject DisplayFrom) "utf-8" FROM "x y" UNSEEN\r\n', mode
    )
    assert command.name == "SORT"
    assert command.uid
    assert command.args == SortArgs(
        (("DATE", True), ("SUBJECT", False), ("DISPLAYFROM", False)),
        "utf-8",
        And((StringKey("FROM", b"x y"), FlagKey("UNSEEN"))),
    )
    assert not command.uses_sequence_numbers
    esort = only_command(b"a SORT RETURN (MIN COUNT) (ARRIVAL) US-ASCII 1:5\r\n", mode)
    assert isinstance(esort.args, SortArgs)
    assert esort.args.returns == ("MIN", "COUNT")
    assert esort.uses_sequence_numbers
    assert not esort.args.has_modseq
    nested = only_command(b"a SORT RETURN (ALL) (ARRIVAL) UTF-8 OR SEEN NOT MODSEQ 5\r\n", mode)
    assert isinstance(nested.args, SortArgs)
    assert nested.args.has_modseq  # RFC 7162 §3.1.10: anywhere in the program
    assert only_command(b"a SORT RETURN () (SIZE) UTF-8 ALL\r\n", mode).args == SortArgs(
        (("SIZE", False),), "UTF-8", And((FlagKey("ALL"),)), ()
    )
    # RFC 5182 §1: SAVE is a return option of SORT too, in any order and with PARTIAL
    saving = only_command(b"a UID SORT RETURN (save MIN PARTIAL 1:2) (SIZE) UTF-8 $\r\n", mode)
    assert isinstance(saving.args, SortArgs)
    assert saving.args.returns == ("SAVE", "MIN")
    assert saving.args.partial is not None
    assert saving.args.encode() == b" RETURN (SAVE MIN PARTIAL 1:2) (SIZE) UTF-8 $"


@pytest.mark.parametrize("mode", MODES)
def test_thread_arguments(mode: str) -> None:
    command = only_command(b"a THREAD references UTF-8 (SEEN 1:3)\r\n", mode)
    assert isinstance(command.args, ThreadArgs)
    assert command.args.algorithm == "REFERENCES"
    assert command.uses_sequence_numbers
    uid = only_command(b"a UID THREAD ORDEREDSUBJECT US-ASCII ALL\r\n", mode)
    assert uid.uid
    assert not uid.uses_sequence_numbers
    assert uid.encode() == b"a UID THREAD ORDEREDSUBJECT US-ASCII ALL\r\n"


@pytest.mark.parametrize(
    "line",
    [
        b"a SORT",
        b"a SORT (SUBJECT)",  # the charset is mandatory (RFC 5256 §5)
        b"a SORT (SUBJECT) UTF-8",  # and at least one search key
        b"a SORT () UTF-8 ALL",
        b"a SORT SUBJECT UTF-8 ALL",
        b"a SORT (SUBJECT UTF-8 ALL",
        b"a SORT (REVERSE) UTF-8 ALL",
        b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL",
        b"a SORT (SENDER) UTF-8 ALL",
        b"a SORT (SUBJECT)  UTF-8 ALL",
        b"a SORT RETURN (SAVE SAVE) (SUBJECT) UTF-8 ALL",  # each option once, as in SEARCH
        b"a SORT RETURN (SAVE FOO) (SUBJECT) UTF-8 ALL",
        b"a SORT RETURN (PARTIAL 1:*) (SUBJECT) UTF-8 ALL",  # RFC 5267 §5 partial-range: no "*"
        b"a SORT RETURN (PARTIAL 1:5 PARTIAL 2:3) (SUBJECT) UTF-8 ALL",
        b"a SORT RETURN (ALL PARTIAL 1:5) (SUBJECT) UTF-8 ALL",
        b"a SORT RETURN (UPDATE UPDATE) (SUBJECT) UTF-8 ALL",
        b"a SORT RETURN (MIN (SUBJECT) UTF-8 ALL",
        b"a SORT (SUBJECT) UTF-8 XYZZY",
        b"a THREAD",
        b"a THREAD REFERENCES",
        b"a THREAD REFERENCES UTF-8",
        b"a THREAD FOO UTF-8 ALL",
        b"a THREAD (REFERENCES) UTF-8 ALL",
        b"a UID THREAD REFERENCES UTF-8 UID",
    ],
)
def test_bad_sort_and_thread_syntax(line: bytes) -> None:
    receiver = Receiver()
    err = error(feed(receiver, line + b"\r\n"))
    assert err.reply.status.value == "BAD"


# -- SORT -------------------------------------------------------------------------------------------


def item(
    n: int, subject: str = "", sent: int | None = None, arrival: int = 0, size: int = 0, **keys: str
) -> Item:
    return Item(n, n, SortKeys(subject=subject, sent=sent, **keys), arrival, size)  # type: ignore[arg-type]


def numbers(items: list[Item]) -> list[int]:
    return [i.number for i in items]


def test_sort_ties_keep_mailbox_order_and_reverse_is_one_criterion() -> None:
    items = [item(1, "B", size=10), item(2, "A", size=30), item(3, "B", size=20), item(4, "A", size=30)]
    assert numbers(sort_items(items, [("SUBJECT", False)])) == [2, 4, 1, 3]
    # RFC 5256 §3: REVERSE does not reverse the implicit sequence-number criterion
    assert numbers(sort_items(items, [("SUBJECT", True)])) == [1, 3, 2, 4]
    assert numbers(sort_items(items, [("SUBJECT", False), ("SIZE", True)])) == [2, 4, 3, 1]
    assert numbers(sort_items(items, [("SIZE", True), ("SUBJECT", True)])) == [2, 4, 3, 1]
    assert numbers(sort_items(list(reversed(items)), [("ARRIVAL", False)])) == [1, 2, 3, 4]


def test_sent_date_falls_back_to_the_internal_date() -> None:
    # RFC 5256 §2.2: without a Date: the internal date is the sent date
    items = [item(1, sent=500), item(2, arrival=100), item(3, sent=100, arrival=900), item(4, sent=50)]
    assert numbers(sort_items(items, [("DATE", False)])) == [4, 2, 3, 1]
    assert numbers(sort_items(items, [("DATE", True)])) == [1, 2, 3, 4]


def test_sort_and_esort_encoding() -> None:
    assert encode_sort([5, 3, 4]) == b"* SORT 5 3 4\r\n"
    assert encode_sort([]) == b"* SORT\r\n"
    # RFC 7162 §3.1.9: with a MODSEQ key, the highest mod-sequence at the end; none when empty.
    assert encode_sort([5, 3], 17) == b"* SORT 5 3 (MODSEQ 17)\r\n"
    assert encode_sort([], 17) == b"* SORT\r\n"
    # RFC 5267 §3.2: ranges only where ascending; the order of the sort is kept
    assert bytes(ordered_set([23765, 23764, 23763, 23761])) == b"23765,23764,23763,23761"
    assert bytes(ordered_set([1, 2, 3, 7, 5, 6, 4])) == b"1:3,7,5:6,4"


# -- THREAD -----------------------------------------------------------------------------------------


def mail(
    n: int, mid: str | None, refs: str = "", subject: str = "", sent: int = 0, reply: bool = False
) -> Item:
    keys = SortKeys(subject=subject, reply=reply, sent=sent, message_id=mid, references=tuple(refs.split()))
    return Item(n, n, keys, 0, 0)


def threads(items: list[Item], algorithm: str = "REFERENCES") -> bytes:
    roots = references(items) if algorithm == "REFERENCES" else ordered_subject(items)
    return encode_threads(roots).removesuffix(b"\r\n")


def test_thread_response_examples() -> None:
    # RFC 5256 §4: "* THREAD (2)(3 6 (4 23)(44 7 96))"
    items = {n: mail(n, f"<{n}@x>", sent=n) for n in (2, 3, 6, 4, 23, 44, 7, 96)}

    def node(n: int, *children: Node) -> Node:
        made = Node(items[n])
        made.children = list(children)
        return made

    tree = [node(2), node(3, node(6, node(4, node(23)), node(44, node(7, node(96)))))]
    assert encode_threads(tree) == b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    dummy = Node()
    dummy.children = [node(3), node(5 if 5 in items else 7)]
    assert encode_threads([dummy]) == b"* THREAD ((3)(7))\r\n"
    assert encode_threads([]) == b"* THREAD\r\n"


def test_references_like_imaptest() -> None:
    # imaptest "thread": 2 references <a> and <c>; 3 (<c>) references 2 -- a loop once 3 is linked
    items = [
        mail(1, "<a@b>", sent=3),
        mail(2, "<b@b>", "<a@b> <c@b>", sent=1),
        mail(3, "<c@b>", "<b@b>", sent=2),
    ]
    assert threads(items) == b"* THREAD (3 2)(1)"
    # duplicate Message-IDs: only the first keeps it
    assert threads([mail(1, "<a@b>"), mail(2, "<a@b>")]) == b"* THREAD (1)(2)"
    # a parent that is absent: a dummy kept when it holds two children, promoted for one
    assert threads([mail(1, None, "<a@b>"), mail(2, None, "<a@b>")]) == b"* THREAD ((1)(2))"
    assert threads([mail(1, "<x@b>", "<a@b>"), mail(2, "<y@b>")]) == b"* THREAD (1)(2)"
    # subjects gather threads: a reply goes under the original
    items = [mail(1, "<a@b>", subject="FOO"), mail(2, "<b@b>", "<c@b>", subject="FOO", reply=True)]
    assert threads(items) == b"* THREAD (1 2)"
    # neither a reply: both under a new dummy
    items = [mail(1, "<a@b>", subject="FOO", sent=1), mail(2, "<b@b>", subject="FOO", sent=2)]
    assert threads(items) == b"* THREAD ((1)(2))"
    # siblings by sent date, the deepest first; ties by mailbox order
    items = [mail(1, "<1@b>", sent=9), mail(2, "<2@b>", "<1@b>", sent=5), mail(3, "<3@b>", "<1@b>", sent=4)]
    items.append(mail(4, "<4@b>", "<1@b> <2@b>", sent=4))
    assert threads(items) == b"* THREAD (1 (3)(2 4))"


def test_ordered_subject() -> None:
    items = [
        mail(1, None, subject="A", sent=10),
        mail(2, None, subject="B", sent=9),
        mail(3, None, subject="A", sent=8),
    ]
    items += [
        mail(4, None, subject="B", sent=7),
        mail(5, None, subject="", sent=1),
        mail(6, None, subject="", sent=2),
    ]
    assert threads(items, "ORDEREDSUBJECT") == b"* THREAD (5 6)(4 2)(3 1)"
    items.append(mail(7, None, subject="A", sent=30))
    assert threads(items, "ORDEREDSUBJECT") == b"* THREAD (5 6)(4 2)(3 (1)(7))"


def test_a_deep_chain_needs_no_recursion() -> None:
    count = 5000  # far deeper than Python's recursion limit
    items = [mail(1, "<0@x>")] + [mail(n + 1, f"<{n}@x>", f"<{n - 1}@x>", sent=n) for n in range(1, count)]
    answer = threads(items)
    assert answer == b"* THREAD (" + b" ".join(b"%d" % n for n in range(1, count + 1)) + b")"
    reversed_order = list(reversed(items))  # children delivered before their parents
    renumbered = [Item(i + 1, i + 1, x.keys, 0, 0) for i, x in enumerate(reversed_order)]
    assert threads(renumbered) == b"* THREAD (" + b" ".join(b"%d" % n for n in range(count, 0, -1)) + b")"


IDS = [f"<{n}@x>" for n in range(8)]


@st.composite
def mailboxes(draw: st.DrawFn) -> list[Item]:
    count = draw(st.integers(0, 12))
    out = []
    for n in range(1, count + 1):
        mid = draw(st.sampled_from([None, *IDS]))
        refs = draw(st.lists(st.sampled_from(IDS), max_size=5))  # loops and self-references included
        subject = draw(st.sampled_from(["", "A", "B"]))
        out.append(mail(n, mid, " ".join(refs), subject, draw(st.integers(0, 3)), draw(st.booleans())))
    return out


@given(mailboxes(), st.sampled_from(["REFERENCES", "ORDEREDSUBJECT"]))
def test_every_message_appears_exactly_once(items: list[Item], algorithm: str) -> None:
    answer = threads(items, algorithm)
    found = sorted(int(n) for n in re.findall(rb"\d+", answer))
    assert found == [i.number for i in items]
    # RFC 5256 §5 thread-list: balanced, no empty list, no dummy with a single child at the top
    body = answer.removeprefix(b"* THREAD").strip()
    depth = 0
    for char in body:
        depth += {ord("("): 1, ord(")"): -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert b"()" not in body
    assert not re.search(rb"(?:^|\))\(\(\d+\)\)", body)
