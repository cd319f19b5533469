"""Stored IMAP wire forms of messages (table ``message_wire``, revision 0009; DESIGN principle 4).

Delivery writes each new message's ENVELOPE, BODY and BODYSTRUCTURE as octets
(``pochta.mime.imapform.wire_forms``), in the delivery's transaction; the row goes with the message.
FETCH reads them for a chunk of UIDs in one statement (``read_forms``) and sends them as they are.
A message without a row of the current ``WIRE_VERSION`` (stored before revision 0009, or by a version
whose forms differ) reads as None: the caller computes it from the parse record, and ``pochta
reconstruct`` writes the row (``replace_forms``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from pochta.mime.imapform import WIRE_VERSION, WireForms
from pochta.store import sqlite_mail as mail  # a module import: sqlite_mail imports this one too
from pochta.store.model import MailboxId, Uid

__all__ = ["FORM_NAMES", "forget_forms", "read_forms", "replace_forms", "store_forms", "stored_forms"]

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
# The LEFT JOIN keeps messages without a current row: their forms read as NULL.
_SQL_READ = (
    "SELECT m.uid, {columns} FROM membership AS m LEFT JOIN message_wire AS w "
    "ON w.message_id = m.message_id AND w.version = {version} "
    "WHERE m.mailbox_id = ? AND ({condition}) ORDER BY m.uid"
)


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


def _column(name: str, utf8: bool) -> str:
    column = "w." + _COLUMNS[name]
    # RFC 6855 §3: a UTF-8 session gets its own octets where they differ (NULL: the same).
    return f"coalesce({column}_utf8, {column})" if utf8 else column


def read_forms(
    raw: sqlite3.Connection, mailbox_id: MailboxId, uids: Iterable[Uid], names: Sequence[str], utf8: bool
) -> list[tuple[Any, ...]]:
    """``(uid, form, ...)`` for the UIDs that exist, in UID order, one form per name of ``names``
    (of ``FORM_NAMES``) as the session gets it; None where the message has no current row."""
    columns = ", ".join(_column(name, utf8) for name in names)
    ranges = mail.uid_ranges(mail.normalize_uids(uids))
    result: list[tuple[Any, ...]] = []
    step = mail.RANGES_PER_STATEMENT
    for start in range(0, len(ranges), step):
        condition, params = mail.uid_condition_sql(ranges[start : start + step])
        sql = _SQL_READ.format(columns=columns, version=WIRE_VERSION, condition=condition)
        result.extend(raw.execute(sql, (mailbox_id, *params)).fetchall())
    return result
