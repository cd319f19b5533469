"""Arguments of NOTIFY (RFC 5465 §3.1, grammar §8): ``NOTIFY NONE`` and ``NOTIFY SET [STATUS] groups``.

Each event group is a mailbox filter (§6: SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED,
SUBTREE and MAILBOXES with one mailbox or a parenthesised list) and its events, or NONE. What is a
syntax error here is a BAD (§3.1: "invalid ... or has unknown arguments"):

- an unknown filter, an empty event list, two filters of the selected mailbox (§6.1: "only one of
  them can be specified"), an event other than a message event with SELECTED or SELECTED-DELAYED
  (§6.1: "It is an error"), MessageNew's fetch-att list with any other filter (§8);
- the events may stand without their parentheses, as in the examples of §3.1 and §6 (§8 asks for
  a list);
- MessageNew's fetch attributes are FETCH's (``proto.imap.fetch.fetch_att``; no macros, §8).

Event names are kept case-folded to their RFC spelling; names this parser does not know (§8
event-ext, and AnnotationChange, the METADATA events) are kept as given, upper-cased: the handler
answers them ``NO [BADEVENT (...)]`` (§3.1: a NO, not a BAD). RFC 5465 §5's pairing rules (MessageNew
with MessageExpunge; FlagChange only with both) are not enforced, as in Dovecot 2.3, whose behaviour
imaptest's ``notify`` script checks (docs/imap.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.imap import wire
from pochta.proto.imap.fetch import FetchAtt, fetch_att
from pochta.proto.imap.wire import Cursor, ParseError

__all__ = [
    "EVENTS",
    "MAILBOX_EVENTS",
    "MESSAGE_EVENTS",
    "SELECTED_FILTERS",
    "EventGroup",
    "NotifyArgs",
    "parse_notify",
]

# RFC 5465 §8 message-event, mailbox-event, user-event: upper case -> the RFC's spelling.
MESSAGE_EVENTS = {
    "MESSAGENEW": "MessageNew",
    "MESSAGEEXPUNGE": "MessageExpunge",
    "FLAGCHANGE": "FlagChange",
    "ANNOTATIONCHANGE": "AnnotationChange",
}
MAILBOX_EVENTS = {
    "MAILBOXNAME": "MailboxName",
    "SUBSCRIPTIONCHANGE": "SubscriptionChange",
    "MAILBOXMETADATACHANGE": "MailboxMetadataChange",
    "SERVERMETADATACHANGE": "ServerMetadataChange",
}
EVENTS = MESSAGE_EVENTS | MAILBOX_EVENTS
SELECTED_FILTERS = frozenset({"SELECTED", "SELECTED-DELAYED"})  # RFC 5465 §6.1
_PLAIN_FILTERS = frozenset({"INBOXES", "PERSONAL", "SUBSCRIBED"})  # §6.2, §6.3, §6.4
_NAMED_FILTERS = frozenset({"SUBTREE", "MAILBOXES"})  # §6.5, §6.6: followed by mailbox names


def _a(data: bytes) -> bytes:
    return wire.astring(data, utf8=True)


@dataclass(frozen=True)
class EventGroup:
    filter: str  # upper case: "SELECTED", "SELECTED-DELAYED", "INBOXES", ..., "MAILBOXES"
    events: tuple[str, ...]  # RFC spelling (unknown ones upper-cased); () for NONE
    mailboxes: tuple[bytes, ...] = ()  # SUBTREE and MAILBOXES: the names as sent
    fetch_atts: tuple[FetchAtt, ...] = ()  # MessageNew's, with SELECTED / SELECTED-DELAYED only

    @property
    def selected(self) -> bool:
        return self.filter in SELECTED_FILTERS

    def encode(self) -> bytes:
        out = b"(" + self.filter.encode("ascii")
        if self.filter in _NAMED_FILTERS:
            names = [_a(m) for m in self.mailboxes]
            out += b" " + (names[0] if len(names) == 1 else b"(" + b" ".join(names) + b")")
        if not self.events:
            return out + b" NONE)"
        events = []
        for event in self.events:
            item = event.encode("ascii")
            if event == "MessageNew" and self.fetch_atts:
                item += b" (" + b" ".join(a.encode() for a in self.fetch_atts) + b")"
            events.append(item)
        return out + b" (" + b" ".join(events) + b"))"


@dataclass(frozen=True)
class NotifyArgs:
    groups: tuple[EventGroup, ...] | None  # None: NOTIFY NONE
    status: bool = False  # SET STATUS: the initial STATUS of the watched mailboxes (§3.1)

    def encode(self) -> bytes:
        if self.groups is None:
            return b" NONE"
        head = b" SET STATUS" if self.status else b" SET"
        return head + b"".join(b" " + group.encode() for group in self.groups)


def _mailboxes(cur: Cursor) -> tuple[bytes, ...]:
    """RFC 5465 §8 one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"."""
    if not cur.maybe(b"("):
        return (cur.astring(),)
    names = [cur.astring()]
    while not cur.maybe(b")"):
        cur.sp()
        names.append(cur.astring())
    return tuple(names)


