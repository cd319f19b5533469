"""Every client command example of RFC 9051 §6 (and RFC 7888/6154/5258/4731/5182/2971/6851 examples)
parsed to the right typed arguments, fed whole and byte by byte; canonical ones re-encode identically."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from imap_helpers import MODES, only_command

from pochta.proto.imap import SequenceSet
from pochta.proto.imap.args import (
    NO_ARGS,
    Append,
    Authenticate,
    CopyArgs,
    Enable,
    IdArgs,
    ListArgs,
    Login,
    Lsub,
    MailboxArgs,
    Rename,
    SequenceArgs,
    StatusArgs,
    Store,
)
from pochta.proto.imap.fetch import FetchArgs, FetchAtt, Section
from pochta.proto.imap.search import (
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    KeywordKey,
    Not,
    Or,
    SearchArgs,
    SequenceKey,
    SizeKey,
    StringKey,
)

S = SequenceSet.parse
MEETING = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.siam.edu.example\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)

# (wire, name, uid, args, canonical): canonical=True means encode() gives the wire form back.
EXAMPLES: list[tuple[bytes, str, bool, object, bool]] = [
    (b"abcd CAPABILITY\r\n", "CAPABILITY", False, NO_ARGS, True),
    (b"efgh STARTTLS\r\n", "STARTTLS", False, NO_ARGS, True),
    (b"a002 NOOP\r\n", "NOOP", False, NO_ARGS, True),
    (b"A023 LOGOUT\r\n", "LOGOUT", False, NO_ARGS, True),
    (
        b"a004 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n",
        "AUTHENTICATE",
        False,
        Authenticate("PLAIN", b"dGVzdAB0ZXN0AHRlc3Q="),
        True,
    ),
    (b"A001 AUTHENTICATE GSSAPI\r\n", "AUTHENTICATE", False, Authenticate("GSSAPI"), True),
    (b"A01 AUTHENTICATE EXTERNAL =\r\n", "AUTHENTICATE", False, Authenticate("EXTERNAL", b"="), True),
    (b"a001 LOGIN SMITH SESAME\r\n", "LOGIN", False, Login(b"SMITH", b"SESAME"), True),
    (
        b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n",
        "LOGIN",
        False,
        Login(b"FRED FOOBAR", b"fat man"),
        False,
    ),
    (b"t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n", "ENABLE", False, Enable(("CONDSTORE", "X-GOOD-IDEA")), True),
    (b"a1 ENABLE IMAP4rev2 UTF8=ACCEPT\r\n", "ENABLE", False, Enable(("IMAP4REV2", "UTF8=ACCEPT")), False),
    (b"A142 SELECT INBOX\r\n", "SELECT", False, MailboxArgs(b"INBOX"), True),
    (b"A143 SELECT Drafts\r\n", "SELECT", False, MailboxArgs(b"Drafts"), True),
    (b"A932 EXAMINE blurdybloop\r\n", "EXAMINE", False, MailboxArgs(b"blurdybloop"), True),
    (
        b"A02 SELECT INBOX (CONDSTORE)\r\n",  # RFC 7162 §3.1.8 (RFC 4466 select-param)
        "SELECT",
        False,
        MailboxArgs(b"INBOX", (("CONDSTORE", None),)),
        True,
    ),
    (
        b"A03 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",  # RFC 7162 §3.2.5
        "SELECT",
        False,
        MailboxArgs(b"INBOX", (("QRESYNC", (b"67890007", b"20050715194045000", b"41,43:211,214:541")),)),
        True,
    ),
    (b"A003 CREATE owatagusiam/\r\n", "CREATE", False, MailboxArgs(b"owatagusiam/"), True),
    (
        b"A004 CREATE owatagusiam/blurdybloop\r\n",
        "CREATE",
        False,
        MailboxArgs(b"owatagusiam/blurdybloop"),
        True,
    ),
    (b'A002 CREATE "INBOX.Sent Mail"\r\n', "CREATE", False, MailboxArgs(b"INBOX.Sent Mail"), True),
    (
        b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n",  # RFC 6154 §5.2
        "CREATE",
        False,
        MailboxArgs(b"MySpecial", (("USE", (b"\\Drafts", b"\\Sent")),)),
        True,
    ),
    (b"A683 DELETE blurdybloop\r\n", "DELETE", False, MailboxArgs(b"blurdybloop"), True),
    (b"A685 DELETE foo/bar\r\n", "DELETE", False, MailboxArgs(b"foo/bar"), True),
    (b"A683 RENAME blurdybloop sarasoop\r\n", "RENAME", False, Rename(b"blurdybloop", b"sarasoop"), True),
    (b"Z433 RENAME INBOX old-mail\r\n", "RENAME", False, Rename(b"INBOX", b"old-mail"), True),
    (
        b"A002 SUBSCRIBE #news.comp.mail.mime\r\n",
        "SUBSCRIBE",
        False,
        MailboxArgs(b"#news.comp.mail.mime"),
        True,
    ),
    (
        b"A002 UNSUBSCRIBE #news.comp.mail.mime\r\n",
        "UNSUBSCRIBE",
        False,
        MailboxArgs(b"#news.comp.mail.mime"),
        True,
    ),
    (b'A682 LIST "" *\r\n', "LIST", False, ListArgs(b"", (b"*",)), True),
    (b'A86 LIST "" %\r\n', "LIST", False, ListArgs(b"", (b"%",)), True),
    (b'A101 LIST "" ""\r\n', "LIST", False, ListArgs(b"", (b"",)), True),
    (
        b'A102 LIST #news.comp.mail.misc ""\r\n',
        "LIST",
        False,
        ListArgs(b"#news.comp.mail.misc", (b"",)),
        True,
    ),
    (b'A103 LIST /usr/staff/jones ""\r\n', "LIST", False, ListArgs(b"/usr/staff/jones", (b"",)), True),
    (b"A202 LIST ~/Mail/ %\r\n", "LIST", False, ListArgs(b"~/Mail/", (b"%",)), True),
    (b'A01 LIST "" "*"\r\n', "LIST", False, ListArgs(b"", (b"*",)), False),
    (
        b'A02 LIST (SUBSCRIBED) "" "*"\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"*",), (("SUBSCRIBED", None),)),
        False,
    ),
    (
        b'A03 LIST () "" "%" RETURN (CHILDREN)\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"%",), (), (("CHILDREN", None),)),
        False,
    ),
    (
        b'A04 LIST (REMOTE) "" % RETURN (CHILDREN)\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"%",), (("REMOTE", None),), (("CHILDREN", None),)),
        True,
    ),
    (
        b'A05 LIST (REMOTE SUBSCRIBED) "" *\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"*",), (("REMOTE", None), ("SUBSCRIBED", None))),
        True,
    ),
    (
        b'C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN\r\n (CHILDREN)\r\n',
        "LIST",
        False,
        None,  # the RFC folds the line for print; folded, it is a BAD (checked below)
        False,
    ),
    (
        b'D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"*2",), (("RECURSIVEMATCH", None), ("SUBSCRIBED", None))),
        False,
    ),
    (b'a1 LIST "" ("foo")\r\n', "LIST", False, ListArgs(b"", (b"foo",), pattern_list=True), False),
    (
        b'a3 LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"foo",), (("SUBSCRIBED", None), ("RECURSIVEMATCH", None)), (("CHILDREN", None),)),
        True,
    ),
    (b'a2 LIST () "" %\r\n', "LIST", False, ListArgs(b"", (b"%",), ()), True),
    (
        b'a3.1 LIST "" (% music/rock)\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"%", b"music/rock"), pattern_list=True),
        True,
    ),
    (
        b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"%",), None, (("STATUS", (b"MESSAGES", b"UNSEEN")),)),
        True,
    ),
    (
        b'A002 LIST (SPECIAL-USE) "" *\r\n',
        "LIST",
        False,
        ListArgs(b"", (b"*",), (("SPECIAL-USE", None),)),
        True,
    ),
    (
        b't3 LIST "" % RETURN (SPECIAL-USE)\r\n',  # RFC 6154 §5.1
        "LIST",
        False,
        ListArgs(b"", (b"%",), None, (("SPECIAL-USE", None),)),
        True,
    ),
    (b'A002 LIST "" "Other Users/%"\r\n', "LIST", False, ListArgs(b"", (b"Other Users/%",)), True),
    (b'A002 LSUB "#news." "comp.mail.*"\r\n', "LSUB", False, Lsub(b"#news.", b"comp.mail.*"), False),
    (b"A001 NAMESPACE\r\n", "NAMESPACE", False, NO_ARGS, True),
    (
        b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
        "STATUS",
        False,
        StatusArgs(b"blurdybloop", ("UIDNEXT", "MESSAGES")),
        True,
    ),
    (b"A004 COPY 2:4 meeting\r\n", "COPY", False, CopyArgs(S(b"2:4"), b"meeting"), True),
    (b"A005 UID COPY 305:310 meeting\r\n", "COPY", True, CopyArgs(S(b"305:310"), b"meeting"), True),
    (b"A007 SELECT funny\r\n", "SELECT", False, MailboxArgs(b"funny"), True),
    (b"A002 IDLE\r\n", "IDLE", False, NO_ARGS, True),
    (b"A003 FETCH 4 ALL\r\n", "FETCH", False, None, True),
    (b"A341 CLOSE\r\n", "CLOSE", False, NO_ARGS, True),
    (b"A342 UNSELECT\r\n", "UNSELECT", False, NO_ARGS, True),
    (b"A202 EXPUNGE\r\n", "EXPUNGE", False, NO_ARGS, True),
    (
        b"A282 SEARCH RETURN (MIN COUNT) FLAGGED\r\n",
        "SEARCH",
        False,
        SearchArgs(And((FlagKey("FLAGGED"),)), None, (("MIN", None), ("COUNT", None))),
        True,
    ),
    (
        b"A283 SEARCH RETURN () FLAGGED\r\n",
        "SEARCH",
        False,
        SearchArgs(And((FlagKey("FLAGGED"),)), None, ()),
        True,
    ),
    (
        b'A284 SEARCH TEXT "string not in mailbox"\r\n',
        "SEARCH",
        False,
        SearchArgs(And((StringKey("TEXT", b"string not in mailbox"),))),
        True,
    ),
    (
        "A285 SEARCH CHARSET UTF-8 TEXT {12}\r\nотпуск\r\n".encode(),
        "SEARCH",
        False,
        SearchArgs(And((StringKey("TEXT", "отпуск".encode()),)), "UTF-8"),
        False,
    ),
    (
        b"A285 UID SEARCH RETURN (MIN MAX) 1:5000\r\n",
        "SEARCH",
        True,
        SearchArgs(And((SequenceKey(S(b"1:5000")),)), None, (("MIN", None), ("MAX", None))),
        True,
    ),
    (
        b'A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n',
        "SEARCH",
        False,
        SearchArgs(
            And((FlagKey("FLAGGED"), DateKey("SINCE", date(1994, 2, 1)), Not(StringKey("FROM", b"Smith")))),
            None,
            (("SAVE", None),),
        ),
        False,
    ),
    (
        b"A283 FETCH $ (UID INTERNALDATE FLAGS BODY.PEEK[HEADER])\r\n",
        "FETCH",
        False,
        FetchArgs(
            SequenceSet(saved=True),
            (
                FetchAtt("UID"),
                FetchAtt("INTERNALDATE"),
                FetchAtt("FLAGS"),
                FetchAtt("BODY", Section((), "HEADER"), peek=True),
            ),
        ),
        True,
    ),
    (
        b"A301 UID SEARCH UID $ SMALLER 4096\r\n",
        "SEARCH",
        True,
        SearchArgs(And((SequenceKey(SequenceSet(saved=True), uid=True), SizeKey("SMALLER", 4096)))),
        True,
    ),
    (
        b"A301 UID SEARCH $ SMALLER 4096\r\n",
        "SEARCH",
        True,
        SearchArgs(And((SequenceKey(SequenceSet(saved=True)), SizeKey("SMALLER", 4096)))),
        True,
    ),
    (
        "P283 SEARCH CHARSET UTF-8 (OR $ 1,3000:3021) TEXT {8+}\r\nмать\r\n".encode(),
        "SEARCH",
        False,
        SearchArgs(
            And(
                (
                    And((Or(SequenceKey(SequenceSet(saved=True)), SequenceKey(S(b"1,3000:3021"))),)),
                    StringKey("TEXT", "мать".encode()),
                )
            ),
            "UTF-8",
        ),
        False,
    ),
    (
        b'E283 COPY $ "Other Messages"\r\n',
        "COPY",
        False,
        CopyArgs(SequenceSet(saved=True), b"Other Messages"),
        True,
    ),
    (
        b"F282 SEARCH RETURN (SAVE) KEYWORD $Junk\r\n",
        "SEARCH",
        False,
        SearchArgs(And((KeywordKey("KEYWORD", "$Junk"),)), None, (("SAVE", None),)),
        True,
    ),
    (
        b"F284 STORE $ +FLAGS.Silent (\\Deleted)\r\n",
        "STORE",
        False,
        Store(SequenceSet(saved=True), "+", True, ("\\Deleted",)),
        False,
    ),
    (
        b"C286 SEARCH RETURN (MAX SAVE MIN COUNT) SINCE 12-Feb-2006\r\n",
        "SEARCH",
        False,
        SearchArgs(
            And((DateKey("SINCE", date(2006, 2, 12)),)),
            None,
            (("MAX", None), ("SAVE", None), ("MIN", None), ("COUNT", None)),
        ),
        True,
    ),
    (
        b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
        "FETCH",
        False,
        FetchArgs(
            S(b"2:4"), (FetchAtt("FLAGS"), FetchAtt("BODY", Section((), "HEADER.FIELDS", (b"DATE", b"FROM"))))
        ),
        True,
    ),
    (
        b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
        "STORE",
        False,
        Store(S(b"2:4"), "+", False, ("\\Deleted",)),
        True,
    ),
    (b"A003 COPY 2:4 MEETING\r\n", "COPY", False, CopyArgs(S(b"2:4"), b"MEETING"), True),
    (b"a UID MOVE 42:69 foo\r\n", "MOVE", True, CopyArgs(S(b"42:69"), b"foo"), True),
    (b"A003 UID EXPUNGE 3000:3002\r\n", "EXPUNGE", True, SequenceArgs(S(b"3000:3002")), True),
    (
        b"A999 UID FETCH 4827313:4828442 FLAGS\r\n",
        "FETCH",
        True,
        FetchArgs(S(b"4827313:4828442"), (FetchAtt("FLAGS"),), parenthesised=False),
        True,
    ),
    (
        b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")\r\n',  # RFC 2971 §3.4
        "ID",
        False,
        IdArgs(((b"name", b"sodr"), (b"version", b"19.34"), (b"vendor", b"Pink Floyd Music Limited"))),
        True,
    ),
    (b"a ID NIL\r\n", "ID", False, IdArgs(None), True),
    (b"A005 CREATE NonNormalized\r\n", "CREATE", False, MailboxArgs(b"NonNormalized"), True),
    (b'A006 CREATE "#mh/Deleted Items"\r\n', "CREATE", False, MailboxArgs(b"#mh/Deleted Items"), True),
    (b"1001 RENAME X Y\r\n", "RENAME", False, Rename(b"X", b"Y"), True),
    (b"1002 SUBSCRIBE Y\r\n", "SUBSCRIBE", False, MailboxArgs(b"Y"), True),
    (b"1003 UNSUBSCRIBE X\r\n", "UNSUBSCRIBE", False, MailboxArgs(b"X"), True),
    (
        b'A003 LIST (SPECIAL-USE) "#mh/" "*"\r\n',
        "LIST",
        False,
        ListArgs(b"#mh/", (b"*",), (("SPECIAL-USE", None),)),
        False,
    ),
    (b'A002 LIST "" "#Users/%"\r\n', "LIST", False, ListArgs(b"", (b"#Users/%",)), False),
    (b'A002 LIST "" "~mark/%"\r\n', "LIST", False, ListArgs(b"", (b"~mark/%",)), False),
    (
        b"B283 SEARCH RETURN (SAVE) CHARSET KOI8-R (OR $ 1,3000:3021) TEXT {4}\r\nXXXX\r\n",
        "SEARCH",
        False,
        SearchArgs(
            And(
                (
                    And((Or(SequenceKey(SequenceSet(saved=True)), SequenceKey(S(b"1,3000:3021"))),)),
                    StringKey("TEXT", b"XXXX"),
                )
            ),
            "KOI8-R",
            (("SAVE", None),),
        ),
        False,
    ),
    (
        b"G283 SEARCH RETURN (ALL) SINCE 28-Oct-2006\r\n",
        "SEARCH",
        False,
        SearchArgs(And((DateKey("SINCE", date(2006, 10, 28)),)), None, (("ALL", None),)),
        True,
    ),
    (
        b'C285 SEARCH RETURN (MAX SAVE MIN) SINCE 12-Feb-2006 NOT FROM "Smith"\r\n',
        "SEARCH",
        False,
        SearchArgs(
            And((DateKey("SINCE", date(2006, 2, 12)), Not(StringKey("FROM", b"Smith")))),
            None,
            (("MAX", None), ("SAVE", None), ("MIN", None)),
        ),
        False,
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("wire", "name", "uid", "args", "canonical"), EXAMPLES, ids=lambda v: None)
def test_rfc_example(wire: bytes, name: str, uid: bool, args: object, canonical: bool, mode: str) -> None:
    if args is None and name == "LIST":
        return  # the folded example; see test_folded_example_is_bad
    cmd = only_command(wire, mode)
    assert (cmd.name, cmd.uid) == (name, uid)
    if args is not None:
        assert cmd.args == args
    if canonical:
        assert cmd.encode() == wire


def test_folded_example_is_bad() -> None:
    from imap_helpers import feed

    from pochta.proto.imap import Receiver

    events = feed(Receiver(), b'C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN\r\n (CHILDREN)\r\n')
    assert len(events) == 2  # the first line is a BAD, the second an unreadable tag


def test_unknown_command_example() -> None:
    # RFC 9051 §6.1.1 example: "A442 XPIG-LATIN" answered with BAD
    from imap_helpers import error, feed

    from pochta.proto.imap import Receiver

    assert error(feed(Receiver(), b"A442 XPIG-LATIN\r\n")).reply.encode() == b"A442 BAD Unknown command\r\n"


def test_multiappend_example() -> None:
    # RFC 3502 §6.3.11
    first = MEETING.replace(b"Blurdybloop.example", b"Blurdybloop.example.COM").replace(
        b"mooch@owatagu.siam.edu.example", b"mooch@owatagu.example.net"
    )
    second = (
        b"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n"
        b"From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n"
        b"Subject: Re: afternoon meeting\r\n"
        b"To: foobar@blurdybloop.example.com\r\n"
        b"Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
        b"\r\n"
        b"3:30 is fine with me.\r\n"
    )
    assert (len(first), len(second)) == (329, 295)
    wire = (
        b"A003 APPEND saved-messages (\\Seen) {329}\r\n"
        + first
        + b' (\\Seen) " 7-Feb-1994 22:43:04 -0800" {295}\r\n'
        + second
        + b"\r\n"
    )
    for mode in MODES:
        cmd = only_command(wire, mode)
        assert isinstance(cmd.args, Append)
        one, two = cmd.args.messages
        assert bytes(one.data) == first
        assert bytes(two.data) == second
        assert two.date == datetime(1994, 2, 7, 22, 43, 4, tzinfo=timezone(-timedelta(hours=8)))
        assert cmd.encode() == wire


def test_fetch_all_macro_expands() -> None:
    cmd = only_command(b"A003 FETCH 4 ALL\r\n")
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.macro == "ALL"
    assert [a.name for a in cmd.args.atts] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]


@pytest.mark.parametrize("mode", MODES)
def test_append_example(mode: str) -> None:
    # RFC 9051 §6.3.12, with the synchronising literal, then the LITERAL+ form
    for marker in (b"{326}", b"{326+}"):
        cmd = only_command(
            b"A003 APPEND saved-messages (\\Seen) " + marker + b"\r\n" + MEETING + b"\r\n", mode
        )
        assert isinstance(cmd.args, Append)
        assert cmd.args.mailbox == b"saved-messages"
        (message,) = cmd.args.messages
        assert message.flags == ("\\Seen",)
        assert message.date is None
        assert bytes(message.data) == MEETING
        assert message.data.size == 326


def test_multiappend_with_dates() -> None:
    # RFC 3502 §6.3.11 example shape: several messages, each with flags and an internal date
    cmd = only_command(
        b'A003 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0800" {5+}\r\nhello'
        b' {5+}\r\nworld () "14-Feb-1994 09:00:00 +0100" {1}\r\n!\r\n'
    )
    assert isinstance(cmd.args, Append)
    one, two, three = cmd.args.messages
    assert one.date == datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(-timedelta(hours=8)))
    assert two.flags is None
    assert two.date is None
    assert bytes(two.data) == b"world"
    assert three.flags == ()
    assert three.date == datetime(1994, 2, 14, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def test_search_header_and_or_chain() -> None:
    cmd = only_command(b'a SEARCH OR OR HEADER X-Spam yes TO "bob" SUBJECT hi LARGER 100 UNKEYWORD $Junk\r\n')
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And(
        (
            Or(Or(HeaderKey(b"X-Spam", b"yes"), StringKey("TO", b"bob")), StringKey("SUBJECT", b"hi")),
            SizeKey("LARGER", 100),
            KeywordKey("UNKEYWORD", "$Junk"),
        )
    )
