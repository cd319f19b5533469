"""NOTIFY (RFC 5465): the command, and telling a NOTIFY session what changed, when it may be told.

- ``NOTIFY NONE`` ends the notifications; ``NOTIFY SET [STATUS] groups`` replaces them (§3.1). An event
  this server does not support (AnnotationChange, anything unknown) is
  ``NO [BADEVENT (supported events)]`` (§3.1, §5); more mailbox names than
  ``imap.notify_max_mailboxes`` is ``NO [NOTIFICATIONOVERFLOW]`` (§3.1: too expensive). A refused
  NOTIFY leaves the previous one in force. Names that do not exist are ignored (§3.1). With STATUS,
  every mailbox the filters watch for message events but the selected one gets its STATUS before the
  tagged OK: MESSAGES UIDNEXT UIDVALIDITY UNSEEN, with HIGHESTMODSEQ for FlagChange (§3.1 asks for
  less; these are Dovecot's items). NOTIFY SET implies a NOOP (§3.1: the command table polls).
- Other mailboxes (``notifier.Notifier`` collects the account's changes from the feed, whichever worker
  process made them): one STATUS per mailbox and report, however many changes it had (coalesced):
  MESSAGES UIDNEXT UIDVALIDITY UNSEEN for MessageNew and MessageExpunge (§5.2, §5.3 ask for MESSAGES
  and UIDNEXT; the others as Dovecot sends them; HIGHESTMODSEQ too with CONDSTORE), UIDVALIDITY
  UNSEEN HIGHESTMODSEQ for FlagChange with CONDSTORE, else UNSEEN when the count of unseen messages
  changed (§5.1). MailboxName: a LIST for a created mailbox, LIST
  (\\NonExistent) for a deleted one, LIST with OLDNAME for the top of a renamed subtree (§5.4).
  SubscriptionChange: a LIST with or without \\Subscribed (§5.5). The account's mailbox list is read
  once per report when the feed said a mailbox changed, and compared with the one last told; this
  session's own CREATE, DELETE, RENAME, (UN)SUBSCRIBE are taken silently (§5: SHOULD NOT notify), and
  so are its own APPEND, COPY, MOVE into another mailbox (no STATUS) and SETMETADATA (``own_*``).
  MailboxMetadataChange, ServerMetadataChange (§5.6, §5.7): one unsolicited ``* METADATA mailbox
  entry ...`` per mailbox (``""``: the server) and report, naming every entry set or removed since
  the last one (RFC 5464 §4.4.2: names only), as the feed carried them (``Change.entries``: /private/
  names reach only their user).
- Other users' and public mailboxes (``mail.access``): named by a ``mailboxes`` or ``subtree``
  filter (``subtree "Shared"`` is every public mailbox the user sees) and held with "l" and "r" at
  NOTIFY SET, they are watched for MessageNew, MessageExpunge and FlagChange (STATUS as above, under
  the name the user writes), their rights read again before each is told (§5.9). PERSONAL, INBOXES
  and SUBSCRIBED are the user's own mailboxes; MailboxName, SubscriptionChange and METADATA events
  of such mailboxes are their owner's.
- The selected mailbox (SELECTED / SELECTED-DELAYED, §6.1): its EXISTS, FETCH FLAGS, and with SELECTED
  EXPUNGE/VANISHED too, are sent between commands as they happen (flag changes only with FlagChange,
  else with the next command, as without NOTIFY); during a command the rules of RFC
  9051 §7.5.1 stay (no EXPUNGE during FETCH, STORE, SEARCH). SELECTED-DELAYED holds expunges until a
  command that allows them (§6.1.2). MessageNew's fetch attributes: a FETCH (with UID) of the newly
  announced messages after their EXISTS (§5.2). Without either filter the selected mailbox is
  reported as without NOTIFY: during commands (RFC 9051 §7).
- When: after every command, between commands (the connection loop waits for input and news at
  once, ``read_between_commands``), and during IDLE, which then sends what NOTIFY asked for (§4).
- More than ``imap.notify_max_pending`` changes untold (the client stopped reading), or changes the
  feed dropped: ``* OK [NOTIFICATIONOVERFLOW]`` and NOTIFY NONE (§5.8).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pochta.mail.access import is_shared_name
from pochta.mail.errors import OpsError
from pochta.mail.names import canonical_name, parent_names
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.fetch import FetchArgs, FetchAtt
from pochta.proto.imap.notify import EventGroup, NotifyArgs
from pochta.proto.imap.responses import Code, ListItem, Metadata, StatusResponse, Untagged
from pochta.proto.imap.sequence import SequenceSet
from pochta.server.imap import fetch, select
from pochta.server.imap.notifier import SERVER, SUPPORTED_EVENTS, Filter, Foreign, Notifier, Watch
from pochta.server.imap.session import Session
from pochta.store.api import NotFound
from pochta.store.model import HIERARCHY_SEPARATOR, AccountId, ChangeKind, MailboxId, MailboxInfo, Uid

__all__ = [
    "OWN_NAME_CHANGES",
    "absorb_own",
    "notify",
    "own_messages",
    "own_metadata",
    "push",
    "read_between_commands",
    "report",
    "report_selected",
    "selected_pushed",
    "wait_for_news",
]

# Commands whose changes to the mailbox list this session is not told of (RFC 5465 §5).
OWN_NAME_CHANGES = frozenset({"CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"})
_STATUS_ORDER = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ")
_MESSAGE_EVENTS = frozenset({"MessageNew", "MessageExpunge", "FlagChange"})


async def notify(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, NotifyArgs)
    if args.groups is None:
        await session.stop_notify()
        return Tagged(command.tag, Status.OK, "NOTIFY completed")
    if any(event not in SUPPORTED_EVENTS for group in args.groups for event in group.events):
        # RFC 5465 §3.1: NO, with BADEVENT listing every event the server supports.
        code = Code("BADEVENT", b"(" + " ".join(SUPPORTED_EVENTS).encode("ascii") + b")")
        return Tagged(command.tag, Status.NO, "Unsupported NOTIFY event", code=code)
    imap = session.services.settings.imap
    if sum(len(group.mailboxes) for group in args.groups) > imap.notify_max_mailboxes:
        return Tagged(
            command.tag,
            Status.NO,
            f"At most {imap.notify_max_mailboxes} mailbox names in NOTIFY",
            code="NOTIFICATIONOVERFLOW",  # RFC 5465 §3.1: too expensive
        )
    watch = _watch(session, args.groups)
    await session.stop_notify()
    store = session.services.store
    account = session.account
    assert account is not None  # NOTIFY is command-auth (the receiver checked)
    # Subscribed before the mailbox list is read: no change falls between them.
    subscription = store.feed().subscribe_account(account.id, max_pending=imap.notify_max_pending)
    infos = await store.mailboxes(account.id)
    known = {info.id: info for info in infos}
    notifier = Notifier(watch, subscription, imap.notify_max_pending, known, account.id)
    notifier.start()
    session.notifier = notifier
    await _watch_foreign(session, notifier)
    if args.status:
        _initial_status(session, notifier, infos)
    return Tagged(command.tag, Status.OK, "NOTIFY completed")


async def _watch_foreign(session: Session, notifier: Notifier) -> None:
    """The other users' and public mailboxes the ``mailboxes`` and ``subtree`` filters name, that
    the user may see and read (RFC 5465 §3.1: a name the user cannot LIST is ignored; §5: every
    event needs "l" and "r"): watched for their message events, one feed subscription per owner."""
    watch = notifier.watch
    named = [f for f in watch.filters if f.kind in ("MAILBOXES", "SUBTREE")]
    if not any(is_shared_name(name) for f in named for name in f.names):
        return
    account = session.account
    assert account is not None
    owners: set[AccountId] = set()
    for shown, info, rights in await session.services.ops.access.shared_with(account):
        events = watch.named_events(shown) & _MESSAGE_EVENTS
        if events and {"l", "r"} <= rights:
            notifier.foreign[info.id] = Foreign(shown, info.account_id, events)
            notifier.foreign_told[info.id] = info
            owners.add(info.account_id)
    feed = session.services.store.feed()
    for owner in sorted(owners):
        notifier.follow_owner(feed.subscribe_account(owner, max_pending=notifier.max_pending))


def _watch(session: Session, groups: tuple[EventGroup, ...]) -> Watch:
    selected_events: frozenset[str] = frozenset()
    delayed = False
    fetch_atts: tuple[FetchAtt, ...] = ()
    filters: list[Filter] = []
    for group in groups:
        events = frozenset(group.events)
        if group.selected:
            selected_events = events & _MESSAGE_EVENTS
            delayed, fetch_atts = group.filter == "SELECTED-DELAYED", group.fetch_atts
            continue
        names = set()
        for raw in group.mailboxes:
            try:
                names.add(canonical_name(session.ctx.mailbox_name(raw)))
            except (ValueError, OpsError):
                continue  # RFC 5465 §3.1: a name that refers to no mailbox is ignored
        if events:
            filters.append(Filter(group.filter, frozenset(names), events))
    return Watch(selected_events, delayed, fetch_atts, tuple(filters))


def _initial_status(session: Session, notifier: Notifier, infos: list[MailboxInfo]) -> None:
    """RFC 5465 §3.1: with SET STATUS, a STATUS for each mailbox but the selected one for which
    message events are asked: MESSAGES UIDNEXT UIDVALIDITY UNSEEN (what MessageNew and MessageExpunge
    require, and UNSEEN, as Dovecot 2.3 sends), and HIGHESTMODSEQ for FlagChange."""
    selected = session.selected
    for info in sorted(infos, key=lambda i: i.name):
        if selected is not None and info.id == selected.mailbox_id:
            continue
        events = notifier.watch.events_for(info.name, info.subscribed) & _MESSAGE_EVENTS
        if not events:
            continue
        items = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
        if "FlagChange" in events:
            items.add("HIGHESTMODSEQ")  # §3.1: with UIDVALIDITY, as the server supports CONDSTORE
        session.send(_status(info, items))
    for mailbox_id, foreign in sorted(notifier.foreign.items(), key=lambda pair: pair[1].shown):
        if selected is not None and mailbox_id == selected.mailbox_id:
            continue
        items = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
        if "FlagChange" in foreign.events:
            items.add("HIGHESTMODSEQ")
        session.send(_status(notifier.foreign_told[mailbox_id], items, foreign.shown))


def _status(info: MailboxInfo, items: set[str], name: str | None = None) -> StatusResponse:
    values = {
        "MESSAGES": info.messages,
        "UIDNEXT": info.uidnext,
        "UIDVALIDITY": info.uidvalidity,
        "UNSEEN": info.unseen,
        "HIGHESTMODSEQ": info.highestmodseq,
    }
    pairs = tuple((item, values[item]) for item in _STATUS_ORDER if item in items)
    return StatusResponse(info.name if name is None else name, pairs)


# --- telling -------------------------------------------------------------------------------------


async def report(session: Session) -> None:
    """Queue what the notifier collected about mailboxes other than the selected one."""
    notifier = session.notifier
    if notifier is None:
        return
    if notifier.overflowed:
        # RFC 5465 §5.8: say so, and behave as after NOTIFY NONE.
        session.send(Untagged(Status.OK, "Too many notifications, NOTIFY NONE", code="NOTIFICATIONOVERFLOW"))
        await session.stop_notify()
        return
    news = notifier.take()
    told = dict(notifier.known)  # as last told: the baseline of UNSEEN, whatever the list read brings
    unknown = (m for m in news.kinds if m not in notifier.known and m not in notifier.foreign)
    if news.names or any(unknown):
        await _mailbox_changes(session, notifier)
    selected = session.selected
    for mailbox_id, changed in sorted(news.kinds.items()):
        if selected is not None and mailbox_id == selected.mailbox_id:
            continue  # RFC 5465 §3.1: only SELECTED / SELECTED-DELAYED speak of it
        await _status_change(session, notifier, mailbox_id, changed, told.get(mailbox_id))
    for mailbox_id, entries in sorted(news.metadata.items()):
        _metadata_change(session, notifier, mailbox_id, entries)


def _metadata_change(session: Session, notifier: Notifier, mailbox_id: MailboxId, entries: set[str]) -> None:
    """MailboxMetadataChange, ServerMetadataChange: the names of the entries changed (RFC 5465
    §5.6, §5.7; RFC 5464 §4.4.2: "MUST only contain entry names, not the values")."""
    watch = notifier.watch
    if mailbox_id == SERVER:
        if watch.wants_server_metadata:  # RFC 5464 §3.3: everyone may read the server's entries
            session.send(Metadata("", [(name, None) for name in sorted(entries)], with_values=False))
        return
    info = notifier.known.get(mailbox_id)
    if info is None:
        return  # not a mailbox of this account (another's, for a private entry there), or deleted
    if "MailboxMetadataChange" not in watch.events_for(info.name, info.subscribed):
        return
    # RFC 5464 §3.3 (``mail.metadata.can_access_metadata``) holds: ``known`` is the user's own
    # mailboxes, on which the owner has every right (the owner's rights are implicit, ``mail.access``);
    # a /shared/ name of another's mailbox never comes here (the feed gives it to the owner only).
    session.send(Metadata(info.name, [(name, None) for name in sorted(entries)], with_values=False))


async def _status_change(
    session: Session,
    notifier: Notifier,
    mailbox_id: MailboxId,
    changed: set[ChangeKind],
    told: MailboxInfo | None,
) -> None:
    before = notifier.known.get(mailbox_id)
    if before is None:
        foreign = notifier.foreign.get(mailbox_id)
        if foreign is not None:
            await _foreign_change(session, notifier, mailbox_id, foreign, changed)
        return  # else deleted meanwhile (told as MailboxName, if asked)
    events = notifier.watch.events_for(before.name, before.subscribed)
    info = await _tell_status(session, mailbox_id, changed, events, told or before, before.name)
    if info is not None:
        notifier.known[mailbox_id] = info


async def _foreign_change(
    session: Session, notifier: Notifier, mailbox_id: MailboxId, foreign: Foreign, changed: set[ChangeKind]
) -> None:
    """A watched mailbox of another user or a public one: told only while the user holds "l" and
    "r" there, read again now (RFC 5465 §5.9: stopped while access is lost, again once regained)."""
    account = session.account
    assert account is not None
    rights = await session.services.ops.access.rights_on(account, mailbox_id, foreign.owner_id)
    if not {"l", "r"} <= rights:
        return
    told = notifier.foreign_told.get(mailbox_id)
    info = await _tell_status(session, mailbox_id, changed, foreign.events, told, foreign.shown)
    if info is not None:
        notifier.foreign_told[mailbox_id] = info


async def _tell_status(
    session: Session,
    mailbox_id: MailboxId,
    changed: set[ChangeKind],
    events: frozenset[str],
    told: MailboxInfo | None,
    name: str,
) -> MailboxInfo | None:
    """The STATUS of one mailbox's message changes, under ``name``; its status now (None: nothing
    to tell, or the mailbox is gone)."""
    items: set[str] = set()
    new = ChangeKind.APPENDED in changed and "MessageNew" in events
    if new or (ChangeKind.EXPUNGED in changed and "MessageExpunge" in events):
        # RFC 5465 §5.2, §5.3: UIDNEXT MESSAGES (and UIDVALIDITY UNSEEN, as Dovecot); HIGHESTMODSEQ
        # with CONDSTORE (§5.3 asks for it with QRESYNC, which enables CONDSTORE).
        items |= {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
        if session.condstore:
            items.add("HIGHESTMODSEQ")
    flags = ChangeKind.FLAGS in changed and "FlagChange" in events
    if flags and session.condstore:
        items |= {"UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"}  # RFC 5465 §5.1
    if not items and not flags:
        return None
    info = await session.services.store.get_mailbox_by_id(mailbox_id)
    if info is None:
        return None
    notifier = session.notifier
    stamp = (info.uidvalidity, info.highestmodseq)
    if notifier is not None and notifier.status_told.get(mailbox_id) == stamp:
        return info  # nothing committed since the last STATUS of it (``Notifier.status_told``)
    if flags and not session.condstore and (told is None or info.unseen != told.unseen):
        items.add("UNSEEN")  # RFC 5465 §5.1: MAY, when the count of unseen messages changed
    if items:
        session.send(_status(info, items, name))
        if notifier is not None:
            notifier.status_told[mailbox_id] = stamp
    return info


def _attributes(info: MailboxInfo, parents: set[str]) -> list[str]:
    attrs = ["\\HasChildren" if info.name in parents else "\\HasNoChildren"]  # RFC 5465 §5.4: SHOULD
    if info.special_use is not None:
        attrs.append(info.special_use)
    if info.subscribed:
        attrs.append("\\Subscribed")  # RFC 5465 §5.4, §5.5
    return attrs


async def _mailbox_changes(session: Session, notifier: Notifier) -> None:
    """MailboxName and SubscriptionChange (RFC 5465 §5.4, §5.5): the account's mailboxes now,
    compared with those last told."""
    old = notifier.known
    infos = await session.services.store.mailboxes(session.account_id)
    notifier.remember(infos)
    new = notifier.known
    watch = notifier.watch
    if not watch.wants_names:
        return
    parents = {p for info in infos for p in parent_names(info.name)}
    renamed = {mid for mid in new if mid in old and old[mid].name != new[mid].name}
    renamed_from = {old[mid].name for mid in renamed}
    out: list[tuple[str, ListItem]] = []
    for mid, info in new.items():
        before = old.get(mid)
        if before is None:
            if "MailboxName" in watch.events_for(info.name, info.subscribed):
                out.append((info.name, ListItem(_attributes(info, parents), HIERARCHY_SEPARATOR, info.name)))
            continue
        if mid in renamed:
            parent = parent_names(before.name)
            if parent and parent[-1] in renamed_from:
                continue  # RFC 5465 §5.4: children of a renamed mailbox get no event of their own
            events = watch.events_for(info.name, info.subscribed) | watch.events_for(
                before.name, before.subscribed
            )
            if "MailboxName" in events:
                item = ListItem(
                    _attributes(info, parents), HIERARCHY_SEPARATOR, info.name, oldname=before.name
                )
                out.append((info.name, item))
            continue
        if before.subscribed != info.subscribed:
            events = watch.events_for(info.name, True)
            if "SubscriptionChange" in events:
                out.append((info.name, ListItem(_attributes(info, parents), HIERARCHY_SEPARATOR, info.name)))
    for mid, before in old.items():
        if mid not in new and "MailboxName" in watch.events_for(before.name, before.subscribed):
            out.append((before.name, ListItem(("\\NonExistent",), HIERARCHY_SEPARATOR, before.name)))
    for _, item in sorted(out, key=lambda pair: pair[0]):
        session.send(item)


async def absorb_own(session: Session) -> None:
    """After this session's own CREATE, DELETE, RENAME, (UN)SUBSCRIBE: take the mailbox list as it
    is now without telling the client (RFC 5465 §5: SHOULD NOT notify of its own changes)."""
    notifier = session.notifier
    if notifier is not None:
        notifier.remember(await session.services.store.mailboxes(session.account_id))


def own_messages(session: Session, mailbox_id: MailboxId, uids: tuple[Uid, ...]) -> None:
    """This session's APPEND, COPY or MOVE added ``uids`` to the mailbox: no STATUS of it to this
    session (RFC 5465 §5: "The server SHOULD omit notifying the client if the event is caused by
    this client"). The selected mailbox's EXISTS is sent as ever (RFC 9051 §7.4.1), with no NOTIFY
    FETCH (RFC 5465 §5.2: "A FETCH response SHOULD NOT be generated for a new message created by the
    client on this particular connection")."""
    notifier = session.notifier
    if notifier is None or not uids:
        return
    selected = session.selected
    if selected is not None and selected.mailbox_id == mailbox_id:
        notifier.own_selected.setdefault(mailbox_id, set()).update(uids)
    # Another account's mailbox: its changes come here only when watched (``foreign``).
    if mailbox_id in notifier.known or mailbox_id in notifier.foreign:
        notifier.own_messages(mailbox_id, uids)


def own_metadata(session: Session, mailbox: MailboxInfo | None, names: tuple[str, ...]) -> None:
    """This session's SETMETADATA set or removed ``names`` of the mailbox (None: the server): not
    told to it (RFC 5465 §5). Only names whose change reaches this session's subscription are
    expected back: its own /private/ ones, the server's, and /shared/ ones of its own mailboxes."""
    notifier = session.notifier
    if notifier is None or not names:
        return
    if mailbox is None:
        notifier.own_metadata(SERVER, names)
        return
    mine = mailbox.account_id == session.account_id
    notifier.own_metadata(mailbox.id, [n for n in names if mine or n.startswith("/private/")])


def selected_pushed(session: Session) -> bool:
    """Whether the selected mailbox's changes are sent as they happen (SELECTED, SELECTED-DELAYED)."""
    notifier = session.notifier
    return notifier is not None and session.selected is not None and bool(notifier.watch.selected_events)


async def report_selected(
    session: Session, *, poll: bool, allow_expunge: bool, include_uid: bool, flags: bool = True
) -> None:
    """``select.report_updates``, and with MessageNew's fetch attributes a FETCH of the messages it
    announced (RFC 5465 §5.2: after the EXISTS)."""
    selected = session.selected
    notifier = session.notifier
    if selected is None:
        return
    mark = selected.announced
    await select.report_updates(
        session, poll=poll, allow_expunge=allow_expunge, include_uid=include_uid, flags=flags
    )
    if notifier is None:
        return
    own = notifier.own_selected.pop(selected.mailbox_id, None)  # announced now, with the command
    watch = notifier.watch
    if "MessageNew" not in watch.selected_events or not watch.fetch_atts:
        return
    if session.selected is not selected:
        return  # the mailbox went away
    uids = selected.announced_after(mark)
    if own:
        uids = [uid for uid in uids if uid not in own]  # RFC 5465 §5.2: not for its own APPEND, COPY
    if not uids:
        return
    args = FetchArgs(SequenceSet.of(*uids), watch.fetch_atts)
    command = Command(b"*", "FETCH", True, args, COMMANDS["UID FETCH"])
    with contextlib.suppress(OpsError, NotFound):
        await fetch.fetch(session, command)  # its tagged result is not sent


async def push(session: Session, *, idle: bool = False) -> None:
    """Send what NOTIFY asked for now (between commands, or during IDLE)."""
    notifier = session.notifier
    if notifier is None:
        return
    if selected_pushed(session):
        watch = notifier.watch
        # RFC 5465 §6.1.2: SELECTED-DELAYED holds expunges until a command allows them (IDLE does).
        allow = "MessageExpunge" in watch.selected_events and (idle or not watch.delayed)
        # Flag changes without FlagChange wait for the next command (RFC 9051 §7: with any command).
        flags = "FlagChange" in watch.selected_events
        await report_selected(session, poll=False, allow_expunge=allow, include_uid=False, flags=flags)
    if not session.logout:
        await report(session)
    await session.flush()


async def wait_for_news(session: Session, *, selected: bool) -> None:
    """Until the notifier has news (or, with ``selected``, the selected mailbox changed: the feed
    says so, or the store does when asked every ``imap.idle_check_seconds``)."""
    notifier = session.notifier
    waits: list[asyncio.Future[Any]] = []
    if notifier is not None:
        waits.append(asyncio.ensure_future(notifier.ready.wait()))
    if selected:
        waits.append(asyncio.ensure_future(session.dirty.wait()))
        if session.selected is not None:
            waits.append(asyncio.ensure_future(_check_store(session)))
    if not waits:
        await asyncio.Event().wait()  # nothing can come: wait to be cancelled
        return
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


async def _check_store(session: Session) -> None:
    """Returns once the store tells of a change of the selected mailbox the feed did not announce
    (``select.changed_unannounced``): the feed is a wake-up, the store the truth, so a lost wake-up
    delays a change by at most one interval and never loses it."""
    interval = session.services.settings.imap.idle_check_seconds
    while True:
        await asyncio.sleep(interval)
        if await select.changed_unannounced(session):
            return


async def read_between_commands(session: Session) -> bytes:
    """The client's next input, telling it the news that come while it is awaited (RFC 5465 §3:
    "the client listens for event notifications all the time"). ``b""`` once the session must end."""
    conn, receiver = session.conn, session.receiver
    read = asyncio.ensure_future(conn.read_some(line_open=receiver.line_open))
    try:
        while session.notifier is not None:
            woken = asyncio.ensure_future(wait_for_news(session, selected=selected_pushed(session)))
            await asyncio.wait((read, woken), return_when=asyncio.FIRST_COMPLETED)
            if not woken.done():
                woken.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await woken
                break
            await push(session)
            if session.logout:
                return b""  # the selected mailbox was deleted: a BYE was sent
            if read.done():
                break
        return await read
    finally:
        if not read.done():
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read
