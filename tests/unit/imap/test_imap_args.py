"""Argument parsing: each command's syntax errors become a BAD, the edge cases parse as the RFC says."""

from __future__ import annotations

import pytest
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Receiver, SequenceSet
from pochta.proto.imap.args import (
    Append,
    Authenticate,
    Compress,
    ListArgs,
    MailboxArgs,
    Replace,
    StatusArgs,
    Store,
)
from pochta.proto.imap.fetch import FetchArgs
from pochta.proto.imap.search import ESearchArgs, IntervalKey, Not, SearchArgs, Source


@pytest.mark.parametrize(
    "line",
    [
        b"a NOOP x",  # extra arguments
        b"a LOGIN x",
        b"a LOGIN x  y",
        b"a SELECT",
        b"a SELECT (",
        b'a SELECT "unterminated',
        b"a FETCH 1 (FLAGS",
        b"a FETCH 1 BODY[1.0]",
        b"a FETCH 1 BODY[0]",
        b"a FETCH 1 BODY[MIME]",  # RFC 9051 §9: MIME only after a part number
        b"a FETCH 1 BODY[1.FOO]",
        b"a FETCH 1 BODY[HEADER.FIELDS]",
        b"a FETCH 1 BODY[HEADER.FIELDS (a:b)]",
        b"a FETCH 1 BODY[]<1.0>",
        b"a FETCH 1 BODY[]<1>",
        b"a FETCH 1 BINARY[TEXT]",
        b"a FETCH 1 BODY.PEEK",
        b"a FETCH 1 NOSUCH",
        b"a FETCH 0 FLAGS",
        b"a FETCH 1:$ FLAGS",
        b"a STORE 1 FLAGS",
        b"a STORE 1 +FLAGS.LOUD (\\Seen)",
        b"a STORE 1 (UNCHANGEDSINCE x) FLAGS (\\Seen)",
        b"a SEARCH",
        b"a SEARCH ()",
        b"a SEARCH (ALL",
        b"a SEARCH ALL)",
        b"a SEARCH OR ALL",
        b"a SEARCH NOT",
        b"a SEARCH SINCE 31-Feb-2020",
        b"a SEARCH SINCE yesterday",
        b"a SEARCH LARGER -1",
        b"a SEARCH XYZZY",
        b"a SEARCH OLDER 0",  # RFC 5032 §3: nz-number
        b"a SEARCH YOUNGER",
        b"a SEARCH YOUNGER -5",
        b"a SEARCH RETURN (FOO) ALL",
        b"a SEARCH ALL  ALL",
        b"a STATUS INBOX ()",
        b"a STATUS INBOX (MESSAGES FOO)",
        b'a LIST (RECURSIVEMATCH) "" *',
        b'a LIST (BOGUS) "" *',
        b'a LIST "" * RETURN (BOGUS)',
        b'a LIST "" * RETURN (STATUS ())',
        b"a APPEND INBOX",
        b"a APPEND INBOX (\\Seen)",
        b'a APPEND INBOX "32-Jan-2020 00:00:00 +0000" {1+}\r\nx',
        b"a CREATE x (USE (Drafts))",
        b'a CREATE x (USE ("\\\xc3\xa9"))',
        b'a LIST "" % RETURN (STATUS ("\xc3\xa9"))',
        b"a ID (a)",
        b"a ENABLE",
        b"a AUTHENTICATE PLAIN !!",
        b"a UID NOOP",
        b"a UID",
        b"a UNAUTHENTICATE x",  # RFC 8437 §3: no arguments
        b"a REPLACE 1 INBOX",  # RFC 8508 §5: append-message is required
        b"a REPLACE 0 INBOX {1+}\r\nx",
        b"a REPLACE 1:2 INBOX {1+}\r\nx",
        b"a REPLACE 1 INBOX {1+}\r\nx {1+}\r\ny",  # one message (§4.7)
        b"a UID REPLACE x INBOX {1+}\r\nx",
        b"a ESEARCH IN (selected-delayed) ALL",  # RFC 7377 §4
        b"a ESEARCH IN () ALL",
        b"a ESEARCH IN (personal (x)) ALL",  # no scope options are defined
        b"a ESEARCH IN (subtree) ALL",
        b"a ESEARCH IN (mailboxes ()) ALL",
        b"a ESEARCH IN (personal)",
        b"a ESEARCH IN personal ALL",
        b"a UID ESEARCH ALL",
        b"a COMPRESS",  # RFC 4978 §5: compress = "COMPRESS" SP algorithm
        b"a COMPRESS DEFLATE X",
        b'a COMPRESS "DEFLATE"',
        b"+a NOOP",
    ],
)
def test_bad_syntax(line: bytes) -> None:
    r = Receiver()
    r.utf8 = True
    err = error(feed(r, line + b"\r\n"))
    assert err.reply.status.value == "BAD"
    assert not err.close


