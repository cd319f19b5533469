"""FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9, §7.5.2; RFC 3516 BINARY; RFC 3501 RFC822.*).

Nothing is parsed here (DESIGN principle 4): ENVELOPE, BODY and BODYSTRUCTURE are sent as their wire
forms were stored at delivery (``store.wire_forms``; computed from the parse record for a message
stored before they were kept), the part offsets of body sections come from the parse record
(``store.cached``), FLAGS from the session, size and internal date from the mailbox view. Body
sections (``sections.plan``) are streamed from the blob file in chunks, as literals whose length is
known in advance, so a FETCH of large messages never holds one whole in memory; only HEADER.FIELDS
subsets and BINARY decodings are built in memory.

A non-PEEK body fetch sets \\Seen first (RFC 9051 §6.4.5), so the FLAGS of the same response show
it; when FLAGS was not asked for, it is added for the messages whose flags changed (§6.4.5 SHOULD).
A message expunged by another session whose EXPUNGE has not been sent yet (RFC 9051 §7.5.1) keeps
its number and is answered as long as its bytes exist (RFC 2180 §4.1.1 lets the server return the
data; Dovecot does): what the session knows (FLAGS, UID, RFC822.SIZE, INTERNALDATE) from its state,
its content from the blob, which blob collection keeps for ``store.blob_grace_seconds`` after the
expunge (the cached parse is gone with the message: it is parsed again, off the loop). Only one
whose blob is gone too is left out, and the command ends with the tagged ``NO [EXPUNGEISSUED]``
(RFC 5530 §3) after the other messages' responses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, BinaryIO

from pochta.mail import flags as flagrules
from pochta.mime import Envelope, ParsedMessage, envelope_from_json, root_offsets_from_json
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes
from pochta.mime.model import Part
from pochta.proto.imap import Command, ParseError, Status, Tagged, sections
from pochta.proto.imap.fetch import FetchArgs, FetchAtt
from pochta.proto.imap.partial import PartialRange
from pochta.proto.imap.responses import (
    Body,
    Bye,
    Fetch,
    FetchValue,
    Raw,
    StreamedBody,
    flag_list,
    format_datetime,
)
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.blob_window import BlobWindow
from pochta.server.imap import qresync
from pochta.server.imap.fetch_objects import OBJECT_ITEMS, object_values
from pochta.server.imap.imapsieve import Event, after_event
from pochta.server.imap.session import Session, SessionClosed
from pochta.store.api import NotFound
from pochta.store.model import BlobRef, CachedMessage, MessageEntry
from pochta.store.spool import parse_file

__all__ = ["fetch"]

CACHE_CHUNK = 256  # messages whose parse records are read (and decoded) in one go
STREAM_CHUNK = 256 * 1024  # octets read from a blob at a time
FLUSH_AT = 256 * 1024  # queued output that is written out before more is built
_FAST_ITEMS = frozenset({"UID", "FLAGS"})  # what a syncing client asks of every message
_PARSED_ITEMS = frozenset({"ENVELOPE", "BODYSTRUCTURE", "BODY", "BINARY", "BINARY.SIZE"})
_SECTION_ITEMS = frozenset({"BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"})
# Items answered from the session's state and the wire forms kept at delivery (no section, no \Seen).
_FORM_ITEMS = ("ENVELOPE", "BODY", "BODYSTRUCTURE")
_STORED_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ", *_FORM_ITEMS})
_NUMBER_FORMATS = {"UID": b" %d", "RFC822.SIZE": b" %d", "MODSEQ": b" (%d)"}  # RFC 7162 §3.1.4.2
STORED_CHUNK = 1024  # messages whose wire forms are read in one go (a few hundred octets each)


def _has_section(att: FetchAtt) -> bool:
    return att.section is not None or att.name in _SECTION_ITEMS


def _needs_parse(att: FetchAtt) -> bool:
    return att.name in _PARSED_ITEMS or _has_section(att)


def _whole_message_section(att: FetchAtt) -> bool:
    """A section of the message itself, not of a part: BODY[], BODY[HEADER], BODY[HEADER.FIELDS ...],
    BODY[TEXT], BINARY[], RFC822*: the root's offsets are all it needs of the parse record."""
    section = sections.RFC822_SECTIONS.get(att.name, att.section)
    return section is not None and not section.part


