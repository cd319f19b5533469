"""Recovering what a person reads from address-list elements that are not valid addresses, for
IMAP ENVELOPE (address.recover_address, envelope._invalid_address). Expected values are Dovecot
2.3's answers for the same field (checked by tests/interop/test_dovecot_differential.py on the
corpus file address_recovery_*.eml)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mime_helpers import parse, read_imap

from pochta.mime.address import recover_address
from pochta.mime.imapform import envelope_bytes

MISSING_MAILBOX, MISSING_DOMAIN, SYNTAX_ERROR = "MISSING_MAILBOX", "MISSING_DOMAIN", "SYNTAX_ERROR"

CASES = [
    # RFC 5322 §3.4 name-addr whose addr-spec lacks "@domain"
    ("Moderator-Address <moderator>", ["Moderator-Address", None, "moderator", MISSING_DOMAIN]),
    ('"Quoted Name" <moderator>', ["Quoted Name", None, "moderator", MISSING_DOMAIN]),
    ("<moderator>", [None, None, "moderator", MISSING_DOMAIN]),
    # words that can only be a display name
    ("Someone Else", ["Someone Else", None, MISSING_MAILBOX, MISSING_DOMAIN]),
    ('"Joe" joe@x.org', ["Joe joe", None, MISSING_MAILBOX, MISSING_DOMAIN]),
    ('"q s"', ["q s", None, MISSING_MAILBOX, MISSING_DOMAIN]),
    ('"q s"bc', ["q s bc", None, MISSING_MAILBOX, MISSING_DOMAIN]),
    # a comment beside a lone word names it, as beside an addr-spec (RFC 5322 §3.4 example)
    ("moderator (The Moderator)", ["The Moderator", None, "moderator", MISSING_DOMAIN]),
    ("(not a name) moderator", [None, None, "moderator", MISSING_DOMAIN]),
    # a lone word is a local part
    ("foo", [None, None, "foo", MISSING_DOMAIN]),
    # empty or broken angle-addr
    ("Name <>", ["Name", None, MISSING_MAILBOX, MISSING_DOMAIN]),
    ("<>", [None, None, MISSING_MAILBOX, MISSING_DOMAIN]),
    ("Name <user@>", ["Name", None, "user", SYNTAX_ERROR]),
    ("Name <<a@b>", ["Name", None, MISSING_MAILBOX, SYNTAX_ERROR]),
    ("a b <c@d", ["a b", None, "c", SYNTAX_ERROR]),
    ("Name <@host>", ["Name", "INVALID_ROUTE", MISSING_MAILBOX, MISSING_DOMAIN]),
    # missing or malformed domain
    ("user@", [None, None, "user", MISSING_DOMAIN]),
    ("joe@ex.org.", [None, None, "joe", MISSING_DOMAIN]),
    ("@host", [None, None, MISSING_MAILBOX, "host"]),
    # obsolete local parts (RFC 5322 §4.4): stray dots kept as written
    ("user.@host", [None, None, "user.", "host"]),
    (".user@host", [None, None, ".user", "host"]),
    ("user..x@host", [None, None, "user..x", "host"]),
    # stray characters after a complete address are not read
    ("foo@bar@baz", [None, None, "foo", "bar"]),
    ("a@b junk", [None, None, "a", "b"]),
    ("<a@b> junk", [None, None, "a", "b"]),
    ("junk <a@b> more", ["junk", None, "a", "b"]),
    ("Name <a@b>>", ["Name", None, "a", "b"]),
    ("user@host;", [None, None, "user", "host"]),
    ("user@host <>", [None, None, "user", "host"]),
    ("Alice <alice@example.org> bob@example.org", ["Alice", None, "alice", "example.org"]),
    # routes and domain literals (RFC 5322 §4.4 obs-route, §3.4.1 domain-literal)
    ("Name <@a.example,@[10.0.0.1]:user>", ["Name", "@a.example,@[10.0.0.1]", "user", MISSING_DOMAIN]),
    ("Name <@[10.0.0.1]:user@[10.0.0.2] junk", ["Name", "@[10.0.0.1]", "user", SYNTAX_ERROR]),
    ("<user@[1.2.3.4]> junk", [None, None, "user", "[1.2.3.4]"]),
    # an unterminated quoted string hides everything after it
    ('"unterminated <u@h>', [None, None, MISSING_MAILBOX, MISSING_DOMAIN]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_envelope_recovers_what_a_reader_sees(text: str, expected: list[str | None]) -> None:
    msg = parse(f"From: {text}\r\nTo: {text}, carol@example.org\r\n\r\n".encode())
    env = read_imap(envelope_bytes(msg.envelope))
    assert env[2] == [expected]
    # the next element of a list is still read (Dovecot stops at the first broken one), unless
    # an unclosed "<" or quote runs to the end of the field
    unclosed = text.rfind("<") > text.rfind(">") or text.count('"') % 2
    assert env[5] == [expected] if unclosed else [expected, [None, None, "carol", "example.org"]]


def test_recovered_parts_never_become_mailboxes() -> None:
    # Recovery is for display only: the parse used for policy and SEARCH keys stays strict.
    msg = parse(b"From: Alice <alice@example.org> bob@example.org\r\n\r\n")
    assert msg.from_ == ()


def test_group_members_are_recovered_too() -> None:
    msg = parse(b"To: team: Moderator <moderator>, ok@example.org;\r\n\r\n")
    env = read_imap(envelope_bytes(msg.envelope))
    assert env[5] == [
        [None, None, "team", None],
        ["Moderator", None, "moderator", MISSING_DOMAIN],
        [None, None, "ok", "example.org"],
        [None, None, None, None],
    ]


_TEXT = st.text(st.sampled_from([*list('ab .@<>,;:"()[]x\t'), "é"]), max_size=40)


@given(_TEXT)
def test_recovery_never_raises_and_never_invents(text: str) -> None:
    found = recover_address(text)
    for part in (found.name, found.local, found.domain):
        if part is not None:
            # every recovered character is one the text shows (quotes and spacing aside)
            assert set(part) - {" "} <= set(text), (text, found)
    envelope_bytes(parse(f"From: {text}\r\n\r\n".encode()).envelope)


def test_recovery_is_linear() -> None:
    text = "a." * 50_000 + "<" * 50_000
    assert recover_address(text).domain_error
    assert recover_address("a." * 100_000 + "@" + "b." * 100_000).local == "a." * 100_000


def test_a_quoted_string_is_a_word_of_the_display_name() -> None:
    # RFC 5322 §3.2.5: phrase = 1*word; "Joe"Smith is two words, as Dovecot shows them
    msg = parse(b'From: "Joe"Smith <joe@example.org>\r\n\r\n')
    assert msg.envelope.from_[0].name == "Joe Smith"
    assert msg.from_[0].name == "Joe Smith"
