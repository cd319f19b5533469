"""SORT and THREAD keys (pochta.mime.sortkeys): RFC 5256 §2.1 base subjects with the reply/forward
mark, i;unicode-casemap, msg-id normalisation, and the keys of whole parsed messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.mime.fields import subject_base
from pochta.mime.sortkeys import SortKeys, casemap, normalize_msgid, sort_keys

# (subject as decoded, base subject, a reply or forward in RFC 5256 §3 REFERENCES terms)
SUBJECTS = [
    ("hello", "hello", False),
    ("Re: hello", "hello", True),
    ("RE: Fwd: FW: hello", "hello", True),
    ("Re: [list] Fwd: hello", "hello", True),  # nested leaders with a blob between
    ("[list] Re: [x] Fwd: hello", "hello", True),
    ("[fwd: hello]", "hello", True),  # (6) a forward wrapper
    ("Re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", True),
    ("hello (fwd)", "hello", True),  # a "(fwd)" trailer
    ("hello (fwd)  (FWD) ", "hello", True),
    ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", True),
    ("[list] hello", "hello", False),  # a blob alone is no reply
    ("[list]", "[list]", False),  # the last blob is the base when nothing else is left
    ("[a] [b]", "[b]", False),
    ("  \t hello  \t  world ", "hello world", False),  # (1) white space runs are one space
    ("Re:", "", True),
    ("Re[2]: quota", "quota", True),  # subj-refwd with a blob before the colon
    ("Reply to all", "Reply to all", False),
    ("Ad: Re: Ad: x", "Ad: Re: Ad: x", False),  # translations are not removed (RFC 5256 §7)
    ("Re hello", "Re hello", False),  # no colon: not a leader
    ("", "", False),
]


@pytest.mark.parametrize(("subject", "base", "reply"), SUBJECTS)
def test_base_subject_and_reply(subject: str, base: str, reply: bool) -> None:
    assert subject_base(subject) == (base, reply)


@given(st.text(alphabet=" \t[]:()refwdREFWDxy", max_size=40))
def test_base_subject_is_a_fixed_point(subject: str) -> None:
    base, _ = subject_base(subject)
    assert subject_base(base)[0] == base  # extracting again removes nothing more
    assert base == base.strip(" ")


def test_casemap() -> None:
    assert casemap("Hello") == "HELLO"
    assert casemap("_x[") == "_X["  # "_" and "[" sort after letters, as imaptest expects
    assert casemap("frösche") == casemap("FRÖSCHE") == "FRO\u0308SCHE"  # titlecase, decomposed
    assert casemap("ǆ") == "ǅ"  # the titlecase of a digraph, not its upper case
    assert casemap("straße") == "STRAßE"  # simple mappings only: no "SS"


def test_normalize_msgid() -> None:
    # RFC 5256 §3: quoting differences must not keep two references apart
    assert normalize_msgid('<"01KF8JCEOCBS0045PS"@xxx.yyy.com>') == "<01KF8JCEOCBS0045PS@xxx.yyy.com>"
    assert normalize_msgid("< a@b >") == "<a@b>"
    assert normalize_msgid("<a@b>") != normalize_msgid("<A@b>")  # comparisons are case-sensitive
    assert normalize_msgid("<nodomain>") is None
    assert normalize_msgid("a@b") is None
    assert normalize_msgid("<@b>") is None


def keys_of(header: str) -> SortKeys:
    data = (header.replace("\n", "\r\n") + "\r\n\r\nbody\r\n").encode()
    return sort_keys(parse_message(data, Settings().mime))


def test_keys_of_a_message() -> None:
    keys = keys_of(
        "From: =?iso-8859-1?q?J=FCrgen?= <juergen@example.org>, b@example.org\n"
        "To: undisclosed: a@example.org, b@example.org;\n"
        "Cc: <x@example.net> (Carol)\n"
        "Subject: =?utf-8?q?Re:_=5Bteam=5D_r=C3=A9union?=\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0100\n"
        'Message-ID: <"m 1"@example.org>\n'
        "References: <a@x> junk <b@x>\n"
        "In-Reply-To: <c@x>"
    )
    assert keys.subject == casemap("réunion")
    assert keys.reply
    assert keys.from_ == "JUERGEN"  # addr-mailbox of the first address
    assert keys.display_from == casemap("Jürgen")  # RFC 5957 §3: the decoded display name
    assert keys.to == "UNDISCLOSED"
    assert keys.display_to == "UNDISCLOSED"
    assert keys.cc == "X"
    assert keys.sent == datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()  # UTC (RFC 5256 §2.2)
    assert keys.message_id == "<m1@example.org>"
    assert keys.references == ("<a@x>", "<b@x>")  # References wins over In-Reply-To


def test_keys_fall_back() -> None:
    keys = keys_of("From: plain@example.org\nIn-Reply-To: <c@x> <d@x>\nDate: garbage")
    assert keys.display_from == "PLAIN@EXAMPLE.ORG"  # no display name: the addr-spec
    assert keys.references == ("<c@x>",)  # the first of In-Reply-To, alone
    assert keys.sent is None
    assert keys.subject == ""
    assert not keys.reply
    assert keys.message_id is None
    assert keys_of("Subject: x").references == ()
    assert keys_of("References: <nodomain>\nIn-Reply-To: <c@x>").references == ("<c@x>",)


def test_keys_hold_no_lone_surrogates() -> None:
    # UTF-7 can decode to a lone surrogate, which neither a key nor SQLite can hold
    keys = keys_of("From: =?utf-7?Q?+2D0-?= <x@example.org>\nTo: =?utf-7?Q?+2D0-?=: a@b;")
    assert keys.display_from == "\ufffd"
    assert keys.display_to == "\ufffd"
    assert keys.to == "\ufffd"
