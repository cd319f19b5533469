"""Command-line parsing, ESMTP parameters, xtext (RFC 3461 §4) and reply formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.smtp import replies
from pochta.proto.smtp.commands import (
    Command,
    CommandError,
    Extensions,
    parse_bdat,
    parse_command,
    parse_mail,
    parse_rcpt,
    xtext_decode,
    xtext_encode,
)
from pochta.proto.smtp.replies import Reply, ReplyError, parse_reply_line

EXT = Extensions(max_size=1000)


def test_parse_command_verbs_case_insensitive() -> None:
    assert parse_command(b"mail FROM:<a@b.c>  ") == Command("MAIL", "FROM:<a@b.c>")
    assert parse_command(b"QUIT") == Command("QUIT", "")
    assert isinstance(parse_command(b""), CommandError)
    assert isinstance(parse_command(b"M@IL x"), CommandError)


@pytest.mark.parametrize(
    ("argument", "local", "domain", "size"),
    [
        ("FROM:<a@b.c>", "a", "b.c", None),
        ("from: <a@b.c> SIZE=12", "a", "b.c", 12),
        ('FROM:<"a b>c"@b.c>', "a b>c", "b.c", None),
        ("FROM:<@relay.example:a@b.c>", "a", "b.c", None),
        ("FROM:<>", "", "", None),
    ],
)
def test_parse_mail_paths(argument: str, local: str, domain: str, size: int | None) -> None:
    result = parse_mail(argument, EXT)
    assert not isinstance(result, CommandError)
    path, params = result
    assert (path.local, path.domain, params.size) == (local, domain, size)


@pytest.mark.parametrize(
    ("argument", "code"),
    [
        ("TO:<a@b.c>", "501 5.5.4"),
        ("FROM:<a@b.c", "501 5.1.3"),
        ("FROM:<a@b.c>x", "501 5.5.4"),
        ("FROM:<a@b.c> SIZE=x", "501 5.5.4"),
        ("FROM:<a@b.c> SIZE=1001", "552 5.3.4"),
        ("FROM:<a@b.c> SIZE=1 SIZE=1", "501 5.5.4"),
        ("FROM:<a@b.c> BODY=9BIT", "555 5.5.4"),
        ("FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4"),
        ("FROM:<a@b.c> RET=ALL", "501 5.5.4"),
        ("FROM:<a@b.c> ENVID=" + "x" * 101, "501 5.5.4"),
        ("FROM:<a@b.c> ENVID=a+zz", "501 5.5.4"),
        ("FROM:<a@b.c> AUTH=", "501 5.5.4"),
        ("FROM:<a@b.c> =x", "501 5.5.4"),
        ("FROM:<a@@b.c>", "501 5.1.3"),
    ],
)
def test_parse_mail_errors(argument: str, code: str) -> None:
    result = parse_mail(argument, EXT)
    assert isinstance(result, CommandError)
    assert result.reply.to_bytes().decode().startswith(code)


def test_parse_mail_auth_and_envid_xtext() -> None:
    result = parse_mail("FROM:<a@b.c> AUTH=e+3Dmc2@example.com ENVID=x+2By", EXT)
    assert not isinstance(result, CommandError)
    assert result[1].auth == "e=mc2@example.com"
    assert result[1].envid == "x+y"


def test_parse_rcpt() -> None:
    result = parse_rcpt("TO:<d@e.f> NOTIFY=delay,failure ORCPT=rfc822;d@e.f", EXT, smtputf8=False)
    assert not isinstance(result, CommandError)
    assert result[1].notify == ("DELAY", "FAILURE")
    assert result[1].orcpt == ("rfc822", "d@e.f")
    for bad in ("TO:<d@e.f> NOTIFY=", "TO:<d@e.f> NOTIFY=NEVER,NEVER", "TO:<d@e.f> ORCPT=rfc822", "TO:<>"):
        assert isinstance(parse_rcpt(bad, EXT, smtputf8=False), CommandError), bad
    long = "TO:<d@e.f> ORCPT=rfc822;" + "x" * 500
    assert isinstance(parse_rcpt(long, EXT, smtputf8=False), CommandError)


def test_parse_bdat() -> None:
    assert parse_bdat("0 LAST") == (0, True)
    assert parse_bdat("123 last") == (123, True)
    assert parse_bdat("5") == (5, False)
    for bad in ("", "-1", "1 LASTX", "x", "1" * 21):
        assert isinstance(parse_bdat(bad), CommandError)


def test_xtext_examples() -> None:
    assert xtext_encode("a+b=c d") == "a+2Bb+3Dc+20d"
    assert xtext_decode("a+2Bb+3Dc+20d") == "a+b=c d"
    assert xtext_decode("a+2b") is None  # RFC 3461 §4: upper-case hex only
    assert xtext_decode("a=b") is None


@given(st.text(max_size=40))
def test_xtext_round_trip(text: str) -> None:
    assert xtext_decode(xtext_encode(text)) == text


def test_reply_formatting() -> None:
    assert Reply(250, ("a", "b"), "2.0.0").to_bytes() == b"250-2.0.0 a\r\n250 2.0.0 b\r\n"
    assert Reply(220, ("hi",)).to_bytes() == b"220 hi\r\n"
    assert replies.auth_challenge(b"").to_bytes() == b"334 \r\n"
    with pytest.raises(ReplyError):
        Reply(250, ("a\r\nb",))
    with pytest.raises(ReplyError):
        Reply(250, ("x",), "5.0.0")
    with pytest.raises(ReplyError):
        Reply(600)
    with pytest.raises(ReplyError):
        Reply(250, ())
    with pytest.raises(ReplyError):
        parse_reply_line(b"25 x")
    assert parse_reply_line(b"250") == (250, True, "")


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (replies.auth_required(), b"530 5.7.0 "),
        (replies.too_many_recipients(), b"452 4.5.3 "),
        (replies.line_too_long(), b"500 5.5.2 "),
        (replies.message_too_big(), b"552 5.3.4 "),
        (replies.loop_detected(), b"554 5.4.6 "),
        (replies.insufficient_storage(), b"452 4.3.1 "),
        (replies.encryption_required(), b"538 5.7.11 "),
        (replies.no_valid_recipients(), b"554 5.5.1 "),
    ],
)
def test_issue_reply_codes(reply: Reply, wire: bytes) -> None:
    assert reply.to_bytes().startswith(wire)
