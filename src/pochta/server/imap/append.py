"""APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 §3), APPENDLIMIT
(RFC 7889) and the UTF8 form (RFC 6855 §4).

- Limits, one rule: no message may exceed ``limits.max_message_size``, advertised as APPENDLIMIT.
  The receiver enforces it before the ``+`` continuation of a synchronising literal with a tagged
  ``NO [TOOBIG]`` (RFC 7889 §4, RFC 4469 §4.2), so the client never sends the octets; a larger
  non-synchronising literal ends the session (RFC 7888 §4). ``MailOps`` checks the same limit again
  after line-end repair. All literals of one APPEND together may not exceed it either (the receiver's
  ``max_append_total``, the spool space one command may take).
- Memory: a literal above ``imap.max_literal_size``, or past ``imap.max_literals_total`` kept for the
  command, is written to a spool file while it arrives (``uploads``); the blob store adopts the file
  by a rename. Smaller ones are kept, as for any command.
- MULTIAPPEND is all or nothing (RFC 3502 §3, ``MailOps.append_many``): a message over the limit
  fails the command before anything is stored; a bad flag, a missing mailbox (TRYCREATE) or the
  quota (OVERQUOTA) of any message fails them all.
- Content (``MailOps.canonical_content``): stored as given except that bare LF becomes CRLF; an empty
  message is ``NO [CANNOT]`` (the literal syntax allows it, so it is no protocol error, but it is no
  RFC 5322 message). NUL needs a literal8 (the receiver answers BAD otherwise, RFC 9051 §4.3); in a
  literal8 the leaf parts whose bodies are not CRLF text (NUL, bare CR or LF) are stored in base64
  with their Content-Transfer-Encoding field saying so (RFC 3516 §4.4: no octet lost; BINARY[n]
  gives them back as sent), the rest under the line-end rule (``MailOps.canonical_binary``).
- APPENDUID lists the new UIDs in the order of the messages (RFC 4315 §3; they ascend).
- Appending to the selected mailbox: the new messages are announced with EXISTS before the tagged OK
  (RFC 9051 §6.3.12: "the server SHOULD notify the client immediately via an untagged EXISTS"),
  taken from the store's result (``Placed.entry``) rather than read back when nothing else was
  committed to the mailbox in between (``select.take_own_additions``).
- CATENATE (RFC 4469): a message given as ``CATENATE (TEXT literal / URL url ...)`` is built by
  ``catenate.build`` before anything is stored; a missing destination is reported first.
"""

from __future__ import annotations

from dataclasses import replace

from pochta.mail.ops import NewMessage
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import Append, AppendMessage
from pochta.proto.imap.responses import Code
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap import catenate
from pochta.server.imap.acl import insertion, storable
from pochta.server.imap.imapsieve import Event, after_event
from pochta.server.imap.notify import own_messages
from pochta.server.imap.select import take_own_additions
from pochta.server.imap.session import Session
from pochta.store.model import ChangeSet
from pochta.store.spool import SpoolFile

__all__ = ["append", "new_message"]


async def new_message(session: Session, message: AppendMessage) -> NewMessage:
    """One message of APPEND (or REPLACE, RFC 8508 §3.4) as ``MailOps`` stores it. A CATENATE message
    (RFC 4469) is built here: CatenateError (NO [BADURL]/[TOOBIG]) when a part cannot be."""
    literal = message.data
    data: bytes | SpoolFile
    if message.catenate:
        data = await catenate.build(session, message)
    elif literal.streamed:  # a large literal was written to a spool file as it arrived (uploads)
        index = literal.index
        data = (
            await session.uploads.take_binary(index, session.services.settings.mime)
            if literal.binary
            else session.uploads.take(index)
        )
    else:
        data = bytes(literal)
        if literal.binary:
            data = await session.services.ops.canonical_binary(data)  # RFC 3516 §4.4: base64 parts
    # RFC 9051 §6.3.12: flags and date-time are optional; no date means the current time.
    return NewMessage(data, message.flags or (), message.date)


async def append(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Append)
    # The destination first (rights, TRYCREATE): before any CATENATE URL is read, as Dovecot and
    # imaptest's catenate script expect TRYCREATE over BADURL.
    located = await insertion(session, args.mailbox, "APPEND")
    if any(message.catenate for message in args.messages):
        await catenate.check_destination(session, located)
    try:
        # RFC 3502 §3 / RFC 4469: every message is built before any is stored: all or nothing.
        messages = [await new_message(session, message) for message in args.messages]
    except catenate.CatenateError as exc:
        return Tagged(command.tag, Status.NO, exc.text, code=exc.code)
    if not located.own:
        messages = [replace(new, flags=storable(located, new.flags)) for new in messages]
    ops = session.services.ops
    selected = session.selected
    # The selected mailbox's keywords help only an APPEND into it: both must be of this account.
    mine = selected is not None and selected.owner_id is None and located.own
    known = (selected.name, selected.known_keywords) if selected is not None and mine else None
    placed = await ops.append_many(located.account_id, located.name, messages, known)
    own_messages(session, placed[0].mailbox_id, tuple(p.uid for p in placed))  # RFC 5465 §5
    if selected is not None and placed[0].mailbox_id == selected.mailbox_id:
        # EXISTS before the tagged OK, from the write's own result (the feed's wake-up may still be
        # on its way); one change set per message: MULTIAPPEND commits them one by one.
        take_own_additions(
            session,
            [
                None if p.entry is None else ChangeSet(p.mailbox_id, p.entry.modseq, (p.entry,))
                for p in placed
            ],
        )
    # RFC 6785 §2.2.1: each message appended is an event (MULTIAPPEND: one per message).
    event = Event("APPEND", located.account_id, placed[0].mailbox_id, tuple(p.uid for p in placed))
    await after_event(session, event, located.rights)
    # RFC 4315 §3: APPENDUID uidvalidity uid-set.
    code = Code.appenduid(placed[0].uidvalidity, SequenceSet.of(*(p.uid for p in placed)))
    return Tagged(command.tag, Status.OK, "APPEND completed", code=code)