def _needs_tree(att: FetchAtt) -> bool:
    """Whether the item needs the whole parse record (ENVELOPE alone needs only the envelope, a
    section of the whole message only the root's offsets)."""
    return att.name != "ENVELOPE" and _needs_parse(att) and not _whole_message_section(att)


_UNREAD: Any = object()


class _Record:
    """A message's parse record, decoded as far as the FETCH needs: the whole tree, or on first use
    only the root's ENVELOPE (``envelope_from_json``) or only the root's offsets
    (``root_offsets_from_json``): no part objects, headers or text rebuilt."""

    __slots__ = ("_envelope", "_root", "cached", "parsed")

    def __init__(self, cached: CachedMessage, whole: bool, parsed: ParsedMessage | None = None) -> None:
        """``parsed``: the message parsed again from its blob (its record is gone)."""
        self.cached = cached
        if parsed is None and whole:
            parsed = ParsedMessage.from_json(cached.parsed_json)
        self.parsed = parsed
        self._envelope: Envelope | None = _UNREAD
        self._root: Part | None = None

    @property
    def envelope(self) -> Envelope | None:
        if self._envelope is _UNREAD:
            parsed = self.parsed
            self._envelope = (
                parsed.root.envelope if parsed is not None else envelope_from_json(self.cached.parsed_json)
            )
        return self._envelope

    @property
    def root(self) -> Part:
        """The part tree; without the whole record, the root's offsets alone (sections of the
        whole message only: ``_needs_tree``)."""
        if self.parsed is not None:
            return self.parsed.root
        if self._root is None:
            self._root = root_offsets_from_json(self.cached.parsed_json)
        return self._root


class _Blob:
    """One message's blob, read on first use. A message up to ``imap.inline_read_max`` octets is
    taken whole from the FETCH's ``BlobWindow`` (the next messages' bytes, rows of the database and
    small files alike, read ahead in one reader job: no trip per message, and no SQLite call on the
    session's thread); a larger one is read in chunks by a worker thread."""

    def __init__(self, session: Session, ref: BlobRef, window: BlobWindow, index: int) -> None:
        self.session = session
        self.ref = ref
        self.file: BinaryIO | None = None
        self.inline = ref.size <= session.services.settings.imap.inline_read_max
        self.window = window
        self.index = index  # in the window's refs
        self.data: bytes | None = None  # the whole message, when inline

    async def _whole(self) -> bytes:
        if self.data is None:
            data = await self.window.get(self.index)
            if data is None:
                raise NotFound(f"blob {self.ref.sha256} is missing")
            self.data = data[: self.ref.size]
        return self.data

    async def read(self, start: int, end: int) -> bytes:
        if self.inline:
            return (await self._whole())[start:end]
        return await asyncio.to_thread(self._read_sync, start, end)

    def _read_sync(self, start: int, end: int) -> bytes:
        if self.file is None:
            self.file = self.session.services.store.open_blob(self.ref)
        self.file.seek(start)
        return self.file.read(max(0, end - start))

    async def has_nul(self, extent: sections.Extent) -> bool:
        if self.inline:
            data = await self._whole()
            return sections.has_nul(lambda start, end: data[start:end], extent)
        return await asyncio.to_thread(sections.has_nul, self._read_sync, extent)

    async def close(self) -> None:
        self.data = None
        if self.file is not None:
            self.file.close()  # a read-only file: close() never waits (no flush, no sync)


