"""THREAD and UID THREAD (RFC 5256 §3): arguments, the ORDEREDSUBJECT and REFERENCES algorithms over
messages' stored sort keys, and the THREAD response.

Nothing here recurses: a reply chain thousands of messages deep is walked with explicit stacks, and a
References loop can never make a walk endless (links that would close a loop are not made, RFC 5256
§3 REFERENCES step 1, and every walk up a parent chain is bounded by the number of nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter

from pochta.proto.imap.search import And, encode_keys, parse_keys, uses_sequence_numbers
from pochta.proto.imap.sort import Item, parse_charset
from pochta.proto.imap.wire import Cursor, ParseError

ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")  # advertised as THREAD=<name>


@dataclass(frozen=True)
class ThreadArgs:
    """``THREAD algorithm charset search-key...`` (RFC 5256 §5 thread)."""

    algorithm: str
    charset: str
    key: And

    @property
    def uses_sequence_numbers(self) -> bool:
        return uses_sequence_numbers(self.key)

    def encode(self) -> bytes:
        return b" %s %s %s" % (self.algorithm.encode(), self.charset.encode(), encode_keys(self.key.keys))


def parse_thread(cur: Cursor, max_depth: int) -> ThreadArgs:
    cur.sp()
    algorithm = cur.keyword()
    if algorithm not in ALGORITHMS:
        raise ParseError(f"Unknown threading algorithm {algorithm[:40]}")
    cur.sp()
    charset = parse_charset(cur)
    cur.sp()
    return ThreadArgs(algorithm, charset, parse_keys(cur, max_depth))


_LEAF: list[Node] = []  # shared by every node without children, never appended to


class Node:
    """A message (``item``) or a dummy (``item`` None) in a thread tree."""

    __slots__ = ("children", "item", "key", "parent", "reply", "subject")

    def __init__(self, item: Item | None = None) -> None:
        self.item = item
        self.parent: Node | None = None
        self.children: list[Node] = _LEAF  # a list of its own once a child is linked (``_link``)
        # RFC 5256 §2.2 sent date, ties by mailbox order; a dummy's is its first child's, set once
        # its children are sorted (``_settle``)
        self.key = (item.sent, item.position) if item is not None else (0, 0)
        self.subject = item.keys.subject if item is not None else ""
        self.reply = item is not None and item.keys.reply

    def __repr__(self) -> str:
        return f"Node({'dummy' if self.item is None else self.item.number}, {len(self.children)} children)"


_KEY = attrgetter("key")  # a node's date key: RFC 5256 §2.2 sent date, ties by mailbox order


def ordered_subject(items: Sequence[Item]) -> list[Node]:
    """RFC 5256 §3 ORDEREDSUBJECT: sorted by base subject, then sent date; one thread per base
    subject whose first message is the parent of all the others; threads by their first's date."""
    ordered = sorted(items, key=lambda i: (i.keys.subject, i.sent, i.position))
    threads: list[Node] = []
    subject: str | None = None
    for item in ordered:
        node = Node(item)
        if threads and item.keys.subject == subject:
            _link(threads[-1], node)
        else:
            threads.append(node)
            subject = item.keys.subject
    threads.sort(key=_KEY)
    return threads


def _link(parent: Node, child: Node) -> None:
    child.parent = parent
    if parent.children is _LEAF:
        parent.children = [child]  # most messages never have a child: no list for them
    else:
        parent.children.append(child)


