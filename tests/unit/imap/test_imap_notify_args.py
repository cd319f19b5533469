"""NOTIFY (RFC 5465 §8): the command's arguments fed whole and byte by byte, bad inputs with their
precise BAD, round trips of the canonical form; the notifier's filters (§6) and coalescing."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Command, Receiver, State
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.fetch import FetchAtt, Section
from pochta.proto.imap.notify import EventGroup, NotifyArgs
from pochta.server.imap.notifier import SERVER, Filter, News, Notifier, Watch
from pochta.store.changes import LocalChangeFeed
from pochta.store.model import EVERY_ACCOUNT, AccountId, Change, ChangeKind, MailboxId, ModSeq

NEW_EXPUNGE = ("MessageNew", "MessageExpunge")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "args"),
    [
        (b"a NOTIFY NONE", NotifyArgs(None)),
        (b"a notify none", NotifyArgs(None)),
        (
            b"a NOTIFY SET (selected (MessageNew MessageExpunge))",
            NotifyArgs((EventGroup("SELECTED", NEW_EXPUNGE),)),
        ),
        (
            b"a NOTIFY SET STATUS (Selected-Delayed (messagenew MESSAGEEXPUNGE FlagChange)) (personal NONE)",
            NotifyArgs(
                (
                    EventGroup("SELECTED-DELAYED", (*NEW_EXPUNGE, "FlagChange")),
                    EventGroup("PERSONAL", ()),
                ),
                status=True,
            ),
        ),
        (
            # RFC 5465 §3.1's example, events without parentheses as it writes them.
            b"b notify set status (selected MessageNew (uid body.peek[header.fields (from to subject)])"
            b" MessageExpunge) (subtree Lists MessageNew)",
            NotifyArgs(
                (
                    EventGroup(
                        "SELECTED",
                        NEW_EXPUNGE,
                        fetch_atts=(
                            FetchAtt("UID"),
                            FetchAtt(
                                "BODY",
                                Section((), "HEADER.FIELDS", (b"from", b"to", b"subject")),
                                peek=True,
                            ),
                        ),
                    ),
                    EventGroup("SUBTREE", ("MessageNew",), (b"Lists",)),
                ),
                status=True,
            ),
        ),
        (
            b'a NOTIFY SET (mailboxes (INBOX "a b" {1+}\r\nc) (MessageNew MessageExpunge))'
            b" (inboxes (MessageNew))",
            NotifyArgs(
                (
                    EventGroup("MAILBOXES", NEW_EXPUNGE, (b"INBOX", b"a b", b"c")),
                    EventGroup("INBOXES", ("MessageNew",)),
                )
            ),
        ),
        (
            b"a NOTIFY SET (subscribed (MailboxName SubscriptionChange X-Future AnnotationChange))",
            NotifyArgs(
                (
                    EventGroup(
                        "SUBSCRIBED", ("MailboxName", "SubscriptionChange", "X-FUTURE", "AnnotationChange")
                    ),
                )
            ),
        ),
        (
            # The same event twice counts once.
            b"a NOTIFY SET (personal (MessageNew MessageNew))",
            NotifyArgs((EventGroup("PERSONAL", ("MessageNew",)),)),
        ),
        (
            # RFC 5465 §5: the pairing rules are not enforced (as Dovecot; imaptest's notify script).
            b"a NOTIFY SET (mailboxes x (FlagChange))",
            NotifyArgs((EventGroup("MAILBOXES", ("FlagChange",), (b"x",)),)),
        ),
    ],
)
def test_notify_parses(line: bytes, args: NotifyArgs, mode: str) -> None:
    receiver = Receiver()
    receiver.state = State.AUTHENTICATED
    receiver.utf8 = True
    [command] = [e for e in feed(receiver, line + b"\r\n", mode) if isinstance(e, Command)]
    assert command.args == args


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"a NOTIFY", "Expected a space"),
        (b"a NOTIFY SOME", "Expected NOTIFY SET or NOTIFY NONE"),
        (b"a NOTIFY NONE (personal NONE)", "Unexpected extra arguments"),
        (b"a NOTIFY SET", "Expected a space"),
        (b"a NOTIFY SET STATUS", "Expected a space"),
        (b"a NOTIFY SET personal", "Expected ("),
        (b"a NOTIFY SET (everything (MessageNew))", "Unknown NOTIFY mailbox filter EVERYTHING"),
        (b"a NOTIFY SET (personal)", "Expected a space"),
        (b"a NOTIFY SET (personal ())", "Expected an atom"),
        (b"a NOTIFY SET (personal (MessageNew)", "Expected )"),
        (b"a NOTIFY SET (personal (MessageNew))(inboxes NONE)", "Unexpected extra arguments"),
        (b"a NOTIFY SET (subtree (MessageNew))", "Expected a space"),
        (b"a NOTIFY SET (mailboxes () (MessageNew))", "Expected a string"),
        (
            b"a NOTIFY SET (selected (MessageNew)) (selected-delayed (MessageNew))",
            "Only one of SELECTED and SELECTED-DELAYED may be given",
        ),
        (
            b"a NOTIFY SET (selected (MessageNew MailboxName))",
            "MailboxName cannot be used with the selected mailbox's filter",
        ),
        (
            b"a NOTIFY SET (selected-delayed SubscriptionChange)",
            "SubscriptionChange cannot be used with the selected mailbox's filter",
        ),
        (
            b"a NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
            "MessageNew fetch attributes are allowed for the selected mailbox only",
        ),
        (b"a NOTIFY SET (selected (MessageNew (UID NOSUCH)))", "Unknown FETCH item NOSUCH"),
        (b"a NOTIFY SET (selected (MessageNew ()))", "Expected a FETCH item"),
    ],
)
def test_notify_bad_syntax(line: bytes, message: str, mode: str) -> None:
    receiver = Receiver()
    receiver.state = State.AUTHENTICATED
    receiver.utf8 = True
    err = error(feed(receiver, line + b"\r\n", mode))
    assert err.reply.status.value == "BAD"
    assert err.reply.text == message
    assert not err.close


def test_notify_needs_authentication() -> None:
    receiver = Receiver()
    receiver.state = State.NOT_AUTHENTICATED
    err = error(feed(receiver, b"a NOTIFY NONE\r\n"))
    assert (err.reply.status.value, err.reply.text) == ("BAD", "Log in first")


names = st.binary(min_size=1, max_size=12).filter(lambda b: not {0, 10, 13} & set(b))
events = st.lists(
    st.sampled_from(["MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange"]),
    max_size=5,
    unique=True,
)
other_groups = st.builds(
    EventGroup,
    st.sampled_from(["INBOXES", "PERSONAL", "SUBSCRIBED"]),
    events.map(tuple),
) | st.builds(
    EventGroup,
    st.sampled_from(["SUBTREE", "MAILBOXES"]),
    events.map(tuple),
    st.lists(names, min_size=1, max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(other_groups, min_size=1, max_size=4), st.booleans())
def test_notify_roundtrip(groups: list[EventGroup], status: bool) -> None:
    args = NotifyArgs(tuple(groups), status)
    command = only_command(Command(b"t1", "NOTIFY", False, args, COMMANDS["NOTIFY"]).encode())
    assert command.args == args


def test_filters_match_by_name_and_subscription() -> None:
    watch = Watch(
        filters=(
            Filter("SUBTREE", frozenset({"Lists"}), frozenset({"MessageNew"})),
            Filter("MAILBOXES", frozenset({"Lists/a*"}), frozenset({"MessageExpunge"})),
            Filter("SUBSCRIBED", frozenset(), frozenset({"SubscriptionChange"})),
        )
    )
    assert watch.events_for("Lists", False) == {"MessageNew"}
    assert watch.events_for("Lists/a", False) == {"MessageNew"}
    assert watch.events_for("Lists/a*", True) == {"MessageNew", "MessageExpunge", "SubscriptionChange"}
    assert watch.events_for("Listsx", False) == set()  # RFC 5465 §6.5: below, not beside
    assert watch.events_for("Other", True) == {"SubscriptionChange"}
    personal = Watch(filters=(Filter("INBOXES", frozenset(), frozenset({"MessageNew"})),))
    assert personal.events_for("Any/where", False) == {"MessageNew"}  # §6.3: as PERSONAL


async def test_the_notifier_coalesces_changes_per_mailbox_and_overflows() -> None:
    feed_ = LocalChangeFeed()
    account, other = AccountId(1), AccountId(2)
    subscription = feed_.subscribe_account(account, max_pending=100)
    notifier = Notifier(Watch(), subscription, 4, {}, account)
    notifier.start()
    try:
        feed_.publish(
            [
                Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(2)),
                Change(ChangeKind.APPENDED, other, MailboxId(9), ModSeq(3)),  # another account's
                Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(4)),
                Change(ChangeKind.FLAGS, account, MailboxId(7), ModSeq(5)),
            ]
        )
        await asyncio.wait_for(notifier.ready.wait(), 5)
        news = notifier.take()
        assert news.kinds == {MailboxId(7): {ChangeKind.APPENDED, ChangeKind.FLAGS}}  # one entry, one STATUS
        assert not news.names
        assert not notifier.overflowed
        assert not notifier.ready.is_set()
        feed_.publish([Change(ChangeKind.MAILBOX, account, MailboxId(8), ModSeq(6))])
        await asyncio.wait_for(notifier.ready.wait(), 5)
        assert notifier.take() == News({}, True, {})
        # Five changes untold: past the bound of four.
        feed_.publish([Change(ChangeKind.EXPUNGED, account, MailboxId(n), ModSeq(9)) for n in range(5)])
        await asyncio.wait_for(notifier.ready.wait(), 5)
        await asyncio.sleep(0)
        assert notifier.overflowed
    finally:
        await notifier.close()
    assert feed_.subscriber_count(MailboxId(7)) == 0


async def test_the_notifier_collects_metadata_names_only_of_what_the_user_may_read() -> None:
    """RFC 5465 §5.6, §5.7: entry names by mailbox (0: the server), coalesced; /private/ names only
    in a change for this account; the server's /shared/ changes reach every account (the feed's
    EVERY_ACCOUNT); the session's own writes are dropped whether their echo came before or after
    it named them (§5), and nothing else is."""
    feed_ = LocalChangeFeed()
    account, other = AccountId(1), AccountId(2)
    notifiers = [
        Notifier(Watch(), feed_.subscribe_account(who, max_pending=100), 10, {}, who)
        for who in (account, other)
    ]
    mine, theirs = notifiers
    for notifier in notifiers:
        notifier.start()
    try:
        feed_.publish(
            [
                Change(ChangeKind.METADATA, account, MailboxId(7), ModSeq(2), entries=("/shared/a",)),
                Change(
                    ChangeKind.METADATA, account, MailboxId(7), ModSeq(3), entries=("/private/p", "/shared/a")
                ),
                # The other user's private entry on mailbox 7: the other user's alone to hear of.
                Change(ChangeKind.METADATA, other, MailboxId(7), ModSeq(3), entries=("/private/q",)),
                Change(ChangeKind.METADATA, EVERY_ACCOUNT, SERVER, ModSeq(0), entries=("/shared/comment",)),
            ]
        )
        await asyncio.wait_for(mine.ready.wait(), 5)
        await asyncio.wait_for(theirs.ready.wait(), 5)
        assert mine.take().metadata == {
            SERVER: {"/shared/comment"},
            MailboxId(7): {"/private/p", "/shared/a"},
        }
        assert theirs.take().metadata == {SERVER: {"/shared/comment"}, MailboxId(7): {"/private/q"}}
        # Own writes: one whose echo already came, one whose echo comes after.
        feed_.publish([Change(ChangeKind.METADATA, account, MailboxId(7), ModSeq(4), entries=("/shared/b",))])
        feed_.publish([Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(5), (3, 4))])
        await asyncio.sleep(0.05)
        mine.own_metadata(MailboxId(7), ["/shared/b"])
        mine.own_messages(MailboxId(7), [3, 4])
        mine.own_metadata(MailboxId(7), ["/shared/c"])
        mine.own_messages(MailboxId(7), [5])
        feed_.publish(
            [
                Change(ChangeKind.METADATA, account, MailboxId(7), ModSeq(6), entries=("/shared/c",)),
                Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(6), (5,)),
            ]
        )
        await asyncio.sleep(0.05)
        assert mine.take() == News({}, False, {})
        # The same names by someone else later: told.
        feed_.publish(
            [
                Change(ChangeKind.METADATA, account, MailboxId(7), ModSeq(7), entries=("/shared/c",)),
                Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(7), (6,)),
                Change(ChangeKind.APPENDED, account, MailboxId(7), ModSeq(8)),  # from a peer: no UIDs
            ]
        )
        await asyncio.wait_for(mine.ready.wait(), 5)
        await asyncio.sleep(0.05)
        assert mine.take() == News(
            {MailboxId(7): {ChangeKind.APPENDED}}, False, {MailboxId(7): {"/shared/c"}}
        )
    finally:
        for notifier in notifiers:
            await notifier.close()
