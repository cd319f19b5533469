"""SELECT, EXAMINE, CLOSE, UNSELECT, and the untagged updates of the selected mailbox.

- SELECT/EXAMINE (RFC 9051 §6.3.2, §6.3.3; RFC 3501 §6.3.1 for IMAP4rev1 sessions): the feed is
  subscribed *before* the view is read, so no change can fall between them; then FLAGS, EXISTS,
  (RECENT and OK [UNSEEN] for rev1), OK [UIDVALIDITY], OK [UIDNEXT], OK [PERMANENTFLAGS], (LIST for
  rev2) and the tagged OK [READ-WRITE] / [READ-ONLY]. A SELECT while a mailbox is selected first
  deselects it, with ``* OK [CLOSED]`` (RFC 9051 §7.1; RFC 7162 §3.2.11 for every session); a failed
  SELECT leaves no mailbox selected (RFC 9051 §6.3.2). Once CONDSTORE is enabled ``OK
  [HIGHESTMODSEQ n]`` follows PERMANENTFLAGS; ``(QRESYNC (...))`` then adds the VANISHED (EARLIER)
  and FETCH responses of ``qresync.resync`` (RFC 7162 §3.2.5).
- \\Recent (IMAP4rev1 sessions only; RFC 9051 dropped it): a message is \\Recent in the first
  session told of it that has the mailbox selected read-write, and in no later one (RFC 3501
  §2.3.2). SELECT takes the messages of its view no session took yet (``Store.take_recent``, one
  write, only when there are any: ``MailboxInfo.first_recent_uid``), and so does each announcement
  of new messages (``report_updates``); whichever session of whichever worker writes first gets
  them. EXAMINE takes nothing and shows what is not taken yet; a read-only session counts the new
  messages it is told of as recent (§2.3.2: "SHOULD be considered recent" when undeterminable).
  IMAP4rev2 sessions take nothing, so IMAP4rev1 clients of the same mailbox still see them.
- CLOSE (RFC 9051 §6.4.1) expunges \\Deleted messages silently when the mailbox is read-write;
  UNSELECT (RFC 3691 §2) does not.
- ``report_updates``: EXISTS/EXPUNGE/FETCH FLAGS from ``SelectedMailbox`` (RFC 9051 §7.5), read
  from the store with ``changes_since`` when the feed says something changed (or on every NOOP),
  then the ESEARCH updates of the UPDATE contexts (``context.refresh``, RFC 5267 §4.3).
"""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mail import acl
from pochta.mail import flags as flagrules
from pochta.proto.imap import Command, State, Status, Tagged, objectid
from pochta.proto.imap.args import MailboxArgs
from pochta.proto.imap.responses import Bye, Code, Exists, Flags, ListItem, Recent, Untagged
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap import context, qresync
from pochta.server.imap.session import Session
from pochta.store.api import NotFound
from pochta.store.model import HIERARCHY_SEPARATOR, ChangeSet, MailboxId, MailboxView, MessageEntry

__all__ = [
    "announce_keywords",
    "announce_rights",
    "catch_up",
    "close",
    "examine",
    "report_updates",
    "select",
    "take_own_additions",
    "unselect",
]


async def select(session: Session, command: Command) -> Tagged:
    return await _open(session, command, read_only=False)


async def examine(session: Session, command: Command) -> Tagged:
    return await _open(session, command, read_only=True)