def test_inbox_and_quoted_names_stay_bytes() -> None:
    assert only_command(b"a SELECT inbox\r\n").args == MailboxArgs(b"inbox")  # the handler canonicalises
    assert only_command(b'a SELECT "a\\"b\\\\c"\r\n').args == MailboxArgs(b'a"b\\c')
    assert only_command(b"a SELECT &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\r\n").args == MailboxArgs(
        b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"
    )


def test_store_forms() -> None:
    cmd = only_command(b"a STORE 1:* (UNCHANGEDSINCE 12345) -FLAGS.SILENT \\Seen $Forwarded\r\n")
    all_ = SequenceSet.parse(b"1:*")
    assert cmd.args == Store(all_, "-", True, ("\\Seen", "$Forwarded"), (("UNCHANGEDSINCE", b"12345"),))
    assert isinstance(cmd.args, Store)
    assert cmd.args.unchanged_since == 12345
    one = SequenceSet.parse(b"1")
    assert only_command(b"a STORE 1 flags ()\r\n").args == Store(one, "", False, ())


def test_fetch_modifiers_and_binary() -> None:
    cmd = only_command(
        b"a UID FETCH 1:* (FLAGS BINARY.PEEK[1.2]<0.10> BINARY.SIZE[]) (CHANGEDSINCE 12345 VANISHED)\r\n"
    )
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.modifiers == (("CHANGEDSINCE", b"12345"), ("VANISHED", None))
    assert [a.response_name() for a in cmd.args.atts] == ["FLAGS", "BINARY[1.2]<0>", "BINARY.SIZE[]"]


def test_fetch_lower_case_and_rfc822() -> None:
    cmd = only_command(b"a fetch 1 (rfc822.header body.peek[text] bodystructure)\r\n")
    assert isinstance(cmd.args, FetchArgs)
    assert [a.encode() for a in cmd.args.atts] == [b"RFC822.HEADER", b"BODY.PEEK[TEXT]", b"BODYSTRUCTURE"]


def test_search_quoted_date_and_charset() -> None:
    cmd = only_command(b'a SEARCH CHARSET "UTF-8" SENTBEFORE "1-Jan-2020" UID 1:* NEW\r\n')
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.charset == "UTF-8"
    assert cmd.args.encode() == b" CHARSET UTF-8 SENTBEFORE 1-Jan-2020 UID 1:* NEW"


def test_list_status_and_special_use() -> None:
    cmd = only_command(
        b'a LIST (SPECIAL-USE SUBSCRIBED) "" (INBOX "%") '
        b"RETURN (CHILDREN STATUS (MESSAGES UIDNEXT) SPECIAL-USE)\r\n"
    )
    args = cmd.args
    assert isinstance(args, ListArgs)
    assert args.extended
    assert args.select_names == {"SPECIAL-USE", "SUBSCRIBED"}
    assert args.return_names == {"CHILDREN", "STATUS", "SPECIAL-USE"}
    assert args.status == ("MESSAGES", "UIDNEXT")
    assert args.patterns == (b"INBOX", b"%")
    assert not only_command(b'a LIST "" %\r\n').args.extended  # type: ignore[union-attr]


def test_status_items() -> None:
    assert only_command(b"a STATUS x (messages recent SIZE)\r\n").args == StatusArgs(
        b"x", ("MESSAGES", "RECENT", "SIZE")
    )


def test_create_use() -> None:
    args = only_command(b"a CREATE Sent (USE (\\Sent))\r\n").args
    assert isinstance(args, MailboxArgs)
    assert args.use == ("\\Sent",)


