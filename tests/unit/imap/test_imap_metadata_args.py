"""METADATA (RFC 5464): GETMETADATA/SETMETADATA arguments fed whole and byte by byte, the entry name
rules, the METADATA response, and GETMETADATA's DEPTH/MAXSIZE selection (``pochta.mail.metadata``)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.mail.metadata import select_entries
from pochta.proto.imap import Command, Receiver, WireContext
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.metadata import DEPTH_INFINITY, GetMetadata, SetMetadata, check_entry
from pochta.proto.imap.responses import Metadata
from pochta.proto.imap.wire import ParseError


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "args"),
    [
        # RFC 5464 §4.2 examples
        (b'a GETMETADATA "" /shared/comment', GetMetadata(b"", ("/shared/comment",))),
        (b'a GETMETADATA "INBOX" /private/comment', GetMetadata(b"INBOX", ("/private/comment",))),
        (
            b'a GETMETADATA "INBOX" (/shared/comment /private/comment)',
            GetMetadata(b"INBOX", ("/shared/comment", "/private/comment")),
        ),
        (
            b'a GETMETADATA (MAXSIZE 1024) "INBOX" (/shared/comment /private/comment)',
            GetMetadata(b"INBOX", ("/shared/comment", "/private/comment"), maxsize=1024),
        ),
        (
            b'a GETMETADATA (DEPTH 1) "INBOX" (/private/filters/values)',
            GetMetadata(b"INBOX", ("/private/filters/values",), depth=1),
        ),
        (
            b"a getmetadata (depth INFINITY maxsize 0) Archive /SHARED",
            GetMetadata(b"Archive", ("/shared",), maxsize=0, depth=DEPTH_INFINITY),
        ),
        (b"a GETMETADATA (DEPTH 0) x /private/a", GetMetadata(b"x", ("/private/a",))),
        # repeats are answered once
        (b"a GETMETADATA x (/private/a /PRIVATE/A)", GetMetadata(b"x", ("/private/a",))),
        (b'a GETMETADATA x "/private/a b"', GetMetadata(b"x", ("/private/a b",))),
        (b"a GETMETADATA x {10+}\r\n/private/a", GetMetadata(b"x", ("/private/a",))),
        # RFC 5464 §4.3 examples
        (
            b"a SETMETADATA INBOX (/private/comment {35+}\r\nMy new comment across\r\ntwo lines.\r\n)",
            SetMetadata(b"INBOX", (("/private/comment", b"My new comment across\r\ntwo lines.\r\n"),)),
        ),
        (b"a SETMETADATA INBOX (/private/comment NIL)", SetMetadata(b"INBOX", (("/private/comment", None),))),
        (
            b'a SETMETADATA INBOX (/private/comment "My new comment" /shared/comment "This one is for you!")',
            SetMetadata(
                b"INBOX",
                (("/private/comment", b"My new comment"), ("/shared/comment", b"This one is for you!")),
            ),
        ),
        # literal8 (RFC 5464 §5 value = nstring / literal8): any octet, NUL too
        (
            b"a SETMETADATA x (/private/b ~{3+}\r\n\x00\xff\n)",
            SetMetadata(b"x", (("/private/b", b"\x00\xff\n"),)),
        ),
        (b'a SETMETADATA "" (/shared/comment "")', SetMetadata(b"", (("/shared/comment", b""),))),
        (b'a SETMETADATA x (/private/nil "NIL")', SetMetadata(b"x", (("/private/nil", b"NIL"),))),
        (
            b'a SETMETADATA x (/shared/vendor/acme/x "v")',
            SetMetadata(b"x", (("/shared/vendor/acme/x", b"v"),)),
        ),
    ],
)
def test_metadata_commands_parse(line: bytes, args: object, mode: str) -> None:
    assert only_command(line + b"\r\n", mode).args == args


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"a GETMETADATA", "Expected a space"),
        (b"a GETMETADATA INBOX", "Expected a space"),
        (b"a GETMETADATA INBOX ()", "Expected an entry name"),  # entries = entry / "(" 1*entry ")"
        (b"a GETMETADATA INBOX /private/a extra", "Unexpected extra arguments"),
        (b"a GETMETADATA (DEPTH 2) INBOX /private", "DEPTH must be 0, 1 or infinity"),
        (b"a GETMETADATA (DEPTH 1 DEPTH 1) INBOX /private", "GETMETADATA option DEPTH given twice"),
        (b"a GETMETADATA (MAXSIZE -1) INBOX /private", "Expected a number"),
        (b"a GETMETADATA (MAXSIZE 4294967296) INBOX /private", "Number out of range"),
        (b"a GETMETADATA (X 1) INBOX /private", "Unknown GETMETADATA option X"),
        (b"a GETMETADATA () INBOX /private", "Expected an atom"),
        (b"a GETMETADATA (DEPTH 1) (MAXSIZE 1) INBOX /private", "Expected a string"),
        (b"a GETMETADATA INBOX comment", "Entry name must begin with /private or /shared"),
        (b"a GETMETADATA INBOX /privatex/a", "Entry name must begin with /private or /shared"),
        (b"a GETMETADATA INBOX /private/*", "Entry name can't contain '*' or '%'"),
        (b'a GETMETADATA INBOX "/private/a%"', "Entry name can't contain '*' or '%'"),
        (b"a GETMETADATA INBOX /shared//a", "Entry name can't contain consecutive '/'"),
        (b"a GETMETADATA INBOX /shared/", "Entry name can't end with '/'"),
        (
            b'a GETMETADATA INBOX "/shared/\xc3\xa9"',
            "Entry name can't contain non-ASCII or control characters",
        ),
        (
            b"a GETMETADATA INBOX {9+}\r\n/shared/\x01",
            "Entry name can't contain non-ASCII or control characters",
        ),
        (b"a GETMETADATA INBOX ~{8+}\r\n/private", "An entry name is a string, not a literal8"),
        (b"a SETMETADATA INBOX /private/a NIL", "Expected ("),
        (b"a SETMETADATA INBOX ()", "Expected an entry name"),
        (b"a SETMETADATA INBOX (/private/a)", "Expected a space"),
        (b"a SETMETADATA INBOX (/private/a value)", "Expected a value"),
        (b'a SETMETADATA INBOX (/private "x")', "Entry name needs a component after the scope"),
        (b'a SETMETADATA INBOX (/shared/vendor/acme "x")', "Vendor entry names need"),
        (b'a SETMETADATA INBOX (/private/a "1" /private/A NIL)', "Entry /private/a given twice"),
        (b'a SETMETADATA INBOX (/private/a "1"', "Expected a space"),
        (b'a SETMETADATA INBOX (/private/a "1") x', "Unexpected extra arguments"),
        (b"a SETMETADATA INBOX (/private/a {2+}\r\n\x00a)", "NUL"),  # only a literal8 carries NUL
    ],
)
def test_metadata_commands_bad_syntax(line: bytes, message: str, mode: str) -> None:
    receiver = Receiver()
    receiver.utf8 = True
    err = error(feed(receiver, line + b"\r\n", mode))
    assert err.reply.status.value == "BAD"
    assert message in err.reply.text
    assert not err.close


def test_entry_names_are_lower_cased_and_scopes_alone_only_for_reading() -> None:
    assert check_entry(b"/Private/Comment") == "/private/comment"
    assert check_entry(b"/shared") == "/shared"
    assert check_entry(b"/shared/vendor") == "/shared/vendor"  # a node to read below with DEPTH
    with pytest.raises(ParseError):
        check_entry(b"/shared", for_set=True)
    assert check_entry(b"/shared/vendor/acme/a", for_set=True) == "/shared/vendor/acme/a"
    for bad in (b"/private/a\x7f", b"/private/\x19", b"/private/\x1f", b"", b"/", b"private/a"):
        with pytest.raises(ParseError):
            check_entry(bad)


component = st.from_regex(r"[a-zA-Z0-9.\-_+]{1,8}", fullmatch=True)
names = st.builds(
    lambda scope, parts: (scope + "/" + "/".join(parts)).lower(),
    st.sampled_from(["/private", "/shared"]),
    st.lists(component.filter(lambda c: c.lower() != "vendor"), min_size=1, max_size=4),
)
mailboxes = st.binary(max_size=20).filter(lambda b: not any(c in b for c in b"\x00\r\n"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mailboxes,
    st.lists(
        st.tuples(names, st.none() | st.binary(max_size=40)), min_size=1, max_size=4, unique_by=lambda t: t[0]
    ),
)
def test_metadata_commands_roundtrip(mailbox: bytes, values: list[tuple[str, bytes | None]]) -> None:
    for name, args in (
        ("SETMETADATA", SetMetadata(mailbox, tuple(values))),
        ("GETMETADATA", GetMetadata(mailbox, tuple(n for n, _ in values))),
        ("GETMETADATA", GetMetadata(mailbox, (values[0][0],), maxsize=7, depth=DEPTH_INFINITY)),
        ("GETMETADATA", GetMetadata(mailbox, (values[0][0],), depth=1)),
    ):
        wire_form = Command(b"t1", name, False, args, COMMANDS[name]).encode()
        for mode in MODES:
            assert only_command(wire_form, mode).args == args


def test_metadata_response() -> None:
    # RFC 5464 §4.4.1 / §4.4.2, with the examples' forms.
    assert Metadata("", [("/shared/comment", b"My comment")]).encode() == (
        b'* METADATA "" (/shared/comment "My comment")\r\n'
    )
    assert Metadata("INBOX", [("/private/comment", None), ("/shared/comment", b"a\r\nb")]).encode() == (
        b"* METADATA INBOX (/private/comment NIL /shared/comment {4}\r\na\r\nb)\r\n"
    )
    assert (
        Metadata("INBOX", [("/private/b", b"\x00x")]).encode()
        == b"* METADATA INBOX (/private/b ~{2}\r\n\x00x)\r\n"
    )
    unsolicited = Metadata(
        "INBOX", [("/shared/comment", None), ("/private/comment", None)], with_values=False
    )
    assert unsolicited.encode() == b"* METADATA INBOX /shared/comment /private/comment\r\n"
    # The mailbox in the session's form; 8-bit values quoted only in a UTF-8 session.
    value = "é".encode()
    assert Metadata("Entwürfe", [("/shared/c", value)]).encode() == (
        b"* METADATA Entw&APw-rfe (/shared/c {2}\r\n" + value + b")\r\n"
    )
    assert Metadata("Entwürfe", [("/shared/c", value)]).encode(WireContext(utf8=True)) == (
        '* METADATA "Entwürfe" (/shared/c "é")\r\n'.encode()
    )


def test_select_entries_depth_and_maxsize() -> None:
    values = {
        "/private/a": b"1",
        "/private/a/b": b"22",
        "/private/a/b/c": b"333",
        "/private/ab": b"4444",
        "/shared/a": b"55555",
    }
    # RFC 5464 §4.2.2: depth 0, 1, infinity; an entry asked for at depth 0 without a value is NIL.
    assert select_entries(values, ["/private/a", "/private/x"], 0, None) == (
        [("/private/a", b"1"), ("/private/x", None)],
        None,
    )
    assert select_entries(values, ["/private/a"], 1, None) == (
        [("/private/a", b"1"), ("/private/a/b", b"22")],
        None,
    )
    assert select_entries(values, ["/private"], 1, None) == (
        [("/private/a", b"1"), ("/private/ab", b"4444")],
        None,
    )
    assert select_entries(values, ["/private/a", "/private/a/b"], DEPTH_INFINITY, None) == (
        [("/private/a", b"1"), ("/private/a/b", b"22"), ("/private/a/b/c", b"333")],
        None,
    )
    assert select_entries(values, ["/shared/x"], DEPTH_INFINITY, None) == ([], None)
    # RFC 5464 §4.2.1: values over MAXSIZE left out, the largest size of them returned.
    assert select_entries(values, ["/private", "/shared"], DEPTH_INFINITY, 2) == (
        [("/private/a", b"1"), ("/private/a/b", b"22")],
        5,
    )
    assert select_entries(values, ["/private/a"], 0, 1) == ([("/private/a", b"1")], None)
    assert select_entries(values, ["/shared/a"], 0, 0) == ([], 5)