async def _open(session: Session, command: Command, *, read_only: bool) -> Tagged:
    args = command.args
    assert isinstance(args, MailboxArgs)
    options = args.select_options
    if options.other is not None:
        # RFC 4466 §2.4: select parameters of extensions not supported here.
        return Tagged(command.tag, Status.BAD, f"Unsupported SELECT parameter {options.other}")
    if options.qresync is not None and not session.qresync:
        # RFC 7162 §3.2.5: BAD unless ENABLE QRESYNC was answered with ENABLED QRESYNC.
        return Tagged(command.tag, Status.BAD, "QRESYNC is not enabled (ENABLE QRESYNC first)")
    if options.qresync is not None and options.qresync.seq_match and session.uidonly:
        # RFC 9586 §3: the sequence match data of RFC 7162 §3.2.5.2 holds message numbers.
        text = "No message sequence match data with UIDONLY enabled"
        return Tagged(command.tag, Status.BAD, text, code="UIDREQUIRED")
    if session.selected is not None:
        await session.unselect()
        # RFC 9051 §7.1 CLOSED, and RFC 7162 §3.2.11 for every session of a server advertising
        # CONDSTORE/QRESYNC: the responses before it were of the previous mailbox.
        session.send(Untagged(Status.OK, "Previous mailbox closed", code="CLOSED"))
    if options.condstore:
        session.enable_condstore()  # RFC 7162 §3.1.8 (no mailbox is selected here: nothing sent)
    # Any failure from here on leaves the session in the authenticated state (RFC 9051 §6.3.2).
    services = session.services
    feed = services.store.feed()

    async def watch(mailbox_id: MailboxId) -> None:
        await session.unselect()  # the watch of a wrong guess (ops.open_mailbox), if any
        session.watch(feed.subscribe(mailbox_id))

    try:
        located = await session.locate(args.mailbox)
        located.require("r", command.name)  # RFC 4314 §4: SELECT/EXAMINE need "r"
        # The feed is subscribed before the view is read (or proved current): no change falls between.
        view = await services.ops.open_mailbox(located.account_id, located.name, watch)
    except BaseException:
        await session.unselect()
        raise
    # RFC 4314 §5.2: READ-ONLY when none of "i", "e" and the flag rights is granted.
    read_only = read_only or not acl.may_write(located.rights)
    rev1 = not session.rev2
    recent_from = await _recent_from(session, view, read_only) if rev1 else None
    selected = SelectedMailbox(
        view,
        read_only=read_only,
        rev1=rev1,
        recent_from=recent_from,
        condstore=session.condstore,
        qresync=session.qresync,
        uidonly=session.uidonly,
    )
    if not located.own:
        selected.rights, selected.owner_id, selected.name = located.rights, located.account_id, located.shown
    session.selected = selected
    session.enter(State.SELECTED)
    mailbox = view.mailbox
    session.send(Flags(flagrules.mailbox_flags(selected.keywords)))  # RFC 9051 §7.3.5
    session.send(Exists(selected.exists))
    if rev1:
        session.send(Recent(selected.recent_count))  # RFC 3501 §6.3.1 (see the module docstring)
        # RFC 9586 §3: no message number in any response once UIDONLY is enabled.
        first_unseen = None if session.uidonly else _first_unseen(view.flags, view.flag_sets())
        if first_unseen is not None:
            # RFC 3501 §6.3.1: OK [UNSEEN n], the first unseen message (removed in RFC 9051).
            unseen = Code("UNSEEN", b"%d" % first_unseen)
            session.send(Untagged(Status.OK, f"Message {first_unseen} is first unseen", unseen))
    session.send(Untagged(Status.OK, "UIDs valid", Code.uidvalidity(mailbox.uidvalidity)))
    session.send(Untagged(Status.OK, "Predicted next UID", Code.uidnext(mailbox.uidnext)))
    session.send(_permanent_flags(session, selected))
    # RFC 8474 §4.2: an untagged OK [MAILBOXID (id)] on every successful SELECT and EXAMINE.
    mailboxid = Code.mailboxid(objectid.objectid(objectid.MAILBOX, mailbox.id))
    session.send(Untagged(Status.OK, "Mailbox ID", mailboxid))
    if session.condstore:
        # RFC 7162 §3.1.2.1: after a CONDSTORE enabling command, every SELECT/EXAMINE reports it.
        code_modseq = Code.highestmodseq(mailbox.highestmodseq)
        session.send(Untagged(Status.OK, "Highest mailbox mod-sequence", code_modseq))
    if options.qresync is not None:
        await qresync.resync(session, selected, view, options.qresync)
    if session.rev2:
        # RFC 9051 §6.3.2: a LIST response with the mailbox name (its canonical spelling).
        session.send(ListItem((), HIERARCHY_SEPARATOR, selected.name))
    code = "READ-ONLY" if read_only else "READ-WRITE"
    return Tagged(command.tag, Status.OK, f"{command.name} completed", code=code)