def test_append_utf8_literal8() -> None:
    # RFC 6855 §4
    args = only_command(b"a APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n").args
    assert isinstance(args, Append)
    assert args.messages[0].utf8
    assert args.messages[0].data.binary
    assert isinstance(
        error(feed(Receiver(), b"a APPEND INBOX UTF8 ({3+}\r\nabc)\r\n")).reply.status.value, str
    )


def test_authenticate_sasl_ir() -> None:
    assert only_command(b"a authenticate plain =\r\n").args == Authenticate("PLAIN", b"=")
    # the password never shows in a repr
    assert "SESAME" not in repr(only_command(b"a LOGIN SMITH SESAME\r\n").args)


@pytest.mark.parametrize("mode", MODES)
def test_compress(mode: str) -> None:
    command = only_command(b"z compress deflate\r\n", mode)
    assert (command.name, command.args) == ("COMPRESS", Compress("DEFLATE"))
    assert command.encode() == b"z COMPRESS DEFLATE\r\n"
    # Any atom parses; the handler says BAD to an unknown algorithm (RFC 4978 §3).
    assert only_command(b"z COMPRESS LZW\r\n", mode).args == Compress("LZW")


@pytest.mark.parametrize("mode", MODES)
def test_search_within(mode: str) -> None:
    command = only_command(b"a SEARCH UNSEEN younger 259200 NOT OLDER 4294967295\r\n", mode)
    assert isinstance(command.args, SearchArgs)
    assert command.args.key.keys[1:] == (
        IntervalKey("YOUNGER", 259200),
        Not(IntervalKey("OLDER", 4294967295)),
    )
    assert command.encode() == b"a SEARCH UNSEEN YOUNGER 259200 NOT OLDER 4294967295\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_esearch(mode: str) -> None:
    line = b'a ESEARCH in (mailboxes "folder1" subtree ({7}\r\nfolder2 x) Personal) RETURN (MIN) UNSEEN\r\n'
    command = only_command(line, mode)
    assert isinstance(command.args, ESearchArgs)
    assert command.args.sources == (
        Source("MAILBOXES", (b"folder1",)),
        Source("SUBTREE", (b"folder2", b"x")),
        Source("PERSONAL"),
    )
    assert command.args.search.returns == (("MIN", None),)
    assert (
        command.encode()
        == b"a ESEARCH IN (mailboxes folder1 subtree (folder2 x) personal) RETURN (MIN) UNSEEN\r\n"
    )
    plain = only_command(b"b ESEARCH 1:* SEEN\r\n", mode)
    assert isinstance(plain.args, ESearchArgs)
    assert plain.args.sources == ()
    assert plain.uses_sequence_numbers  # a message-number set in the program
    assert plain.encode() == b"b ESEARCH 1:* SEEN\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_replace(mode: str) -> None:
    line = b'r uid replace 2000 Drafts (\\Seen \\Draft) "11-Jan-2015 00:05:00 -0500" {5}\r\nhello\r\n'
    command = only_command(line, mode)
    assert (command.name, command.uid, command.spec.name) == ("REPLACE", True, "UID REPLACE")
    assert isinstance(command.args, Replace)
    assert (command.args.target, command.args.mailbox) == (2000, b"Drafts")
    assert command.args.message.flags == ("\\Seen", "\\Draft")
    assert bytes(command.args.message.data) == b"hello"
    assert command.encode() == line.replace(b"uid replace", b"UID REPLACE")
    star = only_command(b"r REPLACE * INBOX ~{2}\r\n\x00x\r\n", mode)
    assert isinstance(star.args, Replace)
    assert star.args.target is None
    assert star.args.message.data.binary
    assert star.uses_sequence_numbers
    assert not command.uses_sequence_numbers


def test_uses_sequence_numbers() -> None:
    def uses(line: bytes) -> bool:
        return only_command(line).uses_sequence_numbers

    assert uses(b"a FETCH 1 FLAGS\r\n")
    assert uses(b"a COPY 1 x\r\n")
    assert not uses(b"a UID FETCH 1 FLAGS\r\n")
    assert not uses(b"a UID SEARCH UID 1:* SEEN\r\n")
    assert uses(b"a UID SEARCH OR SEEN NOT (1:3)\r\n")  # message numbers inside a UID SEARCH
    assert not uses(b"a NOOP\r\n")