class _Output:
    """Queues the responses and writes them out whenever enough is waiting (backpressure)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pending = 0

    async def add(self, data: bytes) -> None:
        self.session.send(data)
        self.pending += len(data)
        if self.pending >= FLUSH_AT:
            self.pending = 0
            await self.session.flush()


async def fetch(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, FetchArgs)
    selected = session.selected
    assert selected is not None
    options = args.options
    partial: PartialRange | None = None
    for name, value in args.modifiers:
        if name in ("CHANGEDSINCE", "VANISHED"):
            continue  # RFC 7162, in ``options``
        if name == "PARTIAL" and command.uid and partial is None and isinstance(value, bytes):
            try:
                partial = PartialRange.parse(value)  # RFC 9394 §3.3: UID FETCH only
            except ParseError as exc:
                return Tagged(command.tag, Status.BAD, exc.message)
            continue
        # RFC 4466 fetch-modifiers other than RFC 7162's CHANGEDSINCE and VANISHED, RFC 9394's PARTIAL.
        return Tagged(command.tag, Status.BAD, f"{command.spec.name} modifier {name} is not supported")
    if options.vanished and not command.uid:
        # RFC 7162 §3.2.6: "The server MUST return a tagged BAD response if this response is
        # specified as a modifier to the FETCH command."
        return Tagged(command.tag, Status.BAD, "VANISHED is allowed in UID FETCH only")
    if options.vanished and not session.qresync:
        # RFC 7162 §3.2.6: BAD unless ENABLE QRESYNC was issued.
        return Tagged(command.tag, Status.BAD, "QRESYNC is not enabled (ENABLE QRESYNC first)")
    atts = list(args.atts)
    changed_since = options.changed_since
    if changed_since is not None or any(a.name == "MODSEQ" for a in atts):
        session.enable_condstore()  # RFC 7162 §3.1: CONDSTORE enabling commands
    numbers: list[int] | None = None  # the message numbers of ``uids``, when the command named them
    if command.uid or args.sequence_set.saved:
        uids = selected.resolve(args.sequence_set, uid=command.uid)
    else:
        numbers, uids = selected.resolve_numbered(args.sequence_set)
    if partial is not None:
        # RFC 9394 §3.3: only the messages of that slice of the set (then CHANGEDSINCE, §3.3's example).
        uids = partial.pick(uids)
    if changed_since is not None:
        if options.vanished:
            # RFC 7162 §3.2.6: the UID set's expunged messages, before any FETCH response.
            await qresync.vanished(session, selected, args.sequence_set, changed_since)
        # RFC 7162 §3.1.4.1: only messages whose mod-sequence is above CHANGEDSINCE, with MODSEQ.
        uids = [uid for uid in uids if selected.modseq_of(uid) > changed_since]
        numbers = None
        if not any(a.name == "MODSEQ" for a in atts):
            atts.append(FetchAtt("MODSEQ"))
    if command.uid and not selected.uidonly and not any(a.name == "UID" for a in atts):
        # RFC 9051 §6.4.9: UID FETCH responses always carry UID; RFC 9586 §3.3: a UIDFETCH response
        # leads with it, and carries the UID item only when it was asked for.
        atts.insert(0, FetchAtt("UID"))
    if all(a.name in _FAST_ITEMS for a in atts):
        await _flags_only(session, selected, uids, [a.name for a in atts])
        return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")
    incomplete = False
    if not any(_has_section(a) or a.name in OBJECT_ITEMS for a in atts):
        # Every item is one of _STORED_ITEMS: ENVELOPE, BODY, BODYSTRUCTURE as stored at delivery,
        # the rest from the session; nothing sets \Seen.
        incomplete = await _stored_lines(session, selected, uids, numbers, [a.name for a in atts])
        return _done(command, incomplete)
    flagged_now = await _set_seen(session, selected, uids, atts)
    needs_parse = any(_needs_parse(a) for a in atts)
    # ENVELOPE, BODY and BODYSTRUCTURE beside body sections come as stored too: the parse record is
    # then decoded whole only for sections of parts, not for a form the store keeps ready.
    forms = [name for name in _FORM_ITEMS if any(a.name == name and not _has_section(a) for a in atts)]
    whole = any(_needs_tree(a) for a in atts if _has_section(a) or a.name not in _FORM_ITEMS)
    out = _Output(session)
    # RFC 9051 §6.4.5: FLAGS for the messages that got \Seen; RFC 7162 §3.2.4: with UID and MODSEQ
    # once CONDSTORE is on.
    added: tuple[str, ...] = ("UID", "FLAGS", "MODSEQ") if session.condstore else ("FLAGS",)
    if selected.uidonly:
        added = tuple(name for name in added if name != "UID")  # RFC 9586 §3.3: the UID leads
    extra = [FetchAtt(name) for name in added if not any(a.name == name for a in atts)]
    add = flagged_now if extra else set()
    for start in range(0, len(uids), CACHE_CHUNK):
        chunk = uids[start : start + CACHE_CHUNK]
        stored: dict[int, tuple[Any, ...]] = {}
        if forms:  # both reads at once: two reader threads
            parsed, stored = await asyncio.gather(
                _parsed(session, selected, chunk, whole), _stored_rows(session, selected, chunk, forms)
            )
        else:
            parsed = await _parsed(session, selected, chunk, whole) if needs_parse else {}
        answerable, missing = _answerable(selected, chunk, parsed, needs_parse, stored if forms else None)
        incomplete = incomplete or missing
        objects = await object_values(session, selected, [entry.uid for _, entry, _ in answerable], atts)
        refs = [_blob_ref(entry, cached) for _, entry, cached in answerable]
        window = BlobWindow(
            session.services.store,
            refs.__getitem__,
            len(refs),
            session.services.settings.imap.inline_read_max,
            session.services.settings.store.blob_prefetch_bytes,
        )
        for index, (seq, entry, cached) in enumerate(answerable):
            wanted = [*atts, *extra] if entry.uid in add else atts
            row = stored.get(entry.uid)
            try:
                await _respond(
                    session,
                    out,
                    selected,
                    seq,
                    entry,
                    cached,
                    wanted,
                    (window, index),
                    (forms, row),
                    objects.get(entry.uid, {}),
                )
            except sections.SectionError as exc:
                return Tagged(command.tag, Status.NO, str(exc), code=exc.code)
            except NotFound:
                incomplete = True
    return _done(command, incomplete)


def _done(command: Command, incomplete: bool) -> Tagged:
    if incomplete:
        # RFC 5530 §3: the client should NOOP and learn of the expunges.
        # The wording clients and test tools look for (Dovecot's): "no longer exist".
        return Tagged(
            command.tag, Status.NO, "Some of the requested messages no longer exist", code="EXPUNGEISSUED"
        )
    return Tagged(command.tag, Status.OK, f"{command.spec.name} completed")


async def _flags_only(
    session: Session, selected: SelectedMailbox[MessageEntry], uids: list[int], names: list[str]
) -> None:
    """FETCH of UID and FLAGS only (``1:* (UID FLAGS)``): the lines are written directly, the flag
    list encoded once per distinct flag set, without building response objects per message; for a
    run of messages (``flag_run``) a whole batch of lines is one formatting pass over the columns."""
    uidonly = selected.uidonly  # RFC 9586 §3.3: ``* uid UIDFETCH (...)``, the run's formats are FETCH's
    run = None if uidonly else selected.flag_run(uids)
    if run is not None:
        await _flag_run_lines(session, uids, names, *run)
        return
    encoded: dict[tuple[frozenset[str], bool], bytes] = {}
    out = _Output(session)
    batch: list[bytes] = []
    head = b"* %d UIDFETCH (%s)\r\n" if uidonly else b"* %d FETCH (%s)\r\n"
    for uid in uids:
        seq = uid if uidonly else selected.seq_of(uid)
        if seq is None:  # pragma: no cover - resolve() returns numbered UIDs
            continue
        items = []
        for name in names:
            if name == "UID":
                items.append(b"UID %d" % uid)
            else:
                key = (selected.flags_of(uid), selected.is_recent(uid))
                flags = encoded.get(key)
                if flags is None:
                    flags = encoded[key] = b"FLAGS " + flag_list(selected.client_flags(uid))
                items.append(flags)
        batch.append(head % (seq, b" ".join(items)))
        if len(batch) >= 1024:
            await out.add(b"".join(batch))
            batch.clear()
    if batch:
        await out.add(b"".join(batch))


_LINE_FORMATS: dict[tuple[str, ...], bytes] = {
    ("UID", "FLAGS"): b"* %d FETCH (UID %d FLAGS %s)\r\n",
    ("FLAGS", "UID"): b"* %d FETCH (FLAGS %s UID %d)\r\n",
}
_RUN_BATCH = 4096  # lines formatted per write


async def _flag_run_lines(
    session: Session,
    uids: list[int],
    names: list[str],
    first_seq: int,
    flags: list[frozenset[str]],
    recent_from: int,
) -> None:
    """``flag_run``'s lines: the messages from ``recent_from`` on get \\Recent after their flags
    (``SelectedMailbox.client_flags``' order; RFC 3501 §2.3.2, a rev1 session's first sight)."""
    lists: list[bytes] = []
    parts: tuple[tuple[list[frozenset[str]], tuple[str, ...]], ...] = (
        (flags[:recent_from], ()),
        (flags[recent_from:], (flagrules.RECENT,)),
    )
    for part, recent in parts:
        encoded = {
            flag_set: flag_list([*SelectedMailbox.client_flag_order(flag_set), *recent])
            for flag_set in dict.fromkeys(part)
        }
        lists += map(encoded.__getitem__, part)
    seqs = range(first_seq, first_seq + len(uids))
    key = tuple(names)
    out = _Output(session)
    fmt = _LINE_FORMATS.get(key)
    for start in range(0, len(uids), _RUN_BATCH):
        stop = start + _RUN_BATCH
        batch = (seqs[start:stop], uids[start:stop], lists[start:stop])
        if fmt is None:
            lines = map(_generic_line(names), *batch)
        elif key == ("UID", "FLAGS"):
            lines = map(fmt.__mod__, zip(*batch, strict=True))
        else:
            lines = map(fmt.__mod__, zip(batch[0], batch[2], batch[1], strict=True))
        await out.add(b"".join(lines))


def _generic_line(names: list[str]) -> Callable[[int, int, bytes], bytes]:
    def line(seq: int, uid: int, flags: bytes) -> bytes:
        items = [b"UID %d" % uid if name == "UID" else b"FLAGS " + flags for name in names]
        return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(items))

    return line


async def _set_seen(
    session: Session, selected: SelectedMailbox[MessageEntry], uids: list[int], atts: list[FetchAtt]
) -> set[int]:
    """RFC 9051 §6.4.5: BODY[...] (not PEEK), BINARY[...], RFC822 and RFC822.TEXT set \\Seen."""
    # RFC 4314 §4: a FETCH that implies setting \\Seen "MUST NOT set it" without the "s" right.
    if selected.read_only or "s" not in selected.rights or not any(a.sets_seen for a in atts):
        return set()
    unseen = [
        uid
        for uid in uids
        if not selected.is_expunged(uid) and not flagrules.has_flag(selected.flags_of(uid), flagrules.SEEN)
    ]
    if not unseen:
        return set()
    changes = await session.services.ops.store_flags(selected.mailbox_id, unseen, "add", [flagrules.SEEN])
    selected.apply_own(changes)  # a flag change only: no expunges come back
    seen = {entry.uid for entry in changes.changed}
    # RFC 6785 §2.2.3: a FETCH that sets \Seen changes flags: a FLAG event for each message.
    owner = selected.owner_id if selected.owner_id is not None else session.account_id
    flipped = (flagrules.SEEN,)
    event = Event(
        "FLAG", owner, selected.mailbox_id, tuple(sorted(seen)), changed=dict.fromkeys(seen, flipped)
    )
    await after_event(session, event, selected.rights)
    return seen


async def _parsed(
    session: Session, selected: SelectedMailbox[MessageEntry], uids: list[int], whole: bool
) -> dict[int, _Record]:
    live = [uid for uid in uids if not selected.is_expunged(uid)]
    rows = await session.services.store.cached(selected.mailbox_id, live)

    def decode() -> dict[int, _Record]:
        return {row.uid: _Record(row, whole) for row in rows}

    # Decoding the JSON of hundreds of whole parse records is CPU work: off the event loop. Envelopes
    # alone (a JSON load and a few tuples each) cost less than the thread hop.
    found = await asyncio.to_thread(decode) if whole and len(rows) > 16 else decode()
    # Expunged elsewhere: known to the session already, or learnt just now (no parse record).
    gone = [entry for uid in uids if uid not in found and (entry := selected.entry(uid)) is not None]
    if gone:
        found.update(await asyncio.to_thread(_parse_again, session, gone))
    return found


def _parse_again(session: Session, entries: list[MessageEntry]) -> dict[int, _Record]:
    """Messages expunged elsewhere, from their blobs while these still exist (module docstring)."""
    settings = session.services.settings.mime
    found: dict[int, _Record] = {}
    for entry in entries:
        try:
            with session.services.store.open_blob(entry.blob) as file:
                parsed = parse_file(file, settings)
        except (NotFound, OSError):
            continue  # collected: the caller answers NO [EXPUNGEISSUED]
        cached = CachedMessage(entry.uid, entry.message_id, entry.blob, b"")
        found[entry.uid] = _Record(cached, whole=True, parsed=parsed)
    return found


def _answerable(
    selected: SelectedMailbox[MessageEntry],
    uids: list[int],
    parsed: dict[int, _Record],
    needs_parse: bool,
    stored: dict[int, tuple[Any, ...]] | None = None,
) -> tuple[list[tuple[int, MessageEntry, _Record | None]], bool]:
    """(number, entry, record) of each message the FETCH can answer, and whether some was left out
    because its content is gone (expunged meanwhile and its blob collected: RFC 9051 §7.5.1).
    ``stored``: the stored forms read, when some were asked for (a message needs its row too)."""
    found: list[tuple[int, MessageEntry, _Record | None]] = []
    missing = False
    for uid in uids:
        seq = selected.seq_of(uid)
        entry = selected.entry(uid)
        if seq is None or entry is None:  # pragma: no cover - resolve() only returns numbered UIDs
            continue
        record = parsed.get(uid)
        if (needs_parse and record is None) or (stored is not None and uid not in stored):
            missing = True
            continue
        found.append((seq, entry, record))
    return found, missing


# The stored forms of one message beside body sections: the names read and its row (uid, form...).
_Stored = tuple[list[str], tuple[Any, ...] | None]
_NOTHING_STORED: _Stored = ([], None)


def _simple_item(
    session: Session,
    selected: SelectedMailbox[MessageEntry],
    entry: MessageEntry,
    record: _Record | None,
    att: FetchAtt,
    stored: _Stored = _NOTHING_STORED,
) -> tuple[str, FetchValue]:
    """The value of an item that is not a body section."""
    name = att.name
    forms, row = stored
    if row is not None and name in forms:
        return name, Raw(row[1 + forms.index(name)])
    if name == "UID":
        return "UID", entry.uid
    if name == "FLAGS":
        return "FLAGS", selected.client_flags(entry.uid)
    if name == "INTERNALDATE":
        return "INTERNALDATE", entry.internal_date
    if name == "RFC822.SIZE":
        return "RFC822.SIZE", entry.size
    if name == "MODSEQ":
        return "MODSEQ", selected.modseq_item(entry.uid)  # RFC 7162 §3.1.4.2
    assert record is not None
    if name == "ENVELOPE":
        return "ENVELOPE", Raw(envelope_bytes(record.envelope, utf8=session.utf8))
    # BODYSTRUCTURE, or BODY without a section: RFC 9051 §7.5.2 BODY is the non-extensible form.
    return name, Raw(bodystructure_bytes(record.root, name == "BODYSTRUCTURE", utf8=session.utf8))


async def _respond(
    session: Session,
    out: _Output,
    selected: SelectedMailbox[MessageEntry],
    seq: int,
    entry: MessageEntry,
    record: _Record | None,
    atts: list[FetchAtt],
    place: tuple[BlobWindow, int],
    stored: _Stored = _NOTHING_STORED,
    objects: dict[str, FetchValue] | None = None,
) -> None:
    """``place``: the FETCH's window of small messages read ahead, and this message's index in it;
    ``objects``: the message's EMAILID, THREADID, SAVEDATE, PREVIEW values (``fetch_objects``)."""
    items: list[tuple[str, FetchValue]] = []
    streams: dict[int, sections.Extent] = {}
    blob = _Blob(session, _blob_ref(entry, record), *place)
    try:
        for att in atts:
            if objects is not None and att.name in objects:
                items.append((att.name, objects[att.name]))
                continue
            if not _has_section(att):
                items.append(_simple_item(session, selected, entry, record, att, stored))
                continue
            assert record is not None
            value = await _section(blob, record.root, entry.size, att)
            if isinstance(value, tuple):
                stream, binary = value
                streams[len(items)] = stream
                items.append((sections.response_name(att), StreamedBody(stream.length, binary)))
            else:
                items.append((sections.response_name(att), value))
        if streams:
            await blob.read(0, 0)  # open it now: a missing blob must fail before any literal is sent
        uidonly = selected.uidonly  # RFC 9586 §3.3: ``* uid UIDFETCH (...)``
        parts = Fetch(entry.uid if uidonly else seq, tuple(items), uidfetch=uidonly).encode_parts(session.ctx)
        stream_order = [streams[i] for i in sorted(streams)]
        for part in parts:
            if isinstance(part, bytes):
                await out.add(part)
                continue
            extent = stream_order.pop(0)
            await _stream(out, blob, extent, binary=part.binary)
    finally:
        await blob.close()