def _events(cur: Cursor, selected: bool) -> tuple[tuple[str, ...], tuple[FetchAtt, ...]]:
    """RFC 5465 §8 events = ( "(" event *(SP event) ")" ) / "NONE"; also the events without the
    parentheses, as the examples of §3.1 and §6 write them ("(selected MessageNew (uid) MessageExpunge)")."""
    listed = cur.maybe(b"(")
    if not listed and cur.peek_keyword(b"NONE"):
        cur.skip(len(b"NONE"))
        return (), ()
    events: list[str] = []
    atts: tuple[FetchAtt, ...] = ()
    while True:
        name = cur.keyword()
        event = EVENTS.get(name, name)
        if selected and name in MAILBOX_EVENTS:
            # RFC 5465 §6.1: only message events with SELECTED / SELECTED-DELAYED.
            raise ParseError(f"{event} cannot be used with the selected mailbox's filter")
        if event == "MessageNew" and cur.peek_is(b" ("):
            if not selected:
                # RFC 5465 §8: the fetch-att list only with SELECTED / SELECTED-DELAYED.
                raise ParseError("MessageNew fetch attributes are allowed for the selected mailbox only")
            cur.skip(2)
            found = [fetch_att(cur)]
            while not cur.maybe(b")"):
                cur.sp()
                found.append(fetch_att(cur))
            atts = tuple(found)
        events.append(event)
        if cur.peek() == 0x29:  # ")": of the list, or of the group when unparenthesised
            if listed:
                cur.skip(1)
            return tuple(dict.fromkeys(events)), atts
        cur.sp()


def _group(cur: Cursor) -> EventGroup:
    """RFC 5465 §8 event-group = "(" filter-mailboxes SP events ")"."""
    cur.expect(b"(")
    kind = cur.keyword()
    names: tuple[bytes, ...] = ()
    if kind in _NAMED_FILTERS:
        cur.sp()
        names = _mailboxes(cur)
    elif kind not in SELECTED_FILTERS and kind not in _PLAIN_FILTERS:
        raise ParseError(f"Unknown NOTIFY mailbox filter {kind[:40]}")
    cur.sp()
    events, atts = _events(cur, kind in SELECTED_FILTERS)
    cur.expect(b")")
    return EventGroup(kind, events, names, atts)


def parse_notify(cur: Cursor, max_depth: int) -> NotifyArgs:
    # RFC 5465 §8: notify = "NOTIFY" SP (notify-set / notify-none)
    cur.sp()
    word = cur.keyword()
    if word == "NONE":
        return NotifyArgs(None)
    if word != "SET":
        raise ParseError("Expected NOTIFY SET or NOTIFY NONE")
    cur.sp()
    status = cur.peek_keyword(b"STATUS")
    if status:
        cur.skip(len(b"STATUS"))
        cur.sp()
    groups = [_group(cur)]
    while cur.maybe_sp():
        groups.append(_group(cur))
    if sum(group.selected for group in groups) > 1:
        # RFC 5465 §6.1: "Only one of the mailbox specifiers affecting the currently selected
        # mailbox can be specified in any NOTIFY command."
        raise ParseError("Only one of SELECTED and SELECTED-DELAYED may be given")
    return NotifyArgs(tuple(groups), status)
