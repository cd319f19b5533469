"""ENVELOPE and BODY/BODYSTRUCTURE wire forms against the RFC 3501 / RFC 9051 examples."""

from __future__ import annotations

import re

from mime_helpers import body, parse, read_imap

from pochta.mime import Envelope, Part
from pochta.mime.envelope import Address
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes, nstring, string, wire_forms
from pochta.proto.imap import wire
from pochta.proto.imap.wire import MAX_QUOTED


def _join(text: str) -> bytes:
    """An RFC example spread over lines -> the single line a server sends: line breaks are
    spaces, except between siblings of one list (")" then "(" not followed by another "(")."""
    siblings = re.sub(r"\)\s*\n\s*\((?!\()", ")(", text.strip())
    return re.sub(r"\s*\n\s*", " ", siblings).encode()


# RFC 3501 §8 sample: a003 FETCH 12 FULL (header of BODY[HEADER], 342 octets).
RFC3501_HEADER = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b"cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
)

RFC3501_ENVELOPE = """("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"
      "IMAP4rev1 WG mtg summary and minutes"
      (("Terry Gray" NIL "gray" "cac.washington.edu"))
      (("Terry Gray" NIL "gray" "cac.washington.edu"))
      (("Terry Gray" NIL "gray" "cac.washington.edu"))
      ((NIL NIL "imap" "cac.washington.edu"))
      ((NIL NIL "minutes" "CNRI.Reston.VA.US")
      ("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL
      "<B27397-0100000@cac.washington.edu>")"""


def _text_body(octets: int, lines: int) -> bytes:
    """A body of exactly ``octets`` octets in ``lines`` CRLF-terminated lines."""
    width = octets // lines - 2
    rows = [b"x" * width for _ in range(lines)]
    rows[-1] += b"y" * (octets - lines * (width + 2))
    return b"".join(row + b"\r\n" for row in rows)


def test_rfc3501_fetch_full_example() -> None:
    data = RFC3501_HEADER + _text_body(3028, 92)
    msg = parse(data)
    assert msg.header_size == 342
    assert envelope_bytes(msg.envelope) == _join(RFC3501_ENVELOPE)
    assert (
        bodystructure_bytes(msg.root, False)
        == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
    )
    assert bodystructure_bytes(msg.root, True) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)'
    )


def test_rfc9051_multipart_bodystructure_example() -> None:
    # RFC 9051 §7.5.2: "a two-part message consisting of a text and a base64-encoded text attachment"
    text = _text_body(1152, 23)
    diff = _text_body(4554, 73)
    data = (
        b"From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: MULTIPART/MIXED; BOUNDARY=b\r\n\r\n"
        b"--b\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" + text + b"\r\n"
        b"--b\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
        b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        b"Content-Description: Compiler diff\r\n"
        b"Content-Transfer-Encoding: BASE64\r\n\r\n" + diff + b"\r\n--b--\r\n"
    )
    msg = parse(data)
    expected = """(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)
          ("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff")
          "<960723163407.20117h@cac.washington.edu>" "Compiler diff"
          "BASE64" 4554 73) "MIXED")"""
    assert bodystructure_bytes(msg.root, False) == _join(expected)
    assert body(data, msg.section((2,))) == diff
    extended = bodystructure_bytes(msg.root, True)
    assert extended.endswith(b' "MIXED" ("BOUNDARY" "b") NIL NIL NIL)')


def test_rfc3501_example_typical_shapes_read_back() -> None:
    msg = parse(RFC3501_HEADER + b"hello\r\n")
    env = read_imap(envelope_bytes(msg.envelope))
    assert env[0] == "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"
    assert env[6] == [
        [None, None, "minutes", "CNRI.Reston.VA.US"],
        ["John Klensin", None, "KLENSIN", "MIT.EDU"],
    ]
    assert env[7] is None  # Bcc absent -> NIL


