"""The messages of the peer channel (``server.peers``), whatever carries them: their JSON form, the
``changes`` message's encoding, and which kinds stay on one node.

A ``changes`` message is cut to a size its transport carries (``encode_changes``): a UNIX datagram
takes 64 KiB, a PostgreSQL ``NOTIFY`` payload less than 8000 octets (``split_to_fit`` cuts what
still exceeds that, measured on the encoded form).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pochta.store.model import AccountId, Change, ChangeKind, MailboxId, ModSeq

__all__ = ["NODE_LOCAL_KINDS", "Message", "decode_changes", "dumps", "encode_changes", "split_to_fit"]

Message = dict[str, Any]
CHANGES_PER_DATAGRAM = 400  # ~40 octets each: far below a datagram's 64 KiB
NAMES_PER_DATAGRAM = 16384  # octets of METADATA entry names (JSON may double some): below it too

# Head starts for caches of one process's SQLite store and of its IMAP threads: a peer reads what
# a client of ours read, so that the client's next connection finds it kept wherever it lands
# (server/peers.py says why they do not cross nodes).
NODE_LOCAL_KINDS = frozenset({"view", "snapshot", "forms", "order", "thread"})


def dumps(message: Message) -> str:
    """The wire form: compact JSON, ASCII only (a NOTIFY payload is text in the database's encoding)."""
    return json.dumps(message, separators=(",", ":"))


def encode_changes(
    changes: Sequence[Change],
    per_message: int = CHANGES_PER_DATAGRAM,
    names_octets: int = NAMES_PER_DATAGRAM,
) -> list[Message]:
    """Changes as one or more ``changes`` messages (UIDs left out: the feed is a wake-up signal;
    METADATA entry names kept, NOTIFY tells them). A message has at most ``per_message`` changes
    and about ``names_octets`` octets of entry names (a change naming more is sent as several
    changes, each with a part of its names)."""
    messages: list[Message] = []
    rows: list[list[Any]] = []
    size = 0
    for c in changes:
        head = [c.kind.value, int(c.account_id), int(c.mailbox_id), int(c.modseq)]
        for names in _name_parts(c.entries, names_octets):
            cost = sum(len(n) + 4 for n in names)
            if rows and (len(rows) >= per_message or size + cost > names_octets):
                messages.append({"t": "changes", "c": rows})
                rows, size = [], 0
            rows.append([*head, list(names)] if names else head)
            size += cost
    if rows:
        messages.append({"t": "changes", "c": rows})
    return messages


def _name_parts(names: tuple[str, ...], limit: int) -> list[tuple[str, ...]]:
    """``names`` cut into parts of at most about ``limit`` octets (one: ``()``)."""
    parts: list[tuple[str, ...]] = []
    part: list[str] = []
    size = 0
    for name in names:
        if part and size + len(name) + 4 > limit:
            parts.append(tuple(part))
            part, size = [], 0
        part.append(name)
        size += len(name) + 4
    parts.append(tuple(part))
    return parts


def decode_changes(message: Message) -> list[Change]:
    out = []
    for kind, account, mailbox, modseq, *names in message["c"]:
        entries = tuple(str(n) for n in names[0]) if names else ()
        out.append(
            Change(ChangeKind(kind), AccountId(account), MailboxId(mailbox), ModSeq(modseq), entries=entries)
        )
    return out


def split_to_fit(message: Message, limit: int) -> list[str] | None:
    """``message`` as encoded messages of at most ``limit`` octets each, in order: a ``changes``
    message is halved (its changes, then one change's entry names) until each part fits. None when
    it cannot be cut to fit (an entry name or another kind of message longer than ``limit``)."""
    encoded = dumps(message)
    if len(encoded) <= limit:
        return [encoded]
    if message.get("t") != "changes":
        return None
    rows: list[list[Any]] = message["c"]
    if len(rows) > 1:
        halves = [rows[: len(rows) // 2], rows[len(rows) // 2 :]]
    elif len(rows) == 1 and len(rows[0]) == 5 and len(rows[0][4]) > 1:
        head, names = rows[0][:4], rows[0][4]
        halves = [[[*head, names[: len(names) // 2]]], [[*head, names[len(names) // 2 :]]]]
    else:
        return None
    out: list[str] = []
    for half in halves:
        part = split_to_fit({"t": "changes", "c": half}, limit)
        if part is None:
            return None
        out.extend(part)
    return out
