"""CATENATE (RFC 4469 §5) grammar and the IMAP URLs it takes (RFC 5092): fed whole and byte by byte,
the canonical form round-trips, every malformed form is refused, and hypothesis-made URL text never
raises anything but UrlError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Receiver
from pochta.proto.imap.args import Append, CatUrl
from pochta.proto.imap.fetch import FetchAtt, Section
from pochta.proto.imap.imapurl import MessageUrl, UrlError, parse_message_url
from pochta.proto.imap.wire import MAX_NUMBER64, LiteralData


@pytest.mark.parametrize("mode", MODES)
def test_catenate_parts_in_order(mode: str) -> None:
    data = (
        b'a APPEND Drafts (\\Seen) CATENATE (TEXT {6}\r\nHead\r\n URL "/INBOX/;UID=3/;SECTION=1" '
        b"TEXT {4}\r\nend\n url ;uid=4)\r\n"
    )
    command = only_command(data, mode)
    args = command.args
    assert isinstance(args, Append)
    (message,) = args.messages
    assert message.flags == ("\\Seen",)
    assert message.catenate == (
        LiteralData.of(b"Head\r\n"),
        CatUrl(b"/INBOX/;UID=3/;SECTION=1"),
        LiteralData.of(b"end\n"),
        CatUrl(b";uid=4"),
    )
    assert command.encode() == (
        b"a APPEND Drafts (\\Seen) CATENATE (TEXT {6}\r\nHead\r\n URL /INBOX/;UID=3/;SECTION=1 "
        b"TEXT {4}\r\nend\n URL ;uid=4)\r\n"
    )
    assert only_command(command.encode(), mode).args == args


@pytest.mark.parametrize("mode", MODES)
def test_multiappend_mixes_catenate_and_literals(mode: str) -> None:
    data = b'a APPEND x CATENATE (URL "/INBOX/;UID=1") (\\Answered) {3}\r\nabc CATENATE (TEXT {1}\r\nz)\r\n'
    args = only_command(data, mode).args
    assert isinstance(args, Append)
    assert [m.catenate for m in args.messages] == [
        (CatUrl(b"/INBOX/;UID=1"),),
        (),
        (LiteralData.of(b"z"),),
    ]
    assert bytes(args.messages[1].data) == b"abc"
    assert args.messages[1].flags == ("\\Answered",)


@pytest.mark.parametrize(
    "data",
    [
        b"a APPEND x CATENATE ()\r\n",  # at least one part
        b"a APPEND x CATENATE (TEXT)\r\n",
        b'a APPEND x CATENATE (TEXT "abc")\r\n',  # a literal, not a string
        b"a APPEND x CATENATE (TEXT ~{1}\r\nz)\r\n",  # not a literal8
        b"a APPEND x CATENATE (URL)\r\n",
        b'a APPEND x CATENATE (URL "/INBOX/;UID=1"\r\n',  # unclosed
        b'a APPEND x CATENATE (URL "/INBOX/;UID=1"  URL "x")\r\n',  # two spaces
        b'a APPEND x CATENATE (BODY "/INBOX/;UID=1")\r\n',
        b'a APPEND x CATENATE URL "/INBOX/;UID=1"\r\n',
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_catenate_syntax_errors_are_bad(data: bytes, mode: str) -> None:
    events = feed(Receiver(), data, mode)
    assert error(events).reply.status.value == "BAD"


def test_catenate_text_is_an_append_literal() -> None:
    # the TEXT literal is bounded like an APPEND message (APPENDLIMIT, RFC 4469 §4.2 TOOBIG)
    receiver = Receiver()
    receiver.limits = receiver.limits.__class__(append_limit=10)
    reply = error(feed(receiver, b"a APPEND x CATENATE (TEXT {11}\r\n")).reply
    assert (reply.status.value, reply.code) == ("NO", "TOOBIG")


# --- URLs (RFC 5092) --------------------------------------------------------------------------------


def body(section: Section, partial: tuple[int, int] | None = None) -> FetchAtt:
    return FetchAtt("BODY", section, partial, peek=True)


@pytest.mark.parametrize(
    ("url", "expected", "att"),
    [
        ("/INBOX/;UID=3", MessageUrl(3, "INBOX"), body(Section())),
        (
            "/INBOX;uidvalidity=77/;uid=3/;section=header",
            MessageUrl(3, "INBOX", 77, body(Section(text="HEADER"))),
            body(Section(text="HEADER")),
        ),
        (
            "/a%20b/c/;UID=1/;SECTION=1.2.HEADER.FIELDS%20(From%20To)/;PARTIAL=5.10",
            MessageUrl(1, "a b/c", None, body(Section((1, 2), "HEADER.FIELDS", (b"From", b"To"))), (5, 10)),
            body(Section((1, 2), "HEADER.FIELDS", (b"From", b"To")), (5, 10)),
        ),
        (
            ";UID=9/;PARTIAL=100",
            MessageUrl(9, None, partial=(100, None)),
            body(Section(), (100, MAX_NUMBER64)),
        ),
        ("Sent/;UID=2/;SECTION=TEXT", MessageUrl(2, "Sent", None, body(Section(text="TEXT"))), None),
        (
            "imap://alice%40example.org;AUTH=*@Mail.Example.org:143/%C3%A9t%C3%A9/;UID=5",
            MessageUrl(5, "été", user="alice@example.org", host="Mail.Example.org"),
            None,
        ),
        ("IMAP://mail.example.org/INBOX/;UID=5", MessageUrl(5, "INBOX", host="mail.example.org"), None),
        ("imap://[::1]/INBOX/;UID=5", MessageUrl(5, "INBOX", host="[::1]"), None),
    ],
)
def test_message_urls(url: str, expected: MessageUrl, att: FetchAtt | None) -> None:
    parsed = parse_message_url(url)
    assert parsed == expected
    assert parse_message_url(url.encode()) == expected
    if att is not None:
        assert parsed.fetch_att() == att


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/INBOX",  # a mailbox is no message
        "/INBOX/;UID=0",
        "/INBOX/;UID=4294967296",
        "/INBOX/;UID=x",
        "/INBOX;UIDVALIDITY=0/;UID=1",
        "/INBOX;FOO=1/;UID=1",
        "/;UID=1",  # no mailbox name
        "/INBOX/;SECTION=1",
        "/INBOX/;UID=1/;SECTION=1/;SECTION=2",
        "/INBOX/;UID=1/;PARTIAL=1/;SECTION=1",  # out of order
        "/INBOX/;UID=1/;SECTION=",
        "/INBOX/;UID=1/;SECTION=1.",
        "/INBOX/;UID=1/;SECTION=HEADER.FIELDS",
        "/INBOX/;UID=1/;SECTION=1%00",
        "/INBOX/;UID=1/;PARTIAL=1.0",
        "/INBOX/;UID=1/;PARTIAL=-1",
        "/INBOX/;UID=1/;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
        "/INBOX/;UID=1/;EXPIRE=2026-12-31T00:00:00Z;URLAUTH=user+fred",
        "/INBOX?SUBJECT%20x",  # a message list
        "/INBOX/;UID=1#frag",
        "/IN BOX/;UID=1",
        "/INBOX/;UID=1/",
        "/%FF/;UID=1",  # not UTF-8
        "/IN;BOX/;UID=1",
        "http://host/INBOX/;UID=1",
        "imap://",
        "imap://host",
        "imap://host/",
        "imap://us@er@host/INBOX/;UID=1",
        "imap://user;FOO=1@host/INBOX/;UID=1",
        "/INBOX/;UID=1/;SECTION=1/x",
        "x" * 9000,
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(UrlError):
        parse_message_url(url)


def test_non_ascii_url_is_refused() -> None:
    with pytest.raises(UrlError):
        parse_message_url("/été/;UID=1".encode())


@given(st.text(max_size=120))
def test_any_text_gives_a_url_or_url_error(text: str) -> None:
    try:
        parsed = parse_message_url(text)
    except UrlError:
        return
    assert parsed.uid >= 1


_PIECES = st.sampled_from(
    ["/", ";", "UID=", "uid=", "SECTION=", "PARTIAL=", "1", "0", ".", "INBOX", "%20", "%", "imap://",
     "@", ":", "HEADER", "TEXT", "URLAUTH=", "UIDVALIDITY=", "(", ")", "FIELDS"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=16))
def test_url_shaped_text_gives_a_url_or_url_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        parsed = parse_message_url(text)
    except UrlError:
        return
    assert parsed.uid >= 1
    parsed.fetch_att()
