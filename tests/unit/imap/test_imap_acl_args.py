"""ACL (RFC 4314) and LIST-MYRIGHTS (RFC 8440): the commands' arguments (fed whole and byte by
byte, with a hypothesis round trip) and their responses."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Command, Receiver, WireContext
from pochta.proto.imap.acl import AclArgs
from pochta.proto.imap.args import ListArgs
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.responses import Acl, ListRights, MyRights


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "args"),
    [
        # RFC 4314 §3.1-§3.5 examples.
        (b"A001 SETACL INBOX/Drafts Chris +cda", AclArgs(b"INBOX/Drafts", b"Chris", b"+cda")),
        (b"a setacl INBOX anyone -w", AclArgs(b"INBOX", b"anyone", b"-w")),
        (b'a SETACL "Sent Items" bob@example.org ""', AclArgs(b"Sent Items", b"bob@example.org", b"")),
        (b"A002 DELETEACL INBOX/Drafts Chris", AclArgs(b"INBOX/Drafts", b"Chris")),
        (b"a DELETEACL INBOX -anyone", AclArgs(b"INBOX", b"-anyone")),
        (b"A003 GETACL INBOX/Drafts", AclArgs(b"INBOX/Drafts")),
        (b"a LISTRIGHTS ~/Mail/saved smith", AclArgs(b"~/Mail/saved", b"smith")),
        (b"a MYRIGHTS {5+}\r\nINBOX", AclArgs(b"INBOX")),
        (
            b'a MYRIGHTS "Other Users/alice@example.org/Projects"',
            AclArgs(b"Other Users/alice@example.org/Projects"),
        ),
    ],
)
def test_acl_commands_parse(line: bytes, args: AclArgs, mode: str) -> None:
    assert only_command(line + b"\r\n", mode).args == args


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "line",
    [
        b"a SETACL INBOX anyone",  # no rights
        b"a SETACL INBOX",
        b"a SETACL INBOX anyone lr extra",
        b"a DELETEACL INBOX",
        b"a DELETEACL INBOX anyone lr",
        b"a GETACL",
        b"a GETACL INBOX extra",
        b"a LISTRIGHTS INBOX",
        b"a MYRIGHTS",
        b"a MYRIGHTS (INBOX)",
        b'a LIST "" * RETURN (MYRIGHTS (x))',  # RFC 8440 §5: MYRIGHTS takes no parameters
    ],
)
def test_acl_commands_bad_syntax(line: bytes, mode: str) -> None:
    receiver = Receiver()
    receiver.utf8 = True
    err = error(feed(receiver, line + b"\r\n", mode))
    assert err.reply.status.value == "BAD"
    assert not err.close


@pytest.mark.parametrize("mode", MODES)
def test_list_return_myrights(mode: str) -> None:
    # RFC 8440 §5: list-return-opt =/ "MYRIGHTS".
    args = only_command(b'a LIST "" "*" RETURN (MYRIGHTS STATUS (MESSAGES))\r\n', mode).args
    assert isinstance(args, ListArgs)
    assert args.return_names == {"MYRIGHTS", "STATUS"}


astrings = st.binary(max_size=30).filter(lambda b: b"\x00" not in b and b"\r" not in b and b"\n" not in b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(astrings, astrings, astrings)
def test_acl_commands_roundtrip(mailbox: bytes, identifier: bytes, rights: bytes) -> None:
    for name, args in (
        ("SETACL", AclArgs(mailbox, identifier, rights)),
        ("DELETEACL", AclArgs(mailbox, identifier)),
        ("LISTRIGHTS", AclArgs(mailbox, identifier)),
        ("GETACL", AclArgs(mailbox)),
        ("MYRIGHTS", AclArgs(mailbox)),
    ):
        wire_form = Command(b"t1", name, False, args, COMMANDS[name]).encode()
        assert only_command(wire_form).args == args


def test_acl_responses() -> None:
    # RFC 4314 §3.6-§3.8, with the examples' forms: identifiers and rights are astrings.
    assert Acl("INBOX", [("Fred", "rwipslxetad"), ("Chris", "lrswi")]).encode() == (
        b"* ACL INBOX Fred rwipslxetad Chris lrswi\r\n"
    )
    assert Acl("INBOX", []).encode() == b"* ACL INBOX\r\n"
    assert ListRights("~/Mail/saved", "smith", "la", ["r", "swicdkxte"]).encode() == (
        b"* LISTRIGHTS ~/Mail/saved smith la r swicdkxte\r\n"
    )
    assert ListRights("INBOX", "bob", "", ["l", "r"]).encode() == b'* LISTRIGHTS INBOX bob "" l r\r\n'
    assert MyRights("INBOX", "rwiptsldaex").encode() == b"* MYRIGHTS INBOX rwiptsldaex\r\n"
    shared = "Other Users/alice@example.org/Entwürfe"
    assert (
        MyRights(shared, "lr").encode() == b'* MYRIGHTS "Other Users/alice@example.org/Entw&APw-rfe" lr\r\n'
    )
    assert MyRights(shared, "lr").encode(WireContext(utf8=True)) == f'* MYRIGHTS "{shared}" lr\r\n'.encode()