def _blob_ref(entry: MessageEntry, record: _Record | None) -> BlobRef:
    return record.cached.blob if record is not None else entry.blob


async def _section(
    blob: _Blob, root: Part, size: int, att: FetchAtt
) -> FetchValue | tuple[sections.Extent, bool]:
    """The value of one section item, or (extent, binary) to stream from the blob."""
    plan = sections.plan(root, size, att)
    if plan.extent is None:
        return 0 if plan.kind == "BINARY.SIZE" else Body(None)  # a part that does not exist: NIL
    if plan.stream is not None:
        binary = plan.binary if plan.binary is not None else await blob.has_nul(plan.stream)
        return plan.stream, binary
    if plan.size is not None:
        return plan.size
    read = plan.read
    assert read is not None
    data = await blob.read(read.start, read.end)
    if plan.kind == "BINARY.SIZE":
        return sections.finish_size(plan, data)
    built = sections.finish(plan, data)
    return Body(built.data, binary=built.binary)


async def _stream(out: _Output, blob: _Blob, extent: sections.Extent, *, binary: bool) -> None:
    position = extent.start
    while position < extent.end:
        end = min(extent.end, position + STREAM_CHUNK)
        data = await blob.read(position, end)
        if len(data) != end - position:
            # The literal's length is on the wire already: a blob shorter than its record (damage)
            # leaves no way to go on in this session but to end it.
            out.session.send(Bye("Message file damaged, run pochta verify", code="SERVERBUG"))
            out.session.logout = True
            raise SessionClosed
        if not binary and b"\x00" in data:
            # RFC 9051 §4.3: no NUL in a literal; as for Body values (responses._nul_free) NUL is
            # sent as 0x80, keeping the octet count the literal announced.
            data = data.replace(b"\x00", b"\x80")
        await out.add(data)
        position = end


