"""Typed responses serialise to the RFC 9051 §7 examples; strings, literals and mailbox names by session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pochta.mail.errors import InvalidMailboxName
from pochta.mail.names import modified_utf7_decode, modified_utf7_encode
from pochta.proto.imap import Code, SequenceSet, Status, Tagged, WireContext, serialise
from pochta.proto.imap.fetch import FetchAtt, Section
from pochta.proto.imap.responses import (
    Body,
    Bye,
    Capability,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flags,
    Id,
    ListItem,
    Namespace,
    NamespaceDescr,
    Raw,
    Recent,
    Search,
    StatusResponse,
    StreamedBody,
    Untagged,
    format_datetime,
)

S = SequenceSet.parse
REV1 = WireContext(encode_mailbox=modified_utf7_encode, decode_mailbox=modified_utf7_decode)
UTF8 = WireContext(utf8=True)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            Tagged(b"A142", Status.OK, "SELECT completed", "READ-WRITE"),
            b"A142 OK [READ-WRITE] SELECT completed",
        ),
        (
            Untagged(Status.OK, "Predicted next UID", Code.uidnext(4392)),
            b"* OK [UIDNEXT 4392] Predicted next UID",
        ),
        (
            Untagged(Status.OK, "UIDs valid", Code.uidvalidity(3857529045)),
            b"* OK [UIDVALIDITY 3857529045] UIDs valid",
        ),
        (
            Untagged(Status.OK, "Limited", Code.permanentflags(["\\Deleted", "\\Seen", "\\*"])),
            b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited",
        ),
        (
            Tagged(b"A003", Status.OK, "APPEND completed", Code.appenduid(38505, S(b"3955"))),
            b"A003 OK [APPENDUID 38505 3955] APPEND completed",
        ),
        (
            Tagged(b"A004", Status.OK, "Done", Code.copyuid(38505, S(b"304,319:320"), S(b"3956:3958"))),
            b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done",
        ),
        (
            Untagged(Status.OK, "Previous mailbox is now closed", "CLOSED"),
            b"* OK [CLOSED] Previous mailbox is now closed",
        ),
        (Tagged(b"a", Status.NO, "Mailbox exists", "ALREADYEXISTS"), b"a NO [ALREADYEXISTS] Mailbox exists"),
        (Tagged(b"a", Status.NO, "No such mailbox", "TRYCREATE"), b"a NO [TRYCREATE] No such mailbox"),
        (
            Tagged(b"a001", Status.NO, "LOGIN not permitted", "PRIVACYREQUIRED"),
            b"a001 NO [PRIVACYREQUIRED] LOGIN not permitted",
        ),
        (
            Tagged(b"A285", Status.NO, "Charset", Code.badcharset(["UTF-8"])),
            b"A285 NO [BADCHARSET (UTF-8)] Charset",
        ),
        (
            Untagged(Status.OK, "ready", Code.capability(["IMAP4rev2", "LITERAL-", "AUTH=PLAIN"])),
            b"* OK [CAPABILITY IMAP4rev2 LITERAL- AUTH=PLAIN] ready",
        ),
        (Tagged(b"x", Status.BAD, "bad\r\nline\x00"), b"x BAD bad  line"),  # text never breaks framing
        (Bye("Autologout; idle for too long"), b"* BYE Autologout; idle for too long"),
        (Continuation("idling"), b"+ idling"),
        (Continuation(data=b"\x01\x02"), b"+ AQI="),
        (Continuation(data=b""), b"+ "),
        (
            Capability(["IMAP4rev2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"]),
            b"* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED",
        ),
        (Enabled(["CONDSTORE"]), b"* ENABLED CONDSTORE"),
        (Enabled([]), b"* ENABLED"),
        (Exists(172), b"* 172 EXISTS"),
        (Recent(1), b"* 1 RECENT"),
        (Expunge(3), b"* 3 EXPUNGE"),
        (
            Flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]),
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        ),
        (Search([2, 3, 6]), b"* SEARCH 2 3 6"),
        (Search([]), b"* SEARCH"),
        (ESearch(b"A282", min=2, count=3), b'* ESEARCH (TAG "A282") MIN 2 COUNT 3'),
        (ESearch(b"A283", all=S(b"2,10:11")), b'* ESEARCH (TAG "A283") ALL 2,10:11'),
        (ESearch(b"A285", uid=True, min=7, max=3800), b'* ESEARCH (TAG "A285") UID MIN 7 MAX 3800'),
        (ESearch(b"A286", count=15), b'* ESEARCH (TAG "A286") COUNT 15'),
        (ESearch(b"A287", all=SequenceSet()), b'* ESEARCH (TAG "A287")'),
        (  # RFC 7377 §3 (the mailbox an astring, as in LIST)
            ESearch(b"tag1", uid=True, all=S(b"3002,4004"), mailbox="folder2/banana", uidvalidity=503),
            b'* ESEARCH (TAG "tag1" MAILBOX folder2/banana UIDVALIDITY 503) UID ALL 3002,4004',
        ),
        (
            StatusResponse("blurdybloop", [("MESSAGES", 231), ("UIDNEXT", 44292)]),
            b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)",
        ),
        (ListItem(["\\Noselect"], "/", "foo"), b'* LIST (\\Noselect) "/" foo'),
        (ListItem([], None, ""), b'* LIST () NIL ""'),
        (ListItem(["\\Subscribed"], ".", "INBOX", lsub=True), b'* LSUB (\\Subscribed) "." INBOX'),
        (
            ListItem([], ".", "foo", childinfo=["SUBSCRIBED"]),
            b'* LIST () "." foo ("CHILDINFO" ("SUBSCRIBED"))',
        ),
        (ListItem([], "/", "Bar", oldname="Foo"), b'* LIST () "/" Bar ("OLDNAME" (Foo))'),
        (ListItem([], "/", "a b"), b'* LIST () "/" "a b"'),
        (ListItem([], "/", 'q"\\'), b'* LIST () "/" "q\\"\\\\"'),
        (ListItem([], "/", "NIL"), b'* LIST () "/" "NIL"'),
        (Namespace([NamespaceDescr("", "/")]), b'* NAMESPACE (("" "/")) NIL NIL'),
        (
            Namespace(
                [NamespaceDescr("", "/")], [NamespaceDescr("~", "/")], [NamespaceDescr("#shared/", "/")]
            ),
            b'* NAMESPACE (("" "/")) (("~" "/")) (("#shared/" "/"))',
        ),
        (Id([("name", "pochta"), ("version", None)]), b'* ID ("name" "pochta" "version" NIL)'),
        (Id(None), b"* ID NIL"),
        (Fetch(12, [("FLAGS", ["\\Seen"])]), b"* 12 FETCH (FLAGS (\\Seen))"),
        (Fetch(14, [("UID", 14), ("RFC822.SIZE", 44827)]), b"* 14 FETCH (UID 14 RFC822.SIZE 44827)"),
        (
            Fetch(1, [("ENVELOPE", Raw(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"))]),
            b"* 1 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))",
        ),
        (
            Fetch(
                2, [("INTERNALDATE", datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7))))]
            ),
            b'* 2 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700")',
        ),
        (Fetch(3, [("BODY[]", Body(b"Hi\r\n"))]), b"* 3 FETCH (BODY[] {4}\r\nHi\r\n)"),
        (Fetch(3, [("BODY[1]", Body(None))]), b"* 3 FETCH (BODY[1] NIL)"),
        (
            Fetch(3, [("BINARY[1]", Body(b"\x00\x01", binary=True))]),
            b"* 3 FETCH (BINARY[1] ~{2}\r\n\x00\x01)",
        ),
        (Fetch(3, [("BODY[]", Body(b"a\x00b"))]), b"* 3 FETCH (BODY[] {3}\r\na\x80b)"),
        (Fetch(3, [("BINARY.SIZE[1]", 2)]), b"* 3 FETCH (BINARY.SIZE[1] 2)"),
    ],
)
def test_responses(response: object, expected: bytes) -> None:
    assert serialise(response, REV1) == expected + b"\r\n"  # type: ignore[arg-type]


def test_mailbox_names_by_session() -> None:
    item = ListItem(["\\HasNoChildren"], "/", "Черновики/&Co")
    assert item.encode(REV1) == b'* LIST (\\HasNoChildren) "/" &BCcENQRABD0EPgQyBDgEOgQ4-/&-Co\r\n'
    assert item.encode(UTF8) == '* LIST (\\HasNoChildren) "/" "Черновики/&Co"\r\n'.encode()
    assert item.encode(WireContext()) == item.encode(REV1)  # modified UTF-7 is the default
    status = StatusResponse("Входящие", [("UNSEEN", 1)])
    assert status.encode(UTF8) == '* STATUS "Входящие" (UNSEEN 1)\r\n'.encode()


def test_mailbox_arguments_by_session() -> None:
    assert REV1.mailbox_name(b"&BCcENQRABD0EPgQyBDgEOgQ4-/&-Co") == "Черновики/&Co"
    with pytest.raises(InvalidMailboxName):
        REV1.mailbox_name(b"&Jjo!")  # malformed modified UTF-7 is refused
    assert UTF8.mailbox_name("Черновики/&Co".encode()) == "Черновики/&Co"
    with pytest.raises(UnicodeDecodeError):
        UTF8.mailbox_name(b"\xff")
    assert WireContext().mailbox_name(b"&-") == "&"
    with pytest.raises(ValueError, match="Malformed modified UTF-7"):
        WireContext().mailbox_name(b"&Jjo!")
    assert WireContext().mailbox_name(b"INBOX") == "INBOX"


def test_strings_by_session() -> None:
    assert UTF8.string("é") == '"é"'.encode()
    assert REV1.string("é") == b"{2}\r\n\xc3\xa9"
    assert REV1.string("a\r\nb") == b"{4}\r\na\r\nb"
    assert REV1.string("x" * 1024) == b'"' + b"x" * 1024 + b'"'
    assert REV1.string("x" * 1025).startswith(b"{1025}\r\n")
    assert REV1.nstring(None) == b"NIL"


def test_fetch_with_a_streamed_body() -> None:
    fetch = Fetch(1, [("UID", 7), ("BODY[]", StreamedBody(5000)), ("FLAGS", ["\\Seen"])])
    assert fetch.encode_parts() == [
        b"* 1 FETCH (UID 7 BODY[] {5000}\r\n",
        StreamedBody(5000),
        b" FLAGS (\\Seen))\r\n",
    ]
    assert Fetch(2, [("BINARY[]", StreamedBody(3, binary=True))]).encode_parts() == [
        b"* 2 FETCH (BINARY[] ~{3}\r\n",
        StreamedBody(3, binary=True),
        b")\r\n",
    ]
    with pytest.raises(ValueError, match="encode_parts"):
        fetch.encode()


def test_datetime_day_is_space_padded() -> None:
    assert format_datetime(datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC)) == " 5-Mar-2024 01:02:03 +0000"
    assert format_datetime(
        datetime(2024, 3, 5, 1, 2, 3, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    ).endswith("+0530")


@pytest.mark.parametrize(
    ("att", "name"),
    [
        (FetchAtt("BODY", Section((), "HEADER"), peek=True), "BODY[HEADER]"),
        (FetchAtt("BODY", Section((1, 2), "MIME")), "BODY[1.2.MIME]"),
        (
            FetchAtt("BODY", Section((), "HEADER.FIELDS", (b"DATE", b"FROM"))),
            "BODY[HEADER.FIELDS (DATE FROM)]",
        ),
        (FetchAtt("BODY", Section(), (0, 1024), peek=True), "BODY[]<0>"),
        (FetchAtt("BINARY", Section((1,)), (100, 10), peek=True), "BINARY[1]<100>"),
        (FetchAtt("BINARY.SIZE", Section((1,))), "BINARY.SIZE[1]"),
        (FetchAtt("RFC822.HEADER"), "RFC822.HEADER"),
    ],
)
def test_fetch_response_names(att: FetchAtt, name: str) -> None:
    # RFC 9051 §7.5.2: BODY.PEEK answers as BODY; a partial answers with its origin only.
    assert att.response_name() == name


def test_sets_seen() -> None:
    assert FetchAtt("BODY", Section()).sets_seen
    assert not FetchAtt("BODY", Section(), peek=True).sets_seen
    assert not FetchAtt("BODY").sets_seen  # BODY without a section is the structure
    assert FetchAtt("BINARY", Section((1,))).sets_seen
    assert FetchAtt("RFC822").sets_seen
    assert FetchAtt("RFC822.TEXT").sets_seen
    assert not FetchAtt("RFC822.HEADER").sets_seen


def test_text_is_ascii_unless_utf8() -> None:
    reply = Tagged(b"a", Status.NO, "Ящик не найден", "NONEXISTENT")
    assert reply.encode(REV1) == b"a NO [NONEXISTENT] ???? ?? ??????\r\n"
    assert reply.encode(UTF8) == "a NO [NONEXISTENT] Ящик не найден\r\n".encode()
    assert Code.badcharset().encode() == b"BADCHARSET"


def test_unknown_simple_code_is_refused() -> None:
    with pytest.raises(ValueError, match="response code"):
        Tagged(b"a", Status.NO, "x", "NOSUCHCODE").encode()
    assert Tagged(b"a", Status.NO, "x", Code("X-VENDOR", b"1 2")).encode() == b"a NO [X-VENDOR 1 2] x\r\n"
