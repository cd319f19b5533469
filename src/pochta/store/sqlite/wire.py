"""Stored IMAP wire forms of messages (table ``message_wire``, revision 0009; DESIGN principle 4).

Delivery writes each new message's ENVELOPE, BODY and BODYSTRUCTURE as octets
(``pochta.mime.imapform.wire_forms``), in the delivery's transaction; the row goes with the message.
FETCH reads them by message id (``read_forms``: the session's view knows the ids of the messages it
numbers, so the read seeks this table's primary key alone, no membership join) and sends them as
they are.
A message without a row of the current ``WIRE_VERSION`` (stored before revision 0009, or by a version
whose forms differ) reads as None: the caller computes it from the parse record, and ``pochta
reconstruct`` writes the row (``replace_forms``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from pochta.mime.imapform import WIRE_VERSION, WireForms

__all__ = [
    "FORM_NAMES",
    "forget_forms",
    "form_column",
    "read_forms",
    "replace_forms",
    "store_forms",
    "stored_forms",
]

# FETCH item -> column (and the column a UTF-8 session reads first: NULL there means the same octets).
FORM_NAMES = ("ENVELOPE", "BODY", "BODYSTRUCTURE")
_COLUMNS = {"ENVELOPE": "envelope", "BODY": "body", "BODYSTRUCTURE": "bodystructure"}

_SQL_INSERT = (
    "INSERT INTO message_wire (message_id, version, envelope, body, bodystructure, envelope_utf8, "
    "body_utf8, bodystructure_utf8) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_REPLACE = _SQL_INSERT.replace("INSERT", "INSERT OR REPLACE", 1)
_SQL_FORGET = "DELETE FROM message_wire WHERE message_id IN (SELECT value FROM json_each(?))"
_SQL_FORGET_ORPHANS = "DELETE FROM message_wire WHERE message_id NOT IN (SELECT id FROM messages)"
_SQL_STORED = (
    "SELECT version, envelope, body, bodystructure, envelope_utf8, body_utf8, bodystructure_utf8 "
    "FROM message_wire WHERE message_id = ?"
)
# A message without a current row has none here: the caller computes its forms.
_SQL_READ = (
    "SELECT w.message_id, {columns} FROM message_wire AS w "
    "WHERE w.version = {version} AND w.message_id IN ({marks})"
)
# Ids per statement: an IN list of this many parameters is one statement text for every full chunk
# (sqlite3 caches prepared statements by text), far below SQLite's variable limit.
IDS_PER_STATEMENT = 512


def _params(message_id: int, forms: WireForms) -> tuple[Any, ...]:
    return (
        message_id,
        WIRE_VERSION,
        forms.envelope,
        forms.body,
        forms.bodystructure,
        forms.envelope_utf8,
        forms.body_utf8,
        forms.bodystructure_utf8,
    )


def store_forms(raw: sqlite3.Connection, message_id: int, forms: WireForms) -> None:
    """In the transaction that inserts the message row."""
    raw.execute(_SQL_INSERT, _params(message_id, forms))


def replace_forms(raw: sqlite3.Connection, message_id: int, forms: WireForms) -> None:
    """``pochta reconstruct``: write the row whatever was there."""
    raw.execute(_SQL_REPLACE, _params(message_id, forms))


def stored_forms(raw: sqlite3.Connection, message_id: int) -> WireForms | None:
    """The current row of a message (None: none, or of another version)."""
    row = raw.execute(_SQL_STORED, (message_id,)).fetchone()
    if row is None or row[0] != WIRE_VERSION:
        return None
    envelope, body, structure, envelope_utf8, body_utf8, structure_utf8 = row[1:]
    return WireForms(
        bytes(envelope),
        bytes(body),
        bytes(structure),
        _optional(envelope_utf8),
        _optional(body_utf8),
        _optional(structure_utf8),
    )


def _optional(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


def forget_forms(raw: sqlite3.Connection, dead: Sequence[int] | None) -> None:
    """In the transaction that deletes these message rows (None: every row whose message is gone)."""
    if dead is None:
        raw.execute(_SQL_FORGET_ORPHANS)
    elif dead:
        raw.execute(_SQL_FORGET, ("[" + ",".join(map(str, dead)) + "]",))


def form_column(name: str, utf8: bool) -> str:
    column = "w." + _COLUMNS[name]
    # RFC 6855 §3: a UTF-8 session gets its own octets where they differ (NULL: the same).
    return f"coalesce({column}_utf8, {column})" if utf8 else column


def read_forms(
    raw: sqlite3.Connection, message_ids: Iterable[int], names: Sequence[str], utf8: bool
) -> list[tuple[Any, ...]]:
    """``(message_id, form, ...)`` for the messages of ``message_ids`` that have a current row, in no
    particular order, one form per name of ``names`` (of ``FORM_NAMES``) as the session gets it."""
    columns = ", ".join(form_column(name, utf8) for name in names)
    ids = list(dict.fromkeys(message_ids))  # a message copied within one mailbox is there twice
    result: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        chunk = ids[start : start + IDS_PER_STATEMENT]
        sql = _SQL_READ.format(columns=columns, version=WIRE_VERSION, marks=",".join("?" * len(chunk)))
        result.extend(raw.execute(sql, chunk).fetchall())
    return result