async def _stored_lines(
    session: Session,
    selected: SelectedMailbox[MessageEntry],
    uids: list[int],
    numbers: list[int] | None,
    names: list[str],
) -> bool:
    """FETCH of items that need no blob and no parse tree: ENVELOPE, BODY and BODYSTRUCTURE as kept at
    delivery (``store.wire_forms``, one read per chunk), UID, FLAGS, INTERNALDATE and RFC822.SIZE from
    the session. Each chunk's lines are one formatting pass and one write. A message without stored
    forms (kept before they were, or expunged elsewhere) is answered from its parse record as before.
    Returns whether some message was left out because its content is gone."""
    assert _STORED_ITEMS.issuperset(names)
    forms = [name for name in _FORM_ITEMS if name in names]
    column = {name: 1 + i for i, name in enumerate(forms)}  # a form's index in a row (uid, form...)
    # The line of one message: ``fmt % (seq, value, ...)``, the values in the order of ``names``.
    # RFC 9586 §3.3: with UIDONLY, ``* uid UIDFETCH (...)``.
    uidonly = selected.uidonly
    fmt = b"* %%d %s (%s)\r\n" % (
        b"UIDFETCH" if uidonly else b"FETCH",
        b" ".join(name.encode("ascii") + _NUMBER_FORMATS.get(name, b" %s") for name in names),
    )
    out = _Output(session)
    missing = False
    for start in range(0, len(uids), STORED_CHUNK):
        chunk = uids[start : start + STORED_CHUNK]
        rows = await _stored_rows(session, selected, chunk, forms)
        answered = [uid for uid in chunk if uid in rows] if forms else chunk
        missing = missing or len(answered) < len(chunk)
        if uidonly:
            seqs: list[Any] = answered
        elif numbers is not None and not missing:
            seqs = numbers[start : start + STORED_CHUNK]  # FETCH by number: numbered as asked
        else:
            seqs = selected.seqs_of(answered)  # resolve() returns numbered UIDs only
        # One column per item, then one formatting pass over the lines.
        columns = [_stored_column(selected, name, answered, rows, column) for name in names]
        await out.add(b"".join(map(fmt.__mod__, zip(seqs, *columns, strict=True))))
    return missing