async def _recent_from(session: Session, view: MailboxView, read_only: bool) -> int:
    """The first UID of the view that is \\Recent to this session (RFC 3501 §2.3.2): taken from
    the store by a read-write session when any message is still untaken, only shown by EXAMINE."""
    mailbox = view.mailbox
    if read_only or mailbox.first_recent_uid >= mailbox.uidnext:
        return mailbox.first_recent_uid
    try:
        return await session.services.store.take_recent(mailbox.id, mailbox.uidnext)
    except NotFound:
        return mailbox.uidnext  # deleted meanwhile: the next command finds out (catch_up)


async def _take_recent_news(session: Session, selected: SelectedMailbox[MessageEntry]) -> None:
    """Before new messages are announced to a read-write IMAP4rev1 session: take those no other
    session took (RFC 3501 §2.3.2); they alone are \\Recent here."""
    end = selected.new_uid_end
    if end is None or not selected.rev1 or selected.read_only:
        return
    try:
        first = await session.services.store.take_recent(selected.mailbox_id, end)
    except NotFound:
        first = end  # deleted meanwhile: none is recent (the session ends at the next catch-up)
    selected.recent_news_from(first, end)


def _permanent_flags(session: Session, selected: SelectedMailbox[MessageEntry]) -> Untagged:
    if selected.read_only:
        # RFC 9051 §6.3.3: nothing can be changed in an EXAMINEd mailbox.
        permanent: tuple[str, ...] = ()
    else:
        max_keywords = session.services.settings.limits.max_keywords_per_mailbox
        permanent = flagrules.permanent_flags(selected.keywords, max_keywords=max_keywords)
        if selected.rights != acl.ALL:
            # RFC 4314 §5.1.1: PERMANENTFLAGS "MUST accurately reflect the current user's rights";
            # \* (new keywords) needs "w" as every keyword does.
            permanent = tuple(f for f in permanent if acl.flag_allowed(selected.rights, f))
    return Untagged(Status.OK, "Flags permitted", Code.permanentflags(permanent))


def announce_keywords(session: Session) -> None:
    """FLAGS and PERMANENTFLAGS again if a change brought a keyword the client was not told of:
    RFC 9051 §7.3.5 ("the flags ... defined in the mailbox"); RFC 3501 §7.2.6 notes the FLAGS
    response is sent when the set of flags changes. Call before sending FETCH responses."""
    selected = session.selected
    if selected is not None and selected.take_keyword_news():
        session.send(Flags(flagrules.mailbox_flags(selected.keywords)))
        session.send(_permanent_flags(session, selected))


def announce_rights(session: Session) -> None:
    """FLAGS and PERMANENTFLAGS again after the rights on the selected mailbox changed (RFC 4314
    §5.1.1: "it SHOULD send FLAGS and PERMANENTFLAGS responses if they have changed")."""
    selected = session.selected
    if selected is not None:
        session.send(Flags(flagrules.mailbox_flags(selected.keywords)))
        session.send(_permanent_flags(session, selected))


def _first_unseen(flag_column: tuple[frozenset[str], ...], distinct: list[frozenset[str]]) -> int | None:
    unseen = [f for f in distinct if not flagrules.has_flag(f, flagrules.SEEN)]
    if not unseen:
        return None
    # One C-level search per distinct unseen flag set (a mailbox has a handful), not a Python loop.
    return min(flag_column.index(f) for f in unseen) + 1


