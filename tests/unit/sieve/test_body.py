"""The body test (RFC 5173): :raw, :content with the RFC's example message, :text."""

from __future__ import annotations

import base64

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, SieveMessage, compile_script, run

# RFC 5173 §5.2's example (the marks at the line starts removed).
EXAMPLE = b"\r\n".join(
    [
        b"From: Whomever",
        b"To: Someone",
        b"Date: Whenever",
        b"Subject: whatever",
        b"Content-Type: multipart/mixed; boundary=outer",
        b"",
        b"This is a multi-part message in MIME format.",
        b"",
        b"--outer",
        b"Content-Type: multipart/alternative; boundary=inner",
        b"",
        b"This is a nested multi-part message in MIME format.",
        b"",
        b"--inner",
        b'Content-Type: text/plain; charset="us-ascii"',
        b"",
        b"Hello",
        b"",
        b"--inner",
        b'Content-Type: text/html; charset="us-ascii"',
        b"",
        b"<html><body>Hello</body></html>",
        b"",
        b"--inner--",
        b"",
        b"This is the end of the inner MIME multipart.",
        b"",
        b"--outer",
        b"Content-Type: message/rfc822",
        b"",
        b"From: Someone Else",
        b"Subject: hello request",
        b"",
        b"Please say Hello",
        b"",
        b"--outer--",
        b"",
        b"This is the end of the outer MIME multipart.",
        b"",
    ]
)


def matches(test: str, message: bytes = EXAMPLE) -> bool:
    script = compile_script(f'require ["body", "fileinto", "variables"]; if {test} {{ fileinto "yes"; }}')
    result = run(script, SieveMessage.from_bytes(message), Envelope("a@example.org", "b@example.org"))
    assert result.error is None, result.error
    return FileIntoAction("yes") in result.actions


def test_content_picks_the_parts_of_rfc_5173_s_example() -> None:
    # '&' lines: the prologues and epilogues of both multiparts.
    assert matches('body :content "multipart" :contains "MIME format"')
    assert matches('body :content "multipart" :contains "end of the inner"')
    assert not matches('body :content "multipart" :contains "Hello"')
    # '$' lines: text/plain, and the nested message's body is text/plain too.
    assert matches('body :content "text/plain" :contains "Please say"')
    assert matches('body :content "text/plain" :is "Hello\r\n"')  # a line end inside the string
    assert not matches('body :content "text/plain" :contains "<html>"')
    # '%' lines.
    assert matches('body :content "text/html" :contains "<body>Hello"')
    # '!' lines: only the nested message's header.
    assert matches('body :content "message/rfc822" :contains "hello request"')
    assert not matches('body :content "message/rfc822" :contains "Please say"')
    # Odd content types match nothing (§5.2); "" matches every part.
    for odd in ('"/plain"', '"text/"', '"text/plain/x"'):
        assert not matches(f'body :content {odd} :contains ""')
    assert matches('body :content "" :contains "Please say"')
    assert not matches('body :content "audio/mp3" :contains ""')


def test_raw_and_text() -> None:
    # §5.1: no MIME processing, boundaries and part headers included.
    assert matches('body :raw :contains "--inner\r\nContent-Type: text/html"')
    assert not matches('body :raw :contains "Subject: whatever"')
    # §5.3: the text of text parts, HTML reduced to text; the default transform.
    assert matches('body :text :contains "Please say Hello"')
    assert not matches('body :text :contains "<html>"')
    assert matches('body :contains "Hello"')


def test_transfer_encodings_and_charsets_are_undone() -> None:
    text = "Grüße aus dem Büro".encode("iso-8859-1")
    message = (
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(text).replace(b"\n", b"\r\n")
    )
    assert matches('body :content "text" :contains "Grüße"', message)
    assert matches('body :raw :contains "R3L8"', message)  # the raw body is still base64


def test_no_body_means_no_match() -> None:
    # RFC 5173 §4: a header without the empty line that ends it has no body, not even "".
    assert not matches('body :raw :contains ""', b"Subject: x\r\n")
    assert matches('body :raw :is ""', b"Subject: x\r\n\r\n")


def test_body_wildcards_set_no_match_variables() -> None:
    # §6: "${1}" is still the last header :matches' value.
    script = compile_script(
        'require ["body", "variables", "fileinto"];\n'
        'if header :matches "subject" "*" {}\n'
        'if body :matches "*Please*" { fileinto "${1}"; }'
    )
    result = run(script, SieveMessage.from_bytes(EXAMPLE), Envelope("a@example.org", "b@example.org"))
    assert FileIntoAction("whatever") in result.actions


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('if body :contains "x" {}', "'body' needs require \"body\""),
        ('require "body"; if body :raw :text :contains "x" {}', "':text' conflicts with ':raw'"),
        ('require "body"; if body :content :contains "x" {}', "':content' must be followed by a string-list"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