def _stored_column(
    selected: SelectedMailbox[MessageEntry],
    name: str,
    uids: list[int],
    rows: dict[int, tuple[Any, ...]],
    column: dict[str, int],
) -> list[Any]:
    """The values of one item for these messages, as ``fmt`` in ``_stored_lines`` formats them."""
    if name == "UID":
        return uids
    if name == "FLAGS":
        encoded: dict[tuple[frozenset[str], bool], bytes] = {}
        values = []
        for uid in uids:
            key = (selected.flags_of(uid), selected.is_recent(uid))
            flags = encoded.get(key)
            if flags is None:
                flags = encoded[key] = flag_list(selected.client_flags(uid))
            values.append(flags)
        return values
    if name == "INTERNALDATE":
        return [b'"%s"' % format_datetime(date).encode("ascii") for date in selected.internal_dates(uids)]
    if name == "RFC822.SIZE":
        return selected.sizes(uids)
    if name == "MODSEQ":
        return list(map(selected.modseq_of, uids))
    index = column[name]
    return [rows[uid][index] for uid in uids]


async def _stored_rows(
    session: Session, selected: SelectedMailbox[MessageEntry], uids: list[int], forms: list[str]
) -> dict[int, tuple[Any, ...]]:
    """``uid -> (uid, form, ...)`` of the messages that can be answered (module docstring)."""
    if not forms:
        return {}
    utf8 = session.utf8
    # By message id (the view's column): one primary-key seek per message, no membership join. A
    # message expunged elsewhere whose content is still stored is answered from its kept forms too
    # (RFC 2180 section 4.1.1 allows a server to serve it until the EXPUNGE is sent).
    message_ids = selected.message_ids(uids)
    # A big mailbox's (store.view_snapshot_min_messages, as for its view): what this read the other
    # workers read too, for the client's next connection (store.wire_cache_share).
    share = selected.exists >= session.services.settings.store.view_snapshot_min_messages
    store = session.services.store
    kept = {row[0]: row[1:] for row in await store.wire_forms(message_ids, forms, utf8, share=share)}
    rows: dict[int, tuple[Any, ...]] = {}
    lacking: list[int] = []
    for uid, message_id in zip(uids, message_ids, strict=True):
        found = kept.get(message_id)
        if found is None:
            lacking.append(uid)
        else:
            rows[uid] = (uid, *found)
    if lacking:
        # Kept before revision 0009 (until reconstruct), or expunged elsewhere: from the parse record.
        whole = forms != ["ENVELOPE"]
        for uid, record in (await _parsed(session, selected, lacking, whole)).items():
            rows[uid] = (uid, *(_computed(record, name, utf8) for name in forms))
        for uid in lacking:
            if uid not in rows or None in rows[uid]:
                rows.pop(uid, None)  # gone, with its blob: the caller answers NO [EXPUNGEISSUED]
    return rows


def _computed(record: _Record, name: str, utf8: bool) -> bytes:
    if name == "ENVELOPE":
        return envelope_bytes(record.envelope, utf8=utf8)
    # RFC 9051 §7.5.2: BODY is the non-extensible form of BODYSTRUCTURE.
    return bodystructure_bytes(record.root, name == "BODYSTRUCTURE", utf8=utf8)
