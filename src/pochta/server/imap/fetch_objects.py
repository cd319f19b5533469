"""FETCH EMAILID, THREADID (RFC 8474 §5.3), SAVEDATE (RFC 8514 §4.2) and PREVIEW (RFC 8970 §3).

One store read per chunk of messages (``store.message_objects``) gives all four; nothing is parsed:
the preview is the one the delivery parse computed and kept in the parse record (``mime.text``).

- THREADID: threads are assigned by the background indexer (``store.sqlite_threads``); a message it
  has not reached yet has the mailbox threaded first (``store.thread_now``), so THREADID is never NIL
  for a message the store holds (RFC 8474 §5.2 reserves NIL for a server that does not thread at all).
- SAVEDATE: in UTC; rows stored before the save date was kept answer their internal date (the
  mailbox supports save dates, so NIL, which RFC 8514 §4.2 gives to storage without them, would
  mislead; see docs/imap.md).
- PREVIEW: the stored preview cut to ``PREVIEW_CHARS``; with LAZY (RFC 8970 §4.1) a message without a
  readable stored preview (a damaged parse record) is NIL, without LAZY it is computed from the blob
  now (RFC 8970 §3.2: never NIL without LAZY).
- A message expunged by another session and not yet reported (RFC 9051 §7.5.1) has no row: its
  EMAILID comes from the session's view, its SAVEDATE is its internal date, THREADID is NIL and
  PREVIEW the parse of its blob while that exists ("" after).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from pochta.mime import parse_message
from pochta.mime.text import collapse
from pochta.proto.imap import objectid
from pochta.proto.imap.fetch import FetchAtt
from pochta.proto.imap.responses import Body, FetchValue, Raw
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap.session import Session
from pochta.store.api import NotFound
from pochta.store.model import BlobRef, MessageEntry, ObjectRow

__all__ = ["OBJECT_ITEMS", "object_values"]

OBJECT_ITEMS = frozenset({"EMAILID", "THREADID", "SAVEDATE", "PREVIEW"})
# RFC 8970 §3.3: the server SHOULD limit the preview to 200 characters (MUST NOT exceed 256).
PREVIEW_CHARS = 200

Values = dict[int, dict[str, FetchValue]]


def _id(prefix: str, number: int) -> Raw:
    # RFC 8474 §7: "EMAILID" SP "(" objectid ")", the same for THREADID.
    return Raw(b"(" + objectid.objectid(prefix, number).encode("ascii") + b")")


def cut_preview(text: str) -> str:
    """RFC 8970 §3.3: at most ``PREVIEW_CHARS`` characters (not octets: UTF-8 is never split)."""
    return collapse(text, PREVIEW_CHARS) if len(text) > PREVIEW_CHARS else text


async def object_values(
    session: Session, selected: SelectedMailbox[MessageEntry], uids: Sequence[int], atts: Sequence[FetchAtt]
) -> Values:
    """``uid -> {item: value}`` for the object items among ``atts`` (empty when none is asked)."""
    names = {att.name for att in atts if att.name in OBJECT_ITEMS}
    if not names:
        return {}
    lazy = any(att.name == "PREVIEW" and "LAZY" in att.modifiers for att in atts)
    store = session.services.store
    live = [uid for uid in uids if not selected.is_expunged(uid)]
    preview = "PREVIEW" in names
    rows = await store.message_objects(selected.mailbox_id, live, preview=preview) if live else []
    if "THREADID" in names and any(row.thread_id is None for row in rows):
        await store.thread_now(selected.mailbox_id)
        rows = await store.message_objects(selected.mailbox_id, live, preview=preview)
    found: dict[int, ObjectRow] = {row.uid: row for row in rows}
    values: Values = {}
    recompute: list[tuple[int, BlobRef]] = []
    for uid in uids:
        entry = selected.entry(uid)
        if entry is None:  # pragma: no cover - resolve() returns numbered UIDs only
            continue
        row = found.get(uid)
        item: dict[str, FetchValue] = {"EMAILID": _id(objectid.EMAIL, entry.message_id)}
        if row is None:
            item["THREADID"] = Raw(b"NIL")
            item["SAVEDATE"] = entry.internal_date
        else:
            item["THREADID"] = Raw(b"NIL") if row.thread_id is None else _id(objectid.THREAD, row.thread_id)
            item["SAVEDATE"] = datetime.fromtimestamp(row.save_date, UTC)  # RFC 8514 §4.2
        if preview:
            if row is not None and row.preview is not None:
                item["PREVIEW"] = cut_preview(row.preview)
            elif lazy:
                item["PREVIEW"] = Body(None)  # RFC 8970 §4.1: NIL, "without undue delay"
            else:
                recompute.append((uid, entry.blob))
        values[uid] = item
    if recompute:
        for uid, text in (await asyncio.to_thread(_previews, session, recompute)).items():
            values[uid]["PREVIEW"] = cut_preview(text)
    return values


def _previews(session: Session, blobs: list[tuple[int, BlobRef]]) -> dict[int, str]:
    """Previews parsed from the blobs (a damaged record, or expunged meanwhile): "" when the blob is
    gone too (RFC 8970 §3.2: no meaningful preview is the empty string)."""
    settings = session.services.settings.mime
    out: dict[int, str] = {}
    for uid, blob in blobs:
        try:
            data = session.services.store.read_blob(blob)
        except (NotFound, OSError):
            out[uid] = ""
            continue
        out[uid] = parse_message(data, settings).preview
    return out