async def close(session: Session, command: Command) -> Tagged:
    selected = session.selected
    assert selected is not None
    # RFC 4314 §4: without "e", CLOSE "MUST ignore the expunge request, close the mailbox".
    if not selected.read_only and "e" in selected.rights:
        # RFC 9051 §6.4.1: \Deleted messages are removed, and no untagged EXPUNGE is sent.
        await session.services.ops.expunge(selected.mailbox_id)
    await session.unselect()
    return Tagged(command.tag, Status.OK, "CLOSE completed")


async def unselect(session: Session, command: Command) -> Tagged:
    await session.unselect()  # RFC 3691 §2: like CLOSE, without expunging
    return Tagged(command.tag, Status.OK, "UNSELECT completed")


async def catch_up(session: Session, *, poll: bool = False) -> bool:
    """Learn (not yet tell) the selected mailbox's changes the feed signalled (all of them with
    ``poll``); False when the mailbox no longer exists (``dirty`` stays set, so that the next
    ``report_updates`` ends the session)."""
    selected = session.selected
    if selected is None or not (poll or session.dirty.is_set()):
        return True
    session.dirty.clear()
    if not session.take_signals(selected.highestmodseq) and not poll:
        return True  # only the echo of the session's own write: nothing to learn
    try:
        changes = await session.services.store.changes_since(selected.mailbox_id, selected.highestmodseq)
    except NotFound:
        session.mark_stale()
        return False
    selected.absorb(changes)
    return True


async def changed_unannounced(session: Session) -> bool:
    """Whether the selected mailbox changed in the store beyond what the session knows, without the
    feed saying so (a pochta command beside the server, a wake-up lost between machines); if so the
    session is marked stale, and the next ``catch_up`` reads the changes. No I/O when this process
    holds a provably current view of the mailbox; else one read of its row."""
    selected = session.selected
    if selected is None:
        return False
    store = session.services.store
    view = store.current_view(selected.mailbox_id)
    highest: int | None
    if view is not None:
        highest = view.mailbox.highestmodseq
    else:
        info = await store.get_mailbox_by_id(selected.mailbox_id)
        highest = None if info is None else info.highestmodseq  # None: deleted
    if highest is not None and highest <= selected.highestmodseq:
        return False
    session.mark_stale()
    return True


def take_own_additions(session: Session, changes: Iterable[ChangeSet | None]) -> None:
    """New messages this session's own APPEND/COPY/MOVE put into the selected mailbox, one change
    set per commit in commit order: taken as they are, with no read of them back, when each took
    the very next MODSEQ (so nothing another session committed can fall between, and no message of
    a lower UID can be announced after them, RFC 9051 §2.3.1.2); else the next ``catch_up`` reads
    the changes from the store. Either way they are announced (EXISTS) before the tagged reply."""
    selected = session.selected
    if selected is None:
        return
    for change in changes:
        if change is None or change.highestmodseq != selected.highestmodseq + 1 or not change.changed:
            session.mark_stale()
            return
        selected.apply_own(change)  # the feed's echo of it then costs no read (take_signals)


async def report_updates(
    session: Session, *, poll: bool, allow_expunge: bool, include_uid: bool, flags: bool = True
) -> None:
    """Queue the untagged updates of the selected mailbox (RFC 9051 §7.5, §5.2); flag changes only
    with ``flags`` (else they wait: a NOTIFY push without FlagChange)."""
    selected = session.selected
    if selected is None:
        return
    if not await catch_up(session, poll=poll):
        # The selected mailbox was deleted (or renamed away with INBOX semantics) elsewhere: the
        # session cannot go on with it (as Dovecot does).
        session.send(Bye("Selected mailbox was deleted, have to disconnect", code="NONEXISTENT"))
        session.logout = True
        await session.unselect()
        return
    announce_keywords(session)
    await _take_recent_news(session, selected)
    for response in selected.updates(allow_expunge=allow_expunge, include_uid=include_uid, flags=flags):
        session.send(response)
    await context.refresh(session)  # RFC 5267 §4.3: ADDTO/REMOVEFROM after the EXISTS and FETCH
