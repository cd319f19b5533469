"""CATENATE (RFC 4469): one APPEND message built from TEXT literals and parts of the user's own
messages named by IMAP URLs (RFC 5092, parsed by ``proto.imap.imapurl``).

- Parts are joined in order into one ``SpoolFile`` (in memory up to ``imap.max_literal_size``, then
  a file), written piece by piece: a URL part is copied from its blob in ``STREAM_CHUNK`` reads, a
  TEXT literal the receiver spooled is copied from its file; nothing holds the whole message unless
  it is small. RFC 4469 §3: the octets are those FETCH BODY[section]<partial> would send, copied
  unchanged, and no \\Seen is set. TEXT literals get the line-end rule of every APPEND (bare LF to
  CRLF, ``LineEnds``); URL parts are stored messages, canonical already.
- Size: the literals are bounded by the receiver like an APPEND message (APPENDLIMIT); the whole
  message may not exceed ``limits.max_message_size`` either: ``NO [TOOBIG]`` (RFC 4469 §4.2) as soon
  as a part would pass it, before it is read.
- URLs (RFC 4469 §3): relative ones against ``imap://user@server/`` or, in the selected state, the
  selected mailbox; absolute ones only when their user is the session's account and their host is
  ``hostname`` (no other server, no other user: "outside the scope of this document ... would
  return NO"). A URL that cannot be resolved for any reason (syntax, URLAUTH, another user, a
  mailbox that does not exist or whose UIDVALIDITY differs, no such UID, no such part) gives
  ``NO [BADURL url]`` with the first such URL (§4.1), the same answer for a mailbox that does not
  exist and one of another user (nothing leaks).
- Atomicity: every message of the command is built before anything is stored (``append``); a
  failed part leaves only spool files, which ``Uploads.discard`` removes after the command.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import BinaryIO

from pochta.mail.access import Located
from pochta.mail.errors import OpsError
from pochta.mail.ops import LineEnds
from pochta.mime import ParsedMessage
from pochta.proto.imap import sections
from pochta.proto.imap.args import AppendMessage, CatUrl
from pochta.proto.imap.imapurl import MessageUrl, UrlError, parse_message_url
from pochta.proto.imap.responses import Code
from pochta.server.imap.session import Session
from pochta.store.api import NotFound
from pochta.store.model import BlobRef, MailboxId
from pochta.store.spool import SpoolFile

__all__ = ["CHUNK", "CatenateError", "build", "check_destination"]

CHUNK = 1 << 16  # octets per blob or spool file read


class CatenateError(Exception):
    """The tagged NO of a CATENATE APPEND: ``code`` is BADURL (with the URL) or TOOBIG."""

    def __init__(self, text: str, code: Code) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def _badurl(url: bytes, text: str) -> CatenateError:
    # RFC 4469 §5 url-resp-text: TEXT-CHAR except "]": anything else is percent-encoded.
    shown = "".join(chr(b) if 0x20 < b < 0x7F and b != 0x5D else f"%{b:02X}" for b in url[:1024])
    return CatenateError(f"Bad URL: {text}", Code("BADURL", shown.encode("ascii")))


async def check_destination(session: Session, located: Located) -> None:
    """OpsError (TRYCREATE or NONEXISTENT) now when the user's own destination does not exist:
    told before any URL is read (as Dovecot, and imaptest's catenate script expects). Another user's
    mailbox was read when it was located."""
    if not located.own:
        return
    ops = session.services.ops
    if await session.services.store.get_mailbox(located.account_id, ops.canonical_name(located.name)) is None:
        raise ops.missing_destination(located.name)


async def build(session: Session, message: AppendMessage) -> SpoolFile:
    """The message of ``CATENATE (...)``, finished; raises CatenateError (NO [BADURL]/[TOOBIG])."""
    settings = session.services.settings
    limit = settings.limits.max_message_size
    spool = SpoolFile(session.services.spool_dir, "imap-catenate", memory_max=settings.imap.max_literal_size)
    session.uploads.hold(spool)  # removed after the command unless the store adopts it
    for part in message.catenate:
        if isinstance(part, CatUrl):
            await _copy_url(session, spool, part.url, limit)
            continue
        if spool.size + part.size > limit:
            raise _toobig(limit)
        line_ends = LineEnds()
        if part.streamed:
            await _copy_file(session.uploads.take(part.index).path, spool, line_ends)
        else:
            for chunk in part.chunks:
                spool.write(line_ends.convert(chunk))
    await spool.finish()
    return spool


def _toobig(limit: int) -> CatenateError:
    # RFC 4469 §4.2: "if the resulting message exceeds a server-specific message size limit".
    return CatenateError(f"The message would exceed {limit} octets", Code("TOOBIG"))


async def _copy_file(path: Path | None, spool: SpoolFile, line_ends: LineEnds) -> None:
    assert path is not None  # a finished upload not adopted: it has its file
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            spool.write(line_ends.convert(chunk))
    finally:
        await asyncio.to_thread(file.close)


async def _copy_url(session: Session, spool: SpoolFile, raw: bytes, limit: int) -> None:
    try:
        url = parse_message_url(raw)
    except UrlError as exc:
        raise _badurl(raw, str(exc)) from None
    mailbox_id = await _mailbox(session, url, raw)
    store = session.services.store
    rows = await store.cached(mailbox_id, [url.uid])
    if not rows:
        raise _badurl(raw, "no such message")  # RFC 4469 §4.1: "invalid message UID"
    row = rows[0]
    root = ParsedMessage.from_json(row.parsed_json).root
    plan = sections.plan(root, row.blob.size, url.fetch_att())
    if plan.extent is None:
        raise _badurl(raw, "no such body part")  # RFC 4469 §4.1: "invalid body part"
    if plan.stream is not None:
        extent = plan.stream
        if spool.size + extent.length > limit:
            raise _toobig(limit)
        await _copy_blob(session, row.blob, extent, spool, raw)
        return
    read = plan.read
    assert read is not None  # BODY[HEADER.FIELDS ...]: the header is read, then subset
    data = await _read_blob(session, row.blob, read.start, read.end, raw)
    built = sections.finish(plan, data).data
    if spool.size + len(built) > limit:
        raise _toobig(limit)
    spool.write(built)


async def _mailbox(session: Session, url: MessageUrl, raw: bytes) -> MailboxId:
    """The mailbox the URL names, if it is the session's user's (module docstring)."""
    account = session.account
    assert account is not None  # APPEND is command-auth
    settings = session.services.settings
    if url.user is not None and url.user.lower() != account.address.lower():
        raise _badurl(raw, "not a mailbox of this user")
    if url.host is not None and url.host.lower() != settings.hostname.lower():
        raise _badurl(raw, "not a mailbox of this server")
    if url.mailbox is None:
        selected = session.selected
        if selected is None:
            raise _badurl(raw, "a relative URL needs a selected mailbox")  # RFC 4469 §3: the base
        if selected.owner_id is not None:
            raise _badurl(raw, "not a mailbox of this user")  # shared by another user (ACL)
        mailbox_id, uidvalidity = selected.mailbox_id, selected.uidvalidity
    else:
        try:
            canonical = session.services.ops.canonical_name(url.mailbox)
        except OpsError:
            raise _badurl(raw, "no such mailbox") from None
        info = await session.services.store.get_mailbox(account.id, canonical)
        if info is None:
            raise _badurl(raw, "no such mailbox")
        mailbox_id, uidvalidity = info.id, info.uidvalidity
    if url.uidvalidity is not None and url.uidvalidity != uidvalidity:
        raise _badurl(raw, "UIDVALIDITY differs")  # RFC 5092 §6: the URL is stale
    return mailbox_id


async def _read_blob(session: Session, blob: BlobRef, start: int, end: int, raw: bytes) -> bytes:
    def read() -> bytes:
        with session.services.store.open_blob(blob) as file:
            file.seek(start)
            return file.read(end - start)

    try:
        return await asyncio.to_thread(read)
    except (NotFound, OSError):
        raise _badurl(raw, "the message is gone") from None


async def _copy_blob(
    session: Session, blob: BlobRef, extent: sections.Extent, spool: SpoolFile, raw: bytes
) -> None:
    try:
        file: BinaryIO = await asyncio.to_thread(session.services.store.open_blob, blob)
    except (NotFound, OSError):
        raise _badurl(raw, "the message is gone") from None
    try:
        position = extent.start
        await asyncio.to_thread(file.seek, position)
        while position < extent.end:
            data = await asyncio.to_thread(file.read, min(CHUNK, extent.end - position))
            if not data:
                raise _badurl(raw, "the message file is damaged")
            spool.write(data)
            position += len(data)
    finally:
        await asyncio.to_thread(file.close)
