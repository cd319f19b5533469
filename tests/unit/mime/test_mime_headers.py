"""Header blocks, encoded words (RFC 2047), parameters (RFC 2045/2183/2231), charsets, and the
decoded values for SEARCH/SORT (RFC 5256 base subject, dates, message ids)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.mime.charset import decode_bytes, is_known
from pochta.mime.encoded_words import decode_b64, decode_encoded_words
from pochta.mime.fields import base_subject, message_id, message_ids, parse_date
from pochta.mime.header import field_text, parse_header, unfold
from pochta.mime.params import (
    _trailing_comment,
    parse_content_type,
    parse_disposition,
    parse_language,
    parse_token,
)
from pochta.mime.text import html_to_text


def test_header_fields_folding_and_separator() -> None:
    data = b"Subject: a\r\n  folded\r\nX-Empty:\r\nObs-Space : v\r\n\r\nbody"
    block = parse_header(data, 0, len(data), 100)
    assert [(name, field_text(value)) for name, value in block.fields] == [
        ("Subject", "a  folded"),
        ("X-Empty", ""),
        ("Obs-Space", "v"),  # RFC 5322 §4.5: WSP before the colon
    ]
    assert block.separator
    assert data[block.body_start :] == b"body"


def test_header_ends_at_first_non_field_line() -> None:
    data = b"From: a@b\r\nnot a header line\r\nmore text\r\n\r\nbody"
    block = parse_header(data, 0, len(data), 100)
    assert [name for name, _ in block.fields] == ["From"]
    assert not block.separator
    assert data[block.body_start :].startswith(b"not a header line")


def test_rfc7103_stray_line_between_fields_is_a_continuation() -> None:
    # RFC 7103 §7.2 example: line {4} was meant to continue the Subject.
    data = (
        b"From: user@example.com\r\nTo: userpal@example.net\r\nSubject: This is your reminder\r\n"
        b"about the football game tonight\r\nDate: Wed, 20 Oct 2010 20:53:35 -0400\r\n\r\n"
        b"Don't forget to meet us for the tailgate party!\r\n"
    )
    block = parse_header(data, 0, len(data), 100)
    assert block.stray_lines
    assert block.separator
    assert [(n, field_text(v)) for n, v in block.fields][2:] == [
        ("Subject", "This is your reminder about the football game tonight"),
        ("Date", "Wed, 20 Oct 2010 20:53:35 -0400"),
    ]
    assert data[block.body_start :].startswith(b"Don't forget")


def test_header_limits_and_edges() -> None:
    data = b"".join(b"X-%d: v\r\n" % i for i in range(10)) + b"\r\nbody"
    block = parse_header(data, 0, len(data), 3)
    assert len(block.fields) == 3
    assert block.truncated
    assert data[block.body_start :] == b"body"
    assert parse_header(b"\r\nbody", 0, 6, 10).body_start == 2
    assert parse_header(b"\nbody", 0, 5, 10).body_start == 1
    assert parse_header(b"", 0, 0, 10).body_start == 0
    mbox = b"From someone@example.org Mon Jan  2 10:00:00 2023\r\nSubject: s\r\n\r\nb"
    block = parse_header(mbox, 0, len(mbox), 10, mbox_from=True)
    assert [name for name, _ in block.fields] == ["Subject"]
    lf = b"A: 1\n B\nC: 2\n\nbody"
    block = parse_header(lf, 0, len(lf), 10)
    assert [(n, field_text(v)) for n, v in block.fields] == [("A", "1 B"), ("C", "2")]
    assert lf[block.body_start :] == b"body"


def test_unfold() -> None:
    assert unfold(b" a\r\n b\n\tc \r") == b"a b\tc"


ENCODED = [
    ("=?utf-8?q?caf=C3=A9?=", "café"),
    ("=?UTF-8?B?0J/RgNC40LLQtdGC?=", "Привет"),
    ("=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
    ("=?ISO-8859-15?Q?=A4?=", "€"),
    ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
    ("=?windows-1251?Q?=CC=E8=F0?=", "Мир"),
    ("=?windows-1252?Q?=93q=94?=", "“q”"),
    ("=?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=", "日本語"),
    ("=?gb2312?B?1tDOxA==?=", "中文"),
    ("=?gbk?B?urrX1g==?=", "汉字"),
    ("=?shift_jis?B?g2WDWINn?=", "テスト"),
    ("=?big5?B?wWPF6Q==?=", "繁體"),
    ("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"),  # RFC 2231 §5 language
    ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 §6.2 adjacent words
    ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
    ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
    ("=?utf-8?q?a_b?=", "a b"),
    ("=?utf-8?b?w6k?=", "é"),  # missing padding
    ("=?utf-8?b?ww==?= =?utf-8?b?qQ==?=", "é"),  # a character split across two words
    ("=?unknown-x?q?=E9t=E9?=", "été"),
    ("=?utf-8?q?=ZZ?=", "=ZZ"),
    ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
    ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
    ("no words here", "no words here"),
    ("=?unicode-escape?q?\\u0041?=", "\\u0041"),  # a codec that is not a mail charset
    ("=?base64?q?abc?=", "abc"),
]


@pytest.mark.parametrize(("raw", "decoded"), ENCODED)
def test_encoded_words(raw: str, decoded: str) -> None:
    assert decode_encoded_words(raw) == decoded


def test_decode_b64_tolerance() -> None:
    assert decode_b64(b"YWJj") == b"abc"
    assert decode_b64(b"YWJ") == b"ab"
    assert decode_b64(b"Y") == b""
    assert decode_b64(b"YW\r\nJj\r\n") == b"abc"
    assert decode_b64(b"Y!W*Jj") == b"abc"


def test_charsets() -> None:
    assert decode_bytes(b"caf\xe9", "us-ascii") == "café"  # 8-bit in "us-ascii": windows-1252
    assert decode_bytes("café".encode(), "us-ascii") == "café"  # ... or UTF-8 when valid
    assert decode_bytes(b"\x80", "iso-8859-1") == "€"  # WHATWG: latin-1 label means windows-1252
    assert decode_bytes(b"\x81", "iso-8859-1") == "\x81"
    assert decode_bytes(b"\xff\xfe", "utf-8") == "\ufffd\ufffd"
    assert decode_bytes(b"+AOk-", "utf-7") == "é"
    assert decode_bytes(b"\x82\xa0", "shift_jis") == "あ"
    assert decode_bytes(b"\x87\x40", "shift_jis") == "①"  # a Windows-31J extension
    assert decode_bytes(b"abc", None) == "abc"
    assert not is_known("x-unknown")
    assert not is_known("unicode_escape")
    assert is_known("koi8-r")


def test_content_type_parameters() -> None:
    assert parse_content_type('Text/Plain; Charset="US-ASCII" (comment); format=flowed') == (
        "text",
        "plain",
        (("charset", "US-ASCII"), ("format", "flowed")),
    )
    assert parse_content_type("text") is None
    assert parse_content_type("text/") is None
    assert parse_content_type("text/plain garbage") is None
    assert parse_content_type("(c) multipart / mixed ; boundary = abc") == (
        "multipart",
        "mixed",
        (("boundary", "abc"),),
    )
    # RFC 2231 §3: continuations (mixed quoted and unquoted); §4: charset and language.
    ct = parse_content_type(
        'message/external-body; access-type=URL; URL*0="ftp://";\r\n'
        ' URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"'
    )
    assert ct is not None
    assert ct[2][1] == ("url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
    ct = parse_content_type("application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A")
    assert ct is not None
    assert ct[2] == (("title", "This is ***fun***"),)
    ct = parse_content_type(
        "application/x-stuff; title*1*=%2A%2A%2Afun%2A%2A%2A%20;"
        " title*0*=us-ascii'en'This%20is%20even%20more%20;"
        ' title*2="isn\'t it!"'
    )
    assert ct is not None
    assert ct[2] == (("title", "This is even more ***fun*** isn't it!"),)
    ct = parse_content_type("a/b; name=plain; name*=utf-8''%C3%A9.txt; x=1; x=2")
    assert ct is not None
    assert ct[2] == (("name", "é.txt"), ("x", "1"))
    ct = parse_content_type('a/b; name="unterminated; x=1')
    assert ct is not None
    assert ct[2] == (("name", "unterminated; x=1"),)
    ct = parse_content_type('a/b; name=my file.pdf; novalue; =x; q="a\\"b"')
    assert ct is not None
    assert ct[2] == (("name", "my file.pdf"), ("q", 'a"b'))
    ct = parse_content_type("a/b; name*0*=koi8-r''%F0%D2; name*1*=%C9%D7%C5%D4")
    assert ct is not None
    assert ct[2] == (("name", "Привет"),)


def test_disposition_language_token() -> None:
    assert parse_disposition('Attachment; filename="a.pdf"; size=42') == (
        "attachment",
        (("filename", "a.pdf"), ("size", "42")),
    )
    assert parse_disposition("") is None
    assert parse_language("en (English), de-CH") == ("en", "de-CH")
    assert parse_token(" Base64 (encoded) ") == "base64"
    assert parse_token("") is None


BASE_SUBJECTS = [
    ("Re: Re: hello", "hello"),
    ("RE: FWD: Fw: hello", "hello"),
    ("[PATCH] Re: x", "x"),
    ("Re: [fwd: hello]", "hello"),
    ("Fwd: hi (fwd)", "hi"),
    ("[list] [x]", "[x]"),  # the last blob is the base if nothing else is left
    ("  re:  re  : \t  foo (FWD) (fwd)  ", "foo"),
    ("[fwd: [fwd: a]]", "a"),
    ("Re[2]: quota", "quota"),
    ("Re:", ""),
    ("", ""),
    ("Reply to all", "Reply to all"),
]


@pytest.mark.parametrize(("subject", "base"), BASE_SUBJECTS)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def test_dates() -> None:
    assert parse_date("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)") == 837595405
    assert parse_date("Thu,\r\n 13\r\n Feb\r\n 1969\r\n 23:32\r\n -0330 (Newfoundland Time)") == -27723480
    assert parse_date("21 Nov 97 09:55:06 GMT") == 880106106  # RFC 5322 §4.3 obsolete forms
    assert parse_date("Thu, 1 Jan 1970 00:00:00 -0000") == 0
    assert parse_date("not a date") is None
    assert parse_date("") is None
    assert parse_date("Mon, 1 Jan 99999 00:00:00 +0000") is None


def test_message_ids() -> None:
    assert message_ids("<a@b> (comment) < c @ d >junk<e@f>") == ("<a@b>", "<c@d>", "<e@f>")
    assert message_id("  <x@y>  ") == "<x@y>"
    assert message_id("no-brackets@example") == "no-brackets@example"
    assert message_id("   ") is None


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p { color: red }</style></head><body><!-- hidden -->"
        "<p>Hello&nbsp;<b>wor</b>ld</p><div>a &lt; b &amp; c</div><table><tr><td>c1</td><td>c2</td></tr>"
        "</table><script>if (a < b) alert(1)</script>tail<!-- unterminated"
    )
    assert html_to_text(html) == "T\nHello world\na < b & c\nc1\nc2\ntail"
    assert html_to_text("a < b<i>x</i>") == "a < bx"
    assert html_to_text("<SCRIPT>never closed") == ""


_OLD_TRAILING_COMMENT = re.compile(r"\s*\((?:[^()\\]|\\.)*\)\s*\Z", re.S)


@given(st.text(alphabet=" \t()\\ab", max_size=16))
def test_trailing_comment_agrees_with_the_regular_expression(value: str) -> None:
    old = _OLD_TRAILING_COMMENT.search(value)
    new = _trailing_comment(value)
    if old is None:
        assert new is None
    else:
        assert new is not None
        assert value[old.start() : new].strip() == ""
        assert value[new] == "("


@pytest.mark.parametrize(
    "value",
    [
        " " * 200_000 + "x",  # the search restarted at every space: quadratic (40,000 took 3.9 s)
        "x" + " " * 200_000 + "(c)",
        "(" + "\\(" * 100_000 + ")",
        "a" + "(" * 200_000 + ")",
    ],
)
def test_parameter_comments_take_linear_time(value: str) -> None:
    started = time.perf_counter()
    parse_content_type("text/plain; charset=" + value)
    assert time.perf_counter() - started < 1.0


def test_subject_trailer_takes_linear_time() -> None:
    started = time.perf_counter()
    assert base_subject("x " + "(fwd) " * 680) == "x"  # within the 4096 characters kept
    assert base_subject("x (Fwd)\t(FWD) ") == "x"
    assert time.perf_counter() - started < 1.0