def _unlink(child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
        child.parent = None


def _is_ancestor(node: Node, of: Node) -> bool:
    """``node`` is ``of`` or one of its ancestors: linking ``node`` under ``of`` would close a loop.
    The parent chain has no loop (none is ever linked), so the walk ends."""
    walk: Node | None = of
    while walk is not None:
        if walk is node:
            return True
        walk = walk.parent
    return False


def _would_loop(parent: Node, child: Node) -> bool:
    # RFC 5256 §3 REFERENCES step 1.A: "before making message A the parent of B, make sure that A is
    # not a descendent of B". A child without children has no descendants: no walk needed.
    return parent is child or (bool(child.children) and _is_ancestor(child, parent))


def references(items: Sequence[Item]) -> list[Node]:
    """RFC 5256 §3 REFERENCES, steps 1 to 6, over the searched messages in mailbox order."""
    nodes = [Node(item) for item in items]
    by_id: dict[str, Node] = {}
    for node in nodes:
        assert node.item is not None
        mid = node.item.keys.message_id
        # Step 1.A: a missing, invalid or duplicate Message-ID gets a unique one (is not looked up).
        if mid is not None and mid not in by_id:
            by_id[mid] = node
    order: list[Node] = list(nodes)  # every node, dummies appended as they are made

    def lookup(mid: str) -> Node:
        found = by_id.get(mid)
        if found is None:  # "create a dummy message with this ID"
            found = by_id[mid] = Node()
            order.append(found)
        return found

    for node in nodes:
        assert node.item is not None
        mids = node.item.keys.references
        if not mids and node.parent is None:
            continue  # no references, no parent: nothing to link (most messages)
        refs = [lookup(mid) for mid in mids]
        for parent, child in pairwise(refs):
            # Step 1.A: keep an existing link (References may have been truncated); no loops.
            if child.parent is None and not _would_loop(parent, child):
                _link(parent, child)
        # Step 1.B: the last reference is the parent; break a link made before, then link (no loop).
        last = refs[-1] if refs else None
        if node.parent is not last:
            _unlink(node)
            if last is not None and not _would_loop(last, node):
                _link(last, node)
    dummies = order[len(nodes) :]
    roots = _prune([node for node in order if node.parent is None], dummies)  # steps 2 and 3
    for root in roots:  # step 4
        if root.item is None:
            _settle(root)
    roots.sort(key=_KEY)
    roots = _merge_subjects(roots)  # step 5
    _sort_siblings(nodes, roots)  # step 6
    return roots


def _prune(roots: list[Node], dummies: Sequence[Node]) -> list[Node]:
    """Step 3: a dummy without children goes; one with children is replaced by them, except at the
    top where that would make siblings of the root's children out of more than one child. Only the
    dummies are visited: splicing one into its parent is local, so their order does not matter (a
    dummy spliced among its parent's children is spliced again when its own turn comes)."""
    for dummy in dummies:
        parent = dummy.parent
        if parent is None:
            continue
        at = parent.children.index(dummy)
        parent.children[at : at + 1] = dummy.children
        for child in dummy.children:
            child.parent = parent
        dummy.children, dummy.parent = _LEAF, None
    top: list[Node] = []
    for root in roots:
        if root.item is not None:
            top.append(root)
            continue
        # A dummy at the top: its nested dummies are gone (spliced above), the children are final.
        if len(root.children) > 1:
            top.append(root)
        elif root.children:
            only = root.children[0]
            only.parent = None
            top.append(only)
    return top


def _settle(dummy: Node) -> None:
    """A dummy's children by date, and its date key their first's (RFC 5256 §3 steps 4 and 6)."""
    dummy.children.sort(key=_KEY)
    dummy.key = dummy.children[0].key


def _thread_subject(node: Node) -> str:
    return node.subject if node.item is not None else node.children[0].subject


def _is_reply(node: Node) -> bool:
    return node.reply


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """Step 5: threads whose subjects match are gathered under one parent."""
    table: dict[str, Node] = {}
    for node in roots:  # (B)
        subject = _thread_subject(node)
        if not subject:
            continue
        held = table.get(subject)
        if held is None or (
            held.item is not None and (node.item is None or (_is_reply(held) and not _is_reply(node)))
        ):
            table[subject] = node
    top: list[Node | None] = list(roots)
    place = {id(node): i for i, node in enumerate(roots)}  # root position of each thread
    for node in roots:  # (C)
        subject = _thread_subject(node)
        held = table.get(subject) if subject else None
        if held is None or held is node:
            continue
        top[place.pop(id(node))] = None
        if held.item is None and node.item is None:
            for child in node.children:
                _link(held, child)
        elif held.item is None or (_is_reply(node) and not _is_reply(held)):
            _link(held, node)
        else:
            dummy = Node()
            where = place.pop(id(held))
            top[where], place[id(dummy)] = dummy, where
            _link(dummy, held)
            _link(dummy, node)
            table[subject] = dummy
    return [node for node in top if node is not None]


def _sort_siblings(nodes: Sequence[Node], roots: list[Node]) -> None:
    """Step 6: every set of siblings by sent date, the deepest first; a dummy by its first child.
    Dummies are only at the top (steps 3 and 5 leave none below), so a message's siblings sort by
    their own dates whatever the order, and the top's dummies sort their children before the top."""
    for node in nodes:
        if len(node.children) > 1:
            node.children.sort(key=_KEY)
    for root in roots:
        if root.item is None:
            _settle(root)
    roots.sort(key=_KEY)


def encode_threads(roots: Sequence[Node]) -> bytes:
    """RFC 5256 §4 thread-data: ``* THREAD`` and one thread-list per root, without recursion."""
    out = [b"* THREAD"]
    if roots:
        out.append(b" ")
    # Work items: a node whose thread-list to write, or literal bytes.
    todo: list[Node | bytes] = []
    for root in reversed(roots):
        todo += [b")", root, b"("]
    while todo:
        item = todo.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        # A chain of single children is written as "a b c"; a split as "(..)(..)" after it.
        node: Node = item
        first = True
        while True:
            if node.item is not None:
                out.append(b"%s%d" % (b"" if first else b" ", node.item.number))
                first = False
            if len(node.children) == 1 and node.item is not None:
                node = node.children[0]
                continue
            break
        if node.children:
            if not first:
                out.append(b" ")
            for child in reversed(node.children):
                todo += [b")", child, b"("]
    out.append(b"\r\n")
    return b"".join(out)