def test_strings_quoted_or_literal() -> None:
    assert string("plain") == b'"plain"'
    assert string('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert string("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert string("bare\rcr") == b"{7}\r\nbare\rcr"
    assert string("caf\u00e9") == b"{5}\r\ncaf\xc3\xa9"  # 8-bit: literal
    assert string("caf\u00e9", utf8=True) == b'"caf\xc3\xa9"'  # UTF8=ACCEPT / IMAP4rev2
    assert string("nul\x00byte") == b'"nulbyte"'  # NUL cannot be sent at all
    assert string("x" * MAX_QUOTED) == b'"' + b"x" * MAX_QUOTED + b'"'
    assert string("x" * (MAX_QUOTED + 1)).startswith(b"{%d}\r\n" % (MAX_QUOTED + 1))
    assert string("tab\there") == b'"tab\there"'
    assert nstring(None) == b"NIL"
    assert nstring("") == b'""'


def test_envelope_nil_and_empty_rules() -> None:
    # RFC 9051 §7.5.2: absent Date/Subject/In-Reply-To/Message-ID -> NIL, present but empty -> "".
    msg = parse(b"Subject:\r\nFrom: x@y\r\nTo:\r\nReply-To: \r\n\r\nbody")
    env = read_imap(envelope_bytes(msg.envelope))
    assert env[0] is None
    assert env[1] == ""
    assert env[3] == env[4] == env[2] == [[None, None, "x", "y"]]  # sender/reply-to default to from
    assert env[5] is None  # empty To -> NIL
    assert envelope_bytes(None) == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_envelope_groups_routes_and_invalid_addresses() -> None:
    msg = parse(
        b"From: Joe Q. Public <john.q.public@example.com>\r\n"
        b"To: Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example\r\n"
        b"Cc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;,"
        b" gray@cac.washington.edu (Terry Gray)\r\n"
        b"Bcc: undisclosed-recipients, a@b@c\r\n\r\n"
    )
    env = read_imap(envelope_bytes(msg.envelope))
    assert env[2] == [["Joe Q. Public", None, "john.q.public", "example.com"]]
    assert env[5] == [
        ["Mary Smith", "@node.test", "mary", "example.net"],
        [None, None, "jdoe", "test.example"],
    ]
    assert env[6] == [
        [None, None, "A Group", None],
        ["Ed Jones", None, "c", "a.test"],
        [None, None, "joe", "where.test"],
        ["John", None, "jdoe", "one.test"],
        [None, None, None, None],
        ["Terry Gray", None, "gray", "cac.washington.edu"],  # comment as the name, as Dovecot does
    ]
    assert env[7] == [
        [None, None, "undisclosed-recipients", "MISSING_DOMAIN"],
        [None, None, "a", "b"],  # what a reader sees in a@b@c (address.recover_address)
    ]


def test_envelope_quoted_local_part_stays_quoted() -> None:
    msg = parse(b'From: "john doe"@example.com\r\n\r\n')
    assert msg.envelope.from_ == (Address(None, None, '"john doe"', "example.com"),)


def test_bodystructure_extension_fields() -> None:
    part = Part(
        0, 10, 30, "text", "plain", (("charset", "utf-8"), ("format", "flowed")),
        content_id="<id@x>", description="desc", encoding="quoted-printable", md5="bWQ1",
        disposition="inline", disposition_params=(("filename", "a b.txt"),), language=("en",),
        location="http://x/y", lines=2,
    )  # fmt: skip
    assert bodystructure_bytes(part, True) == (
        b'("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") "<id@x>" "desc" "QUOTED-PRINTABLE" 20 2 '
        b'"bWQ1" ("INLINE" ("FILENAME" "a b.txt")) "en" "http://x/y")'
    )
    image = Part(0, 0, 5, "image", "gif", disposition="attachment", language=("en", "fr"))
    assert (
        bodystructure_bytes(image, True)
        == b'("IMAGE" "GIF" NIL NIL NIL "7BIT" 5 NIL ("ATTACHMENT" NIL) ("en" "fr") NIL)'
    )


def test_opaque_containers_still_render_well_formed() -> None:
    multipart = Part(0, 0, 50, "multipart", "mixed", (("boundary", "x"),), opaque=True)
    assert read_imap(bodystructure_bytes(multipart, False)) == [
        ["TEXT", "PLAIN", ["CHARSET", "US-ASCII"], None, None, "7BIT", 0, 0], "MIXED",
    ]  # fmt: skip
    message = Part(0, 0, 50, "message", "rfc822", lines=3, opaque=True)
    rendered = read_imap(bodystructure_bytes(message, True))
    assert rendered[:7] == ["MESSAGE", "RFC822", None, None, None, "7BIT", 50]
    assert rendered[7] == [None] * 10
    assert rendered[9] == 3


def test_deep_structures_render_without_recursion() -> None:
    envelope = Envelope(None, "deep", (), (), (), (), (), (), None, None)
    part = Part(0, 0, 0, "text", "plain", envelope=envelope)
    for _ in range(5000):  # far beyond Python's recursion limit
        root = Part(0, 0, 0, "multipart", "mixed", children=(part,), envelope=envelope)
        part = Part(0, 0, 0, "message", "rfc822", message=root)
    rendered = bodystructure_bytes(part, True)
    assert rendered.count(b'"RFC822"') == 5000
    assert rendered.count(b"(") == rendered.count(b")")


def test_plain_strings_take_the_short_path_to_the_same_bytes() -> None:
    # string() quotes plain 7-bit values itself; every value must come out as the wire layer's rules say.
    values = ["", "plain", "a b", 'say "hi"', "back\\slash", "tab\there", "x" * MAX_QUOTED,
              "x" * (MAX_QUOTED + 1), "line\r\nbreak", "nul\x00here", "caf\u00e9", "\x7f", "{5}",
              "NIL"]  # fmt: skip
    for value in values:
        data = value.encode("utf-8").replace(b"\x00", b"")
        for utf8 in (False, True):
            assert string(value, utf8=utf8) == wire.string(data, utf8=utf8), value


def test_wire_forms_keep_the_utf8_variants_only_where_they_differ() -> None:
    ascii_message = parse(b"From: a@example.net\r\nSubject: plain\r\n\r\nhi\r\n")
    forms = wire_forms(ascii_message.root)
    assert forms.envelope == envelope_bytes(ascii_message.root.envelope)
    assert forms.body == bodystructure_bytes(ascii_message.root, False)
    assert forms.bodystructure == bodystructure_bytes(ascii_message.root, True)
    assert (forms.envelope_utf8, forms.body_utf8, forms.bodystructure_utf8) == (None, None, None)

    # An 8-bit subject: a literal without UTF-8, a quoted string with it (RFC 6855 §3).
    subject = parse("From: a@example.net\r\nSubject: Grüße\r\n\r\nhi\r\n".encode())
    forms = wire_forms(subject.root)
    assert forms.envelope_utf8 == envelope_bytes(subject.root.envelope, utf8=True) != forms.envelope
    assert b'"Gr\xc3\xbc\xc3\x9fe"' in forms.envelope_utf8
    assert (forms.body_utf8, forms.bodystructure_utf8) == (None, None)

    # A non-ASCII parameter with ASCII headers: RFC 2231 without UTF-8, the value as is with it.
    attachment = parse(
        b"From: a@example.net\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%C3%BCber.pdf\r\n\r\nx\r\n"
    )
    forms = wire_forms(attachment.root)
    assert forms.envelope_utf8 is None
    assert b'"FILENAME*" "utf-8\'\'%C3%BCber.pdf"' in forms.bodystructure
    assert forms.bodystructure_utf8 == bodystructure_bytes(attachment.root, True, utf8=True)
    assert b'"FILENAME" "\xc3\xbcber.pdf"' in forms.bodystructure_utf8
    assert forms.body_utf8 is None  # BODY has no disposition
