"""The sans-IO IMAP client core (pochta.proto.imap_client): server responses from RFC 9051 §8's
example and Dovecot's usual forms, fed whole and byte by byte; the limits; precise errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pochta.proto.imap_client import (
    Capability,
    Code,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    FetchData,
    Flags,
    IdData,
    ListItem,
    Response,
    ResponseError,
    ResponseFramer,
    Search,
    Status,
    StatusData,
    Tagged,
    Untagged,
    Vanished,
    format_internal_date,
    parse_internal_date,
    parse_response,
)

MESSAGE = b"Date: Wed, 17 Jul 1996 02:23:25 -0700\r\nSubject: IMAP4rev2 WG mtg summary\r\n\r\nbody\r\n"

# A server's side of a session: each item is the wire form and what it parses to.
TRANSCRIPT: list[tuple[bytes, Response]] = [
    (
        b"* OK [CAPABILITY IMAP4rev2 STARTTLS AUTH=PLAIN LITERAL+] IMAP4rev2 Service Ready\r\n",
        Status(
            "OK",
            Code("CAPABILITY", ("IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "LITERAL+")),
            "IMAP4rev2 Service Ready",
        ),
    ),
    (b"+ \r\n", Continuation(b"")),
    (b"+ UGxhaW4=\r\n", Continuation(b"UGxhaW4=")),
    (b"* CAPABILITY IMAP4rev1 IDLE Enable\r\n", Capability(frozenset({"IMAP4REV1", "IDLE", "ENABLE"}))),
    (b"* ENABLED CONDSTORE\r\n", Enabled(frozenset({"CONDSTORE"}))),
    (b"a1 OK [READ-WRITE] SELECT completed\r\n", Tagged("a1", "OK", Code("READ-WRITE"), "SELECT completed")),
    (
        b"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        Tagged("a2", "NO", Code("AUTHENTICATIONFAILED"), "Authentication failed."),
    ),
    (b"a3 BAD\r\n", Tagged("a3", "BAD", None, "")),
    (b"* 172 EXISTS\r\n", Exists(172)),
    (b"* 3 EXPUNGE\r\n", Expunge(3)),
    (b"* 1 RECENT\r\n", Untagged("RECENT", 1, ())),
    (
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        Status("OK", Code("UIDVALIDITY", ("3857529045",)), "UIDs valid"),
    ),
    (
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        Status("OK", Code("PERMANENTFLAGS", (["\\Deleted", "\\Seen", "\\*"],)), "Limited"),
    ),
    (b"* OK [HIGHESTMODSEQ 715194045007]\r\n", Status("OK", Code("HIGHESTMODSEQ", ("715194045007",)), "")),
    (b"* FLAGS (\\Answered \\Flagged $Work)\r\n", Flags(("\\Answered", "\\Flagged", "$Work"))),
    (
        b'* LIST (\\HasNoChildren \\Sent) "." "Sent &AOk-t&AOk-"\r\n',
        ListItem("LIST", frozenset({"\\HasNoChildren", "\\Sent"}), ".", "Sent été"),
    ),
    (b'* LIST (\\Noselect) NIL ""\r\n', ListItem("LIST", frozenset({"\\Noselect"}), None, "")),
    (b'* LSUB () "/" INBOX\r\n', ListItem("LSUB", frozenset(), "/", "INBOX")),
    (
        b'* LIST (\\Subscribed) "/" {8}\r\nNa\xc3\xafve/x ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        ListItem("LIST", frozenset({"\\Subscribed"}), "/", "Naïve/x", ([b"CHILDINFO", [b"SUBSCRIBED"]],)),
    ),
    (
        b'* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292)\r\n',
        StatusData("blurdybloop", {"MESSAGES": 231, "UIDNEXT": 44292}),
    ),
    (b"* SEARCH 2 3 6\r\n", Search((2, 3, 6))),
    (b"* SEARCH\r\n", Search(())),
    (b"* SEARCH 2 5 (MODSEQ 917162500)\r\n", Search((2, 5), 917162500)),
    (
        b'* ESEARCH (TAG "a567") UID ALL 4:6,9 COUNT 4\r\n',
        ESearch("a567", True, (4, 5, 6, 9), {"ALL": "4:6,9", "COUNT": "4"}),
    ),
    (b'* ESEARCH (TAG "a1")\r\n', ESearch("a1", False)),
    (b"* VANISHED (EARLIER) 300:302,405\r\n", Vanished(True, (300, 301, 302, 405))),
    (b'* ID ("name" "Dovecot" "version" NIL)\r\n', IdData({"name": "Dovecot", "version": None})),
    (b"* ID NIL\r\n", IdData({})),
    (b"* BYE Logging out\r\n", Status("BYE", None, "Logging out")),
    (b'* NAMESPACE (("" "/")) NIL NIL\r\n', Untagged("NAMESPACE", None, ([[b"", b"/"]], None, None))),
]


def _feed(wire: bytes, *, bytewise: bool) -> list[Response]:
    framer = ResponseFramer()
    found: list[Response] = []
    pieces = [wire[i : i + 1] for i in range(len(wire))] if bytewise else [wire]
    for piece in pieces:
        framer.receive_data(piece)
        while (framed := framer.next_response()) is not None:
            found.append(parse_response(framed))
    return found


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_transcript(bytewise: bool) -> None:
    wire = b"".join(line for line, _ in TRANSCRIPT)
    assert _feed(wire, bytewise=bytewise) == [expected for _, expected in TRANSCRIPT]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_fetch_items(bytewise: bool) -> None:
    wire = (
        b'* 12 FETCH (UID 4827313 FLAGS (\\Seen $Work) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b"RFC822.SIZE %d MODSEQ (12121231000) BODY[] {%d}\r\n%s)\r\n"
        % (len(MESSAGE), len(MESSAGE), MESSAGE)
        + b"* 13 FETCH (FLAGS () UID 9 BINARY[] ~{3}\r\n\x00\x01\x02)\r\n"
        + b"* 14 FETCH (BODY[HEADER.FIELDS (SUBJECT)]<0> {4}\r\nab\r\n BODY[] NIL)\r\n"
    )
    first, second, third = _feed(wire, bytewise=bytewise)
    assert isinstance(first, FetchData)
    assert (first.number, first.uid, first.flags, first.size, first.modseq) == (
        12,
        4827313,
        ("\\Seen", "$Work"),
        len(MESSAGE),
        12121231000,
    )
    assert first.internal_date == datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    assert first.body == MESSAGE
    assert isinstance(second, FetchData)
    assert (second.uid, second.flags, second.body) == (9, (), b"\x00\x01\x02")
    assert isinstance(third, FetchData)
    assert third.items["BODY[HEADER.FIELDS (SUBJECT)]<0>"] == b"ab\r\n"
    assert third.body is None


def test_literal_of_a_megabyte_in_small_pieces() -> None:
    body = (b"x" * 998 + b"\r\n") * 1000
    wire = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n" % (len(body), body)
    framer = ResponseFramer(max_literal=len(body))
    for start in range(0, len(wire), 4093):
        framer.receive_data(wire[start : start + 4093])
    framed = framer.next_response()
    assert framed is not None
    parsed = parse_response(framed)
    assert isinstance(parsed, FetchData)
    assert parsed.body == body


def test_internal_dates() -> None:
    assert parse_internal_date(" 7-Feb-2024 23:59:01 +0130") == datetime(
        2024, 2, 7, 23, 59, 1, tzinfo=timezone(timedelta(hours=1, minutes=30))
    )
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert format_internal_date(when) == "04-Mar-2021 05:06:07 +0000"
    assert parse_internal_date(format_internal_date(when)) == when
    for bad in ("32-Jan-2020 00:00:00 +0000", "01-Foo-2020 00:00:00 +0000", "01-Jan-2020 00:00 +0000", "x"):
        with pytest.raises(ResponseError, match="INTERNALDATE"):
            parse_internal_date(bad)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"* 1 FETCH (UID x)\r\n", "UID is not a number"),
        (b"* 1 FETCH (UID 1 FLAGS)\r\n", "not a list of pairs"),
        (b"* 1 FETCH (UID 1) junk\r\n", "data after a FETCH list"),
        (b'* 1 FETCH (INTERNALDATE "yesterday")\r\n', "bad INTERNALDATE"),
        (b"* 1 FETCH (BODY[] (a))\r\n", "BODY\\[\\] is not a string"),
        (b'* LIST () "ab" x\r\n', "delimiter"),
        (b"* 1 FETCH (UID ((1)))\r\n", "UID is not a number"),
        (b"* STATUS x (MESSAGES)\r\n", "pairs"),
        (b'* 1 FETCH (FLAGS ("Seen))\r\n', "unterminated quoted string"),
        (b'* 1 FETCH (FLAGS ("\\Seen"))\r\n', "bad escape"),
        (b"* 1 FETCH (BODY[HEADER.FIELDS (A)\r\n", "no ']'"),
        (b"a1 MAYBE done\r\n", "is not OK, NO or BAD"),
        (b"* ESEARCH ALL 3:x\r\n", "bad sequence set"),
        (b"* OK [ALERT unclosed\r\n", "no closing"),
    ],
)
def test_bad_responses(wire: bytes, message: str) -> None:
    with pytest.raises(ResponseError, match=message):
        _feed(wire, bytewise=False)


def test_nesting_is_bounded() -> None:
    wire = b"* X " + b"(" * 70 + b")" * 70 + b"\r\n"
    framer = ResponseFramer()
    framer.receive_data(wire)
    framed = framer.next_response()
    assert framed is not None
    with pytest.raises(ResponseError, match="nested deeper than 64"):
        parse_response(framed)
    assert isinstance(parse_response(framed, max_depth=100), Untagged)


def test_limits() -> None:
    framer = ResponseFramer(max_line=100)
    framer.receive_data(b"* OK " + b"x" * 200)
    with pytest.raises(ResponseError, match="line longer than 100"):
        framer.next_response()
    with pytest.raises(ResponseError):  # broken for good: the stream cannot be resynchronised
        framer.receive_data(b"\r\n")
    framer = ResponseFramer(max_literal=10)
    framer.receive_data(b"* 1 FETCH (BODY[] {11}\r\n")
    with pytest.raises(ResponseError, match="literal of 11 octets, more than the limit of 10"):
        framer.next_response()
    framer = ResponseFramer(max_literal=10, max_response=30)
    framer.receive_data(b"* 1 FETCH (A {10}\r\n0123456789 B {10}\r\n0123456789)\r\n")
    with pytest.raises(ResponseError, match="response longer than 30"):
        framer.next_response()
