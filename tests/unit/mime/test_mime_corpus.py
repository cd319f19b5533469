"""The corpus in tests/corpus/mime: real-world shapes, with concrete values asserted."""

from __future__ import annotations

import json

import pytest
from mime_helpers import CORPUS, body, check_invariants, load, mime_header, parse, read_imap

from pochta.mime import Address, ParsedMessage, envelope_from_json, root_offsets_from_json
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes

CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))


def test_corpus_is_there() -> None:
    assert len(CORPUS_FILES) >= 13


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_invariants_hold_for_every_corpus_message(name: str) -> None:
    data = load(name)
    check_invariants(parse(data), data)


@pytest.mark.parametrize("name", [n for n in CORPUS_FILES if n != "lf_only.eml"])
def test_corpus_uses_crlf(name: str) -> None:
    data = load(name)
    assert data.count(b"\n") == data.count(b"\r\n")


def test_alternative_with_related_inline_image() -> None:
    data = load("alternative_related.eml")
    msg = parse(data)
    assert msg.defects == ()
    assert msg.root.media_type == "multipart/alternative"
    assert msg.root.param("boundary") == "alt-boundary"
    assert [(spec, part.media_type) for spec, part in msg.sections()] == [
        ((1,), "text/plain"),
        ((2,), "multipart/related"),
        ((2, 1), "text/html"),
        ((2, 2), "image/png"),
    ]
    plain = msg.section((1,))
    assert plain is not None
    assert plain.encoding == "quoted-printable"
    assert plain.charset == "utf-8"
    assert body(data, plain) == (b"Hello Bob,\r\nthe report is attached. Caf=C3=A9 prices went=\r\n up.")
    assert mime_header(data, plain) == (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    assert plain.size == len(body(data, plain))
    assert plain.lines == 2  # line ends: the CRLF before the delimiter is the delimiter's
    related = msg.section((2,))
    assert related is not None
    assert related.params == (("boundary", "rel-boundary"), ("type", "text/html"))
    assert body(data, related).startswith(b"--rel-boundary\r\nContent-Type: text/html")
    assert body(data, related).endswith(b"--rel-boundary--\r\n")
    image = msg.section((2, 2))
    assert image is not None
    assert image.content_id == "<chart@example.org>"
    assert image.disposition == "inline"
    assert image.filename == "chart.png"
    assert body(data, image).startswith(b"iVBORw0KGgo")
    assert body(data, image).endswith(b"ErkJggg==")
    assert image.lines == 0  # only text/* and message/* carry a line count
    # BODY[TEXT] of the message: everything after the header's blank line.
    assert data[msg.header_size :].startswith(b"This is a multi-part message")
    assert data[: msg.header_size].endswith(b'boundary="alt-boundary"\r\n\r\n')
    # search data
    assert msg.body_text == "Hello Bob,\nthe report is attached. Café prices went up."
    assert msg.preview == "Hello Bob, the report is attached. Café prices went up."
    assert msg.subject == "Re: [team] Quarterly report with pictures"
    assert msg.base_subject == "Quarterly report with pictures"
    assert msg.date == 1672650000  # 2023-01-02T09:00:00Z
    assert msg.message_id == "<report-1@example.org>"
    assert msg.in_reply_to == "<report-0@example.net>"
    assert msg.references == ("<start@example.net>", "<report-0@example.net>")
    assert [m.addr_spec for m in msg.to] == ["bob@example.net", "carol@example.com"]
    assert msg.from_[0].name == "Alice Example"
    assert msg.cc == ()
    assert ("Subject", "Re: [team] Quarterly report with pictures") in msg.headers
    assert msg.header_values("references") == ["<start@example.net> <report-0@example.net>"]
    assert "MIME-Version: 1.0" in msg.header_text
    env = msg.envelope
    assert env.cc == (Address(None, None, "Undisclosed recipients", None), Address(None, None, None, None))
    assert (
        env.sender == env.reply_to == env.from_ == (Address("Alice Example", None, "alice", "example.org"),)
    )


def test_rfc2231_attachment_names() -> None:
    data = load("rfc2231_attachments.eml")
    msg = parse(data)
    assert msg.defects == ()
    text, pdf, resume, binary = (msg.section((n,)) for n in (1, 2, 3, 4))
    assert text is not None
    assert pdf is not None
    assert resume is not None
    assert binary is not None
    assert text.language == ("en", "de")
    assert pdf.params == (("name", "Отчёт за март.pdf"),)
    assert pdf.disposition == "attachment"
    assert pdf.disposition_params == (("filename", "Отчёт за март.pdf"), ("size", "12"))
    assert pdf.filename == "Отчёт за март.pdf"
    assert pdf.description == "Monthly report"
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert pdf.location == "http://example.org/reports/march.pdf"
    assert pdf.encoding == "base64"
    assert body(data, pdf) == b"JVBERi0xLjQKJcOkw7w="
    assert pdf.is_attachment
    # RFC 2231 with a charset and language, and an RFC 2047 word in a quoted name= (common).
    assert resume.disposition_params == (("filename", "résumé.txt"),)
    assert resume.param("name") == "=?iso-8859-1?Q?r=E9sum=E9.txt?="
    assert resume.filename == "résumé.txt"
    # Plain continuations without charset.
    assert binary.filename == "very long file name split across three lines.bin"
    assert body(data, binary) == b"AAECAwQF"
    assert msg.has_attachments
    # The text attachment is searchable; the preview comes from the inline text.
    assert msg.body_text == "See attachments.\nPlain text attachment."
    assert msg.preview == "See attachments."
    structure = read_imap(bodystructure_bytes(msg.root, True))
    assert structure[1][2] == [
        "NAME*",
        "utf-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%20%D0%B7%D0%B0%20%D0%BC%D0%B0%D1%80%D1%82.pdf",
    ]
    assert structure[1][7:] == [
        "Q2hlY2sgSW50ZWdyaXR5IQ==",
        ["ATTACHMENT", ["FILENAME*", structure[1][2][1], "SIZE", "12"]],
        None,
        "http://example.org/reports/march.pdf",
    ]
    assert structure[0][-2] == ["en", "de"]
    utf8 = read_imap(bodystructure_bytes(msg.root, True, utf8=True))
    assert utf8[1][2] == ["NAME", "Отчёт за март.pdf"]


def test_nested_message_rfc822_two_levels() -> None:
    data = load("nested_rfc822.eml")
    msg = parse(data)
    assert msg.defects == ()
    assert [(spec, part.media_type) for spec, part in msg.sections()] == [
        ((1,), "text/plain"),
        ((2,), "message/rfc822"),
        ((2, 1), "text/plain"),
        ((2, 2), "message/rfc822"),
        ((2, 2, 1), "text/plain"),
    ]
    middle = msg.section((2,))
    assert middle is not None
    assert middle.message is not None
    assert middle.description == "forwarded message"
    # BODY[2] is the whole encapsulated message; BODY[2.HEADER] and BODY[2.TEXT] split it.
    start = data.index(b"From: Middle")
    assert middle.body_start == start
    assert middle.body_end == data.index(b"\r\n--outer--")
    assert mime_header(data, middle.message) == data[start : data.index(b"\r\n\r\n--middle") + 4]
    assert body(data, middle.message).startswith(b"--middle\r\n")
    assert body(data, middle.message).endswith(b"--middle--\r\n")
    assert middle.lines == body(data, middle).count(b"\n")
    assert middle.message.envelope is not None
    assert middle.message.envelope.subject == "Fwd: original"
    assert middle.message.envelope.from_ == (Address("Middle", None, "middle", "example.org"),)
    inner = msg.section((2, 2))
    assert inner is not None
    assert inner.message is not None
    assert inner.message.envelope is not None
    assert inner.message.envelope.message_id == "<inner@example.org>"
    assert inner.message.envelope.date == "Mon, 02 Jan 2023 08:00:00 +0000"
    assert body(data, inner) == data[data.index(b"From: Inner") : data.index(b"\r\n--middle--")]
    innermost = msg.section((2, 2, 1))
    assert innermost is inner.message  # a non-multipart message's body is its part 1
    assert body(data, innermost) == b"The innermost body."
    # The IMAP section specifiers as offsets.
    assert msg.byte_range(()) == (0, len(data))
    assert msg.byte_range((), "HEADER") == (0, msg.header_size)
    assert msg.byte_range((), "TEXT") == (msg.header_size, len(data))
    assert msg.byte_range((), "MIME") is None
    assert msg.byte_range((2,), "HEADER") == (middle.message.header_start, middle.message.body_start)
    assert msg.byte_range((2,), "header.fields") == msg.byte_range((2,), "HEADER")
    assert msg.byte_range((2,), "TEXT") == (middle.message.body_start, middle.body_end)
    assert msg.byte_range((2,), "MIME") == (middle.header_start, middle.body_start)
    assert msg.byte_range((2,)) == (middle.body_start, middle.body_end)
    assert msg.byte_range((2, 2, 1), "MIME") == (inner.body_start, inner.message.body_start)
    assert msg.byte_range((1,), "TEXT") is None  # not a message/rfc822 part
    assert msg.byte_range((1,), "BOGUS") is None
    assert msg.byte_range((9,)) is None

    assert msg.section((2, 2, 2)) is None
    assert msg.section((3,)) is None
    assert msg.section((1, 1)) is None
    assert msg.section((0,)) is None
    assert "The innermost body." in msg.body_text
    assert "Subject: original" in msg.body_text
    assert msg.base_subject == "original"
    structure = read_imap(bodystructure_bytes(msg.root, False))
    assert structure[1][:7] == ["MESSAGE", "RFC822", None, None, "forwarded message", "7BIT", middle.size]
    assert structure[1][7][1] == "Fwd: original"  # its ENVELOPE
    assert structure[1][8][-1] == "MIXED"  # its BODY
    assert structure[1][8][1][7][1] == "original"  # the inner message's ENVELOPE subject
    assert structure[1][9] == middle.lines


def test_encoded_words_in_many_charsets() -> None:
    data = load("encoded_words.eml")
    msg = parse(data)
    values = dict(msg.headers)
    assert msg.subject == "Café ünïcödé"  # a UTF-8 character split across two words
    assert values["X-Latin1"] == "café"
    assert values["X-Latin9"] == "€uro"
    assert values["X-Koi8"] == "Привет"
    assert values["X-Cp1251"] == "Мир"
    assert values["X-Cp1252"] == "€ and “quotes”"
    assert values["X-Jis"] == "日本語"
    assert values["X-Gb2312"] == "中文"
    assert values["X-Gbk"] == "汉字"
    assert values["X-Sjis"] == "テスト"
    assert values["X-Big5"] == "繁體中文"
    assert values["X-Unknown"] == "abcé"  # unknown charset: bytes kept (windows-1252)
    assert values["X-Mixed"] == "plain abc text d"  # adjacent words joined across folding
    assert values["X-Broken"] == "é=ZZ"
    assert [(m.name, m.addr_spec) for m in msg.from_] == [("Jörg Müller", "joerg@example.de")]
    assert [(m.name, m.addr_spec) for m in msg.to] == [
        ("Иван Петров", "ivan@example.ru"),
        ("繁體", "tw@example.tw"),
    ]
    assert msg.body_text == "Привет, мир!\n"
    # IMAP gets the raw forms.
    assert msg.envelope.from_ == (Address("=?utf-8?Q?J=C3=B6rg_M=C3=BCller?=", None, "joerg", "example.de"),)
    assert msg.envelope.subject is not None
    assert msg.envelope.subject.startswith("=?utf-8?B?")
    assert "X-Cp1252: € and “quotes”" in msg.header_text


def test_8bit_headers() -> None:
    data = load("8bit_headers.eml")
    msg = parse(data)
    assert msg.subject == "Grüße aus Köln"  # raw UTF-8 (RFC 6532)
    assert msg.from_[0].name == "Jörg"  # raw latin-1: not UTF-8, so latin-1
    assert msg.to[0].local == "δοκιμή"
    assert msg.to[0].domain == "παράδειγμα.δοκιμή"
    assert msg.body_text == "Schöne Grüße!\n"
    env = envelope_bytes(msg.envelope)
    assert b"{17}\r\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln" in env  # 8-bit: a literal
    assert b'"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln"' in envelope_bytes(msg.envelope, utf8=True)
    assert read_imap(env)[1] == "Grüße aus Köln"


def test_broken_boundaries_missing_close_delimiters() -> None:
    data = load("broken_boundaries.eml")
    msg = parse(data)
    assert "missing_close_delimiter" in msg.defects
    assert [(spec, part.media_type) for spec, part in msg.sections()] == [
        ((1,), "multipart/alternative"),
        ((1, 1), "text/plain"),
        ((1, 2), "text/html"),
        ((2,), "text/plain"),
    ]
    # The inner multipart ends where the outer's next delimiter is.
    assert body(data, msg.section((1, 2))) == b"<p>inner html</p>"
    assert body(data, msg.section((1,))).endswith(b"<p>inner html</p>")
    # The last outer part runs to the end of the message.
    assert body(data, msg.section((2,))) == b"second outer part; the outer close delimiter is missing too\r\n"
    assert msg.body_text == (
        "inner plain, the inner close delimiter is missing\n"
        "second outer part; the outer close delimiter is missing too\n"
    )


def test_boundary_never_found_gives_one_text_part() -> None:
    data = load("boundary_never_found.eml")
    msg = parse(data)
    assert "no_parts" in msg.defects
    part = msg.section((1,))
    assert part is not None
    assert part.media_type == "text/plain"
    assert part.header_start == part.body_start == msg.header_size
    assert body(data, part) == data[msg.header_size :]
    assert "--almost-never-used" in msg.body_text  # a longer boundary is not this boundary
    structure = read_imap(bodystructure_bytes(msg.root, False))
    assert structure == [
        ["TEXT", "PLAIN", ["CHARSET", "us-ascii"], None, None, "7BIT", part.size, 3],
        "MIXED",
    ]


def test_boundary_in_preamble_only() -> None:
    data = load("boundary_preamble_only.eml")
    msg = parse(data)
    assert "no_parts" in msg.defects
    part = msg.section((1,))
    assert body(data, part) == b"This preamble mentions --XYZ in the middle of a line."
    assert "Epilogue" not in msg.body_text


def test_message_without_body() -> None:
    data = load("no_body.eml")
    msg = parse(data)
    assert msg.header_size == len(data)
    assert msg.root.size == 0
    assert msg.root.lines == 0
    assert msg.subject == "headers only, no blank line, no body"
    assert [name for name, _ in msg.headers] == ["From", "To", "Subject"]
    assert msg.body_text == ""
    assert msg.preview == ""
    assert read_imap(bodystructure_bytes(msg.root, False)) == [
        "TEXT", "PLAIN", ["CHARSET", "us-ascii"], None, None, "7BIT", 0, 0,
    ]  # fmt: skip


def test_message_with_empty_body() -> None:
    data = load("empty_body.eml")
    msg = parse(data)
    assert msg.header_size == len(data)
    assert data[: msg.header_size].endswith(b"\r\n\r\n")
    assert msg.defects == ()


def test_no_header_body_separator() -> None:
    data = load("no_separator.eml")
    msg = parse(data)
    assert "no_header_separator" in msg.defects
    assert [name for name, _ in msg.headers] == ["From", "Subject"]
    assert (
        data[msg.header_size :] == b"This line starts the body without a blank line.\r\nSecond body line.\r\n"
    )
    assert msg.root.lines == 2
    assert msg.preview == "This line starts the body without a blank line. Second body line."


def test_lf_only_line_ends() -> None:
    data = load("lf_only.eml")
    assert b"\r" not in data
    msg = parse(data)
    assert msg.defects == ()
    first, second = msg.section((1,)), msg.section((2,))
    assert body(data, first) == b"first part\nwith two lines"
    assert mime_header(data, first) == b"Content-Type: text/plain\n\n"
    assert body(data, second) == b"second part"
    assert first is not None
    assert first.lines == 1  # "with two lines" ends at the delimiter's line break
    assert msg.lines == data.count(b"\n")
    assert msg.body_text == "first part\nwith two lines\nsecond part"


def test_digest_children_default_to_message_rfc822() -> None:
    data = load("digest.eml")
    msg = parse(data)
    assert [(spec, part.media_type) for spec, part in msg.sections()] == [
        ((1,), "message/rfc822"),
        ((1, 1), "text/plain"),
        ((2,), "message/rfc822"),
        ((2, 1), "text/plain"),
        ((3,), "text/plain"),
    ]
    first = msg.section((1,))
    assert first is not None
    assert first.message is not None
    assert first.message.envelope is not None
    assert first.message.envelope.subject == "first"
    assert mime_header(data, first) == b"\r\n"  # the digest part has an empty MIME header
    assert body(data, msg.section((1, 1))) == b"First message."
    assert body(data, msg.section((2, 1))) == b"Second message."
    second = msg.section((2,))
    assert second is not None
    assert second.message is not None
    assert second.message.charset == "utf-8"
    assert msg.preview == "First message."


def test_json_is_compact_and_round_trips() -> None:
    data = load("nested_rfc822.eml")
    msg = parse(data)
    cached = msg.to_json()
    assert cached == json.dumps(json.loads(cached), ensure_ascii=False, separators=(",", ":")).encode()
    assert ParsedMessage.from_json(cached) == msg
    without_text = ParsedMessage.from_json(msg.to_json(with_text=False))
    assert without_text.body_text == ""
    assert without_text.root == msg.root
    with pytest.raises(ValueError, match="version"):
        ParsedMessage.from_json(b'{"v":99}')
    with pytest.raises(ValueError, match="malformed parse cache"):
        ParsedMessage.from_json(b"not json")
    with pytest.raises(ValueError, match="malformed parse cache"):
        ParsedMessage.from_json(b'{"v":1}')
    for bad in (b'{"v":99}', b"not json", b'{"v":1}', b'{"v":1,"parts":[]}'):
        with pytest.raises(ValueError, match="parse cache"):
            envelope_from_json(bad)
        with pytest.raises(ValueError, match="parse cache"):
            root_offsets_from_json(bad)


def test_line_counts_are_line_ends_as_dovecot_counts() -> None:
    """body-fld-lines counts line ends: the last line of a part, whose CRLF belongs to the
    delimiter (RFC 2046 §5.1.1), is not counted; nor is an unterminated last line of a message."""
    data = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\ntwo\r\n--b\r\n\r\n"
        b"three\r\n\r\n--b--\r\n"
    )
    msg = parse(data)
    first, second = msg.root.children
    assert (first.lines, second.lines) == (1, 1)
    assert parse(b"Subject: x\r\n\r\na\r\nb").root.lines == 1
    assert parse(b"Subject: x\r\n\r\na\r\nb\r\n").root.lines == 2


def test_text_part_without_charset_gets_us_ascii_beside_its_other_parameters() -> None:
    # RFC 2046 §4.1.2: the default charset is US-ASCII, whatever other parameters there are.
    msg = parse(b"Content-Type: text/plain; name=a.txt\r\n\r\nbody\r\n")
    assert msg.root.params == (("name", "a.txt"), ("charset", "us-ascii"))
    assert parse(b"Content-Type: text/plain; charset=utf-8\r\n\r\n").root.params == (("charset", "utf-8"),)


def test_root_offsets_are_found_whatever_the_header_says() -> None:
    """``root_offsets_from_json`` reads the root's row out of the compact JSON: a header value that
    looks like that row, or a document written another way (decoded in full), gives the same."""
    data = (
        b'Subject: "parts":[[7,8,9,\r\nX-Parts: \\"parts\\":[[1,2,3,\r\n'
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n"
    )
    msg = parse(data)
    expected = (msg.root.header_start, msg.root.body_start, msg.root.body_end)
    for cached in (msg.to_json(with_text=False), json.dumps(json.loads(msg.to_json()), indent=1).encode()):
        offsets = root_offsets_from_json(cached)
        assert (offsets.header_start, offsets.body_start, offsets.body_end) == expected
