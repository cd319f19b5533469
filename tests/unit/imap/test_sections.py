"""FETCH body sections (pochta.proto.imap.sections): RFC 9051 §6.4.5/§6.4.5.1, RFC 3516, RFC 3501."""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.proto.imap.fetch import FetchAtt, Section, fetch_att
from pochta.proto.imap.sections import (
    Built,
    Extent,
    SectionError,
    SectionPlan,
    apply_partial,
    decode_binary,
    find_part,
    finish,
    finish_size,
    has_nul,
    header_fields,
    locate,
    plan,
)
from pochta.proto.imap.wire import Assembled, Cursor

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "mime"
CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))
# Well-formed MIME in the corpus, for comparisons with Python's email package.
WELL_FORMED = [
    "8bit_headers.eml",
    "alternative_related.eml",
    "digest.eml",
    "encoded_words.eml",
    "nested_rfc822.eml",
    "rfc2231_attachments.eml",
]


def load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def parse(data: bytes, **limits: int) -> ParsedMessage:
    """Parse as delivery does, and back through the store's cache form."""
    parsed = parse_message(data, MimeSettings(**limits))
    return ParsedMessage.from_json(parsed.to_json(with_text=False))


def att(text: str) -> FetchAtt:
    return fetch_att(Cursor(Assembled([text.encode("ascii")])))


class Blob:
    """The caller's side: reads byte ranges of the message and records them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read(self, start: int, end: int) -> bytes:
        self.reads.append((start, end))
        return self.data[start:end]


def fetch(data: bytes, item: str, parsed: ParsedMessage | None = None) -> tuple[str, bytes | int | None]:
    """Run one FETCH item the way the handler does: plan, then stream, or read and finish."""
    parsed = parsed or parse(data)
    p = plan(parsed.root, parsed.size, att(item))
    blob = Blob(data)
    if p.kind == "BINARY.SIZE":
        if p.size is not None:
            return p.name, p.size
        assert p.read is not None
        return p.name, finish_size(p, blob.read(p.read.start, p.read.end))
    if p.extent is None:
        return p.name, None
    if p.stream is not None:
        return p.name, blob.read(p.stream.start, p.stream.end)
    assert p.read is not None
    return p.name, finish(p, blob.read(p.read.start, p.read.end)).data


def value(data: bytes, item: str) -> bytes | None:
    result = fetch(data, item)[1]
    assert not isinstance(result, int)
    return result


def email_part(msg: Message, numbers: tuple[int, ...]) -> Message | None:
    """Python's email package walked by IMAP part numbers (RFC 9051 §6.4.5.1)."""
    part = msg
    in_message = True
    for number in numbers:
        if not in_message and part.get_content_type() in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            assert isinstance(inner, list)
            assert isinstance(inner[0], Message)
            part, in_message = inner[0], True
        if part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            if number > len(children):
                return None
            child = children[number - 1]
            assert isinstance(child, Message)
            part = child
        elif not (in_message and number == 1):
            return None
        in_message = False
    return part


# --- whole message, HEADER, TEXT, RFC822.* ------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_whole_header_text(name: str) -> None:
    data = load(name)
    parsed = parse(data)
    body_start = parsed.root.body_start
    assert value(data, "BODY[]") == data
    assert value(data, "BODY[HEADER]") == data[:body_start]
    assert value(data, "BODY[TEXT]") == data[body_start:]
    assert value(data, "BODY[HEADER]") + value(data, "BODY[TEXT]") == data  # type: ignore[operator]
    # RFC 3501 §6.4.5: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT].
    assert fetch(data, "RFC822") == ("RFC822", data)
    assert fetch(data, "RFC822.HEADER") == ("RFC822.HEADER", data[:body_start])
    assert fetch(data, "RFC822.TEXT") == ("RFC822.TEXT", data[body_start:])


def test_header_includes_blank_line() -> None:
    data = load("alternative_related.eml")
    header = value(data, "BODY[HEADER]")
    assert header is not None
    assert header.endswith(b'boundary="alt-boundary"\r\n\r\n')
    assert header.count(b"\r\n\r\n") == 1
    text = value(data, "BODY.PEEK[TEXT]")
    assert text is not None
    assert text.startswith(b"This is a multi-part message")


def test_header_of_message_without_body_has_no_blank_line() -> None:
    data = load("no_body.eml")
    assert value(data, "BODY[HEADER]") == data
    assert value(data, "BODY[TEXT]") == b""
    # RFC 9051 §6.4.5.1: no blank line is added to a message that has no body and no blank line.
    assert (
        value(data, "BODY[HEADER.FIELDS (Subject)]") == b"Subject: headers only, no blank line, no body\r\n"
    )


def test_empty_body() -> None:
    data = load("empty_body.eml")
    assert value(data, "BODY[TEXT]") == b""
    assert value(data, "BODY[1]") == b""
    assert value(data, "BODY[HEADER.FIELDS (FROM)]") == b"From: a@example.org\r\n\r\n"


# --- HEADER.FIELDS ------------------------------------------------------------------------------------


def test_header_fields_rfc_example_date_from() -> None:
    # RFC 9051 §6.4.5 example: FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])
    data = load("alternative_related.eml")
    name, result = fetch(data, "BODY[HEADER.FIELDS (DATE FROM)]")
    assert name == "BODY[HEADER.FIELDS (DATE FROM)]"
    msg = email.message_from_bytes(data)
    expected = b"".join(
        f"{key}: {val}\r\n".encode() for key, val in msg.items() if key.lower() in ("date", "from")
    )
    assert result == expected + b"\r\n"


@pytest.mark.parametrize("name", WELL_FORMED)
def test_header_fields_names_match_email_package(name: str) -> None:
    data = load(name)
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    wanted = [b"subject", b"FROM", b"Message-Id", b"X-Nope"]
    subset = value(data, "BODY[HEADER.FIELDS (subject FROM Message-Id X-Nope)]")
    rest = value(data, "BODY[HEADER.FIELDS.NOT (subject FROM Message-Id X-Nope)]")
    assert subset is not None
    assert rest is not None
    lowered = {w.lower().decode() for w in wanted}
    names = [line.split(b":")[0].decode() for line in subset.split(b"\r\n") if line and line[0] not in b" \t"]
    assert names == [key for key in msg if key.lower() in lowered]
    names = [line.split(b":")[0].decode() for line in rest.split(b"\r\n") if line and line[0] not in b" \t"]
    assert names == [key for key in msg if key.lower() not in lowered]
    assert subset.endswith(b"\r\n\r\n")
    assert rest.endswith(b"\r\n\r\n")


HEADER = (
    b"Received: from a by b;\r\n"
    b"\tMon, 2 Jan 2023 09:00:00 +0000\r\n"
    b"Subject: a folded\r\n"
    b"  subject line\r\n"
    b"X-Other: one\r\n"
    b"received: from c by d; Mon, 2 Jan 2023 09:00:01 +0000\r\n"
    b"Subject : obsolete form\r\n"
    b"To: x@example.org,\r\n"
    b" y@example.org\r\n"
    b"\r\n"
)


def test_header_fields_folded_and_repeated_in_message_order() -> None:
    assert header_fields(HEADER, [b"SUBJECT", b"Received"], negate=False) == (
        b"Received: from a by b;\r\n"
        b"\tMon, 2 Jan 2023 09:00:00 +0000\r\n"
        b"Subject: a folded\r\n"
        b"  subject line\r\n"
        b"received: from c by d; Mon, 2 Jan 2023 09:00:01 +0000\r\n"
        b"Subject : obsolete form\r\n"
        b"\r\n"
    )
    assert header_fields(HEADER, [b"subject", b"received"], negate=True) == (
        b"X-Other: one\r\nTo: x@example.org,\r\n y@example.org\r\n\r\n"
    )


def test_header_fields_absent_names_give_the_blank_line() -> None:
    assert header_fields(HEADER, [b"X-Absent"], negate=False) == b"\r\n"
    assert header_fields(HEADER, [b"X-Absent"], negate=True) == HEADER
    assert header_fields(b"", [b"From"], negate=False) == b""
    assert header_fields(b"\r\n", [b"From"], negate=True) == b"\r\n"


def test_header_fields_exact_names_only() -> None:
    # RFC 9051 §6.4.5.1: case-insensitive but otherwise exact: no prefix matching.
    assert header_fields(HEADER, [b"Subj", b"X-Other-Thing", b"Receive"], negate=False) == b"\r\n"
    assert header_fields(b"X-\xc3\xa4: 8bit name\r\n\r\n", [b"x-\xc3\xa4"], negate=False) == (
        b"X-\xc3\xa4: 8bit name\r\n\r\n"
    )


def test_header_fields_stray_lines() -> None:
    header = b"From x@y Mon Jan  2 12:00:00 2023\r\nSubject: s\r\nnot a field line\r\nTo: t\r\n\r\n"
    # An mbox From line is no field of either subset; an unindented line continues its field.
    assert header_fields(header, [b"subject"], negate=False) == b"Subject: s\r\nnot a field line\r\n\r\n"
    assert header_fields(header, [b"subject"], negate=True) == b"To: t\r\n\r\n"


def test_header_fields_without_final_line_end() -> None:
    assert header_fields(b"A: 1\r\nB: 2", [b"b"], negate=False) == b"B: 2"
    assert header_fields(b"A: 1\nB: 2\n\n", [b"a"], negate=False) == b"A: 1\n\n"  # bare LF kept


@given(st.sets(st.sampled_from([b"received", b"SUBJECT", b"x-other", b"To", b"cc"]), min_size=1))
def test_header_fields_and_not_partition_the_header(names: set[bytes]) -> None:
    chosen = sorted(names)
    subset = header_fields(HEADER, chosen, negate=False)
    rest = header_fields(HEADER, chosen, negate=True)
    assert len(subset) + len(rest) == len(HEADER) + 2  # both carry the blank line
    lines = HEADER.splitlines(keepends=True)
    assert sorted(subset.splitlines(keepends=True)[:-1] + rest.splitlines(keepends=True)[:-1]) == sorted(
        lines[:-1]
    )


def test_header_fields_plan_reads_only_the_header() -> None:
    data = load("rfc2231_attachments.eml")
    parsed = parse(data)
    p = plan(parsed.root, parsed.size, att("BODY.PEEK[HEADER.FIELDS (Subject)]<3.5>"))
    assert p.stream is None
    assert p.read == Extent(0, parsed.root.body_start)
    assert p.read.length < len(data) // 2
    assert p.name == "BODY[HEADER.FIELDS (Subject)]<3>"
    built = finish(p, data[: parsed.root.body_start])
    # RFC 9051 §6.4.5: the partial of HEADER.FIELDS is taken after subsetting.
    assert built == Built(b"ject:")


# --- part numbers -------------------------------------------------------------------------------------


def test_part_1_of_a_single_part_message_is_its_body() -> None:
    # RFC 9051 §6.4.5.1: "Every message has at least one part number."
    data = load("8bit_headers.eml")
    parsed = parse(data)
    assert value(data, "BODY[1]") == data[parsed.root.body_start :]
    assert value(data, "BODY[1]") == value(data, "BODY[TEXT]")
    assert value(data, "BODY[1.MIME]") == data[: parsed.root.body_start]
    assert value(data, "BODY[2]") is None
    assert value(data, "BODY[1.1]") is None
    assert value(data, "BODY[1.HEADER]") is None  # part 1 is not message/rfc822
    assert value(data, "BODY[1.TEXT]") is None


def test_multipart_parts_and_mime_headers() -> None:
    data = load("alternative_related.eml")
    assert value(data, "BODY[1]") == (
        b"Hello Bob,\r\nthe report is attached. Caf=C3=A9 prices went=\r\n up."
    )  # RFC 2046 §5.1.1: the CRLF before the delimiter belongs to the delimiter
    assert value(data, "BODY[1.MIME]") == (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    related = value(data, "BODY[2]")
    assert related is not None
    assert related.startswith(b"--rel-boundary\r\nContent-Type: text/html")
    assert related.endswith(b"--rel-boundary--\r\n")
    image = value(data, "BODY[2.2]")
    assert image is not None
    assert image.startswith(b"iVBORw0KGgo")
    assert image.endswith(b"ErkJggg==")
    assert value(data, "BODY[2.2.MIME]").startswith(b"Content-Type: image/png")  # type: ignore[union-attr]
    for missing in ("BODY[3]", "BODY[2.3]", "BODY[1.1]", "BODY[2.2.1]", "BODY[2.HEADER]", "BODY[2.TEXT]",
                    "BODY[3.MIME]", "BODY[2.1.HEADER.FIELDS (From)]"):  # fmt: skip
        assert fetch(data, missing)[1] is None, missing


def test_mime_header_of_part_matches_email_package() -> None:
    data = load("rfc2231_attachments.eml")
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for number in range(1, 5):
        part = email_part(msg, (number,))
        assert part is not None
        mime = value(data, f"BODY[{number}.MIME]")
        assert mime is not None
        assert mime.endswith(b"\r\n\r\n")
        names = [ln.split(b":")[0].decode() for ln in mime.split(b"\r\n") if ln and ln[0] not in b" \t"]
        assert names == part.keys()


def test_nested_message_rfc822_two_levels() -> None:
    data = load("nested_rfc822.eml")
    parsed = parse(data)
    assert find_part(parsed.root, (2,)).media_type == "message/rfc822"  # type: ignore[union-attr]
    middle = value(data, "BODY[2]")
    assert middle is not None
    assert middle.startswith(b"From: Middle <middle@example.org>\r\n")
    assert middle.endswith(b"--middle--\r\n")
    # BODY[2] is the whole encapsulated message: its HEADER and TEXT.
    assert middle == value(data, "BODY[2.HEADER]") + value(data, "BODY[2.TEXT]")  # type: ignore[operator]
    assert value(data, "BODY[2.MIME]") == (
        b"Content-Type: message/rfc822\r\nContent-Description: forwarded message\r\n\r\n"
    )
    assert value(data, "BODY[2.HEADER.FIELDS (subject)]") == b"Subject: Fwd: original\r\n\r\n"
    assert value(data, "BODY[2.1]") == b"Forwarding the original."
    assert value(data, "BODY[2.1.MIME]") == b"Content-Type: text/plain\r\n\r\n"
    assert value(data, "BODY[2.2.MIME]") == b"Content-Type: message/rfc822\r\n\r\n"
    inner = value(data, "BODY[2.2]")
    assert inner is not None
    assert inner.startswith(b"From: Inner <inner@example.org>\r\n")
    assert inner.endswith(b"The innermost body.")
    assert value(data, "BODY[2.2.HEADER.FIELDS (Subject Message-ID)]") == (
        b"Subject: original\r\nMessage-ID: <inner@example.org>\r\n\r\n"
    )
    assert value(data, "BODY[2.2.TEXT]") == b"The innermost body."
    # The innermost message is not multipart: 2.2.1 is its body, and it has no 2.2.2 or 2.2.1.1.
    assert value(data, "BODY[2.2.1]") == b"The innermost body."
    assert value(data, "BODY[2.2.1.MIME]") == value(data, "BODY[2.2.HEADER]")
    for missing in ("BODY[2.2.2]", "BODY[2.2.1.1]", "BODY[2.3]", "BODY[2.1.TEXT]", "BODY[1.HEADER]"):
        assert fetch(data, missing)[1] is None, missing
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    inner_msg = email_part(msg, (2, 2, 1))
    assert inner_msg is not None
    assert inner_msg.get_payload(decode=True) == b"The innermost body."


def test_digest_parts_are_messages() -> None:
    data = load("digest.eml")
    assert value(data, "BODY[1.MIME]") == b"\r\n"  # RFC 2046 §5.1.5: default message/rfc822
    assert value(data, "BODY[1.HEADER]") == b"From: one@example.org\r\nSubject: first\r\n\r\n"
    assert value(data, "BODY[1.TEXT]") == b"First message."
    assert value(data, "BODY[1.1]") == b"First message."
    assert value(data, "BODY[2.HEADER.FIELDS.NOT (From Subject)]") == (
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    assert value(data, "BODY[3]") == b"Explicit text part inside a digest."
    assert value(data, "BODY[3.HEADER]") is None


def test_lf_only_message_offsets() -> None:
    data = load("lf_only.eml")
    assert value(data, "BODY[1]") == b"first part\nwith two lines"
    assert value(data, "BODY[2.MIME]") == b"Content-Type: text/plain; charset=utf-8\n\n"
    assert value(data, "BODY[HEADER.FIELDS (Subject)]") == b"Subject: LF only line ends\n\n"


def test_opaque_parts_have_no_children() -> None:
    data = load("nested_rfc822.eml")
    parsed = parse(data, max_depth=2)  # the message and its parts: part 2 cannot open
    message = find_part(parsed.root, (2,))
    assert message is not None
    assert message.opaque
    assert fetch(data, "BODY[2]", parsed)[1] == value(data, "BODY[2]")
    for missing in ("BODY[2.1]", "BODY[2.HEADER]", "BODY[2.TEXT]"):
        assert fetch(data, missing, parsed)[1] is None
    # BINARY of an opaque part: a leaf, decoded per its (identity) encoding.
    assert fetch(data, "BINARY[2]", parsed)[1] == value(data, "BODY[2]")


def build_rfc9051_example() -> bytes:
    """The complex message of RFC 9051 §6.4.5.1 (HEADER, TEXT, 1 ... 4.2.2.2)."""

    def multipart(boundary: str, *parts: bytes, subtype: str = "mixed") -> bytes:
        head = f"Content-Type: multipart/{subtype}; boundary={boundary}\r\n\r\n".encode()
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        return head + body + b"--" + boundary.encode() + b"--\r\n"

    def leaf(media: str, text: str) -> bytes:
        return f"Content-Type: {media}\r\n\r\n{text}".encode()

    def message(subject: str, content: bytes) -> bytes:
        return b"Content-Type: message/rfc822\r\n\r\n" + f"Subject: {subject}\r\n".encode() + content

    return b"Subject: top\r\n" + multipart(
        "b0",
        leaf("text/plain", "part 1"),
        leaf("application/octet-stream", "part 2"),
        message("three", multipart("b3", leaf("text/plain", "3.1"), leaf("application/octet-stream", "3.2"))),
        multipart(
            "b4",
            leaf("image/gif", "4.1"),
            message(
                "four-two",
                multipart(
                    "b42",
                    leaf("text/plain", "4.2.1"),
                    multipart("b422", leaf("text/plain", "4.2.2.1"), leaf("text/richtext", "4.2.2.2"),
                              subtype="alternative"),
                ),
            ),
        ),
    )  # fmt: skip


def test_rfc9051_section_example() -> None:
    data = build_rfc9051_example()
    parsed = parse(data)
    assert parsed.defects == ()
    types = {
        (): "multipart/mixed", (1,): "text/plain", (2,): "application/octet-stream",
        (3,): "message/rfc822", (3, 1): "text/plain", (3, 2): "application/octet-stream",
        (4,): "multipart/mixed", (4, 1): "image/gif", (4, 2): "message/rfc822", (4, 2, 1): "text/plain",
        (4, 2, 2): "multipart/alternative", (4, 2, 2, 1): "text/plain", (4, 2, 2, 2): "text/richtext",
    }  # fmt: skip
    for numbers, media in types.items():
        assert find_part(parsed.root, numbers).media_type == media, numbers  # type: ignore[union-attr]
    for leaf in ("1", "2", "3.1", "3.2", "4.1", "4.2.1", "4.2.2.1", "4.2.2.2"):
        expected = {"1": b"part 1", "2": b"part 2"}.get(leaf, leaf.encode())
        assert value(data, f"BODY[{leaf}]") == expected
    assert (
        value(data, "BODY[3.HEADER]")
        == b"Subject: three\r\nContent-Type: multipart/mixed; boundary=b3\r\n\r\n"
    )
    assert value(data, "BODY[3.TEXT]").startswith(b"--b3\r\n")  # type: ignore[union-attr]
    assert value(data, "BODY[4.1.MIME]") == b"Content-Type: image/gif\r\n\r\n"
    assert value(data, "BODY[4.2.HEADER.FIELDS (SUBJECT)]") == b"Subject: four-two\r\n\r\n"
    assert value(data, "BODY[4.2.TEXT]").endswith(b"--b42--\r\n")  # type: ignore[union-attr]
    assert value(data, "BODY[4.HEADER]") is None  # 4 is multipart, not a message
    assert value(data, "BODY[4.2.2.2.1]") is None


def test_find_part_agrees_with_parsed_message_sections() -> None:
    for name in CORPUS_FILES:
        parsed = parse(load(name))
        assert find_part(parsed.root, ()) is parsed.root
        assert find_part(parsed.root, (0,)) is None
        for numbers, part in parsed.sections():
            assert find_part(parsed.root, numbers) is part
            assert find_part(parsed.root, numbers) is parsed.section(numbers)


def test_locate_matches_parsed_message_byte_range() -> None:
    for name in CORPUS_FILES:
        data = load(name)
        parsed = parse(data)
        specs = [(), *(numbers for numbers, _ in parsed.sections())]
        for numbers in specs:
            for text in (None, "HEADER", "TEXT", "MIME"):
                if text == "MIME" and not numbers:
                    continue
                found = locate(parsed.root, parsed.size, Section(numbers, text))
                expected = parsed.byte_range(numbers, text or "")
                assert (None if found is None else (found.start, found.end)) == expected, (
                    name,
                    numbers,
                    text,
                )


corpus_sections = [(name, numbers) for name in CORPUS_FILES for numbers, _ in parse(load(name)).sections()]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(corpus_sections), st.sampled_from([None, "HEADER", "TEXT"]))
def test_extents_are_in_bounds_and_ordered(case: tuple[str, tuple[int, ...]], text: str | None) -> None:
    name, numbers = case
    data = load(name)
    parsed = parse(data)
    size = parsed.size
    mime = locate(parsed.root, size, Section(numbers, "MIME"))
    body = locate(parsed.root, size, Section(numbers))
    assert mime is not None
    assert body is not None
    assert 0 <= mime.start <= mime.end == body.start <= body.end <= size
    other = locate(parsed.root, size, Section(numbers, text))
    if other is not None:
        assert 0 <= other.start <= other.end <= size
        assert body.start <= other.start <= other.end <= body.end  # within the encapsulated message
    top = locate(parsed.root, size, Section((), text))
    assert top is not None
    assert 0 <= top.start <= top.end <= size


# --- partial ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "partial", "expected"),
    [
        (100, None, (0, 100)),
        (100, (0, 10), (0, 10)),
        (100, (95, 10), (95, 5)),  # count clipped
        (100, (100, 1), (100, 0)),  # start at the end: empty
        (100, (1000, 5), (100, 0)),  # start beyond the end: empty
        (0, (0, 5), (0, 0)),
        (1500, (0, 2048), (0, 1500)),  # RFC 9051 §6.4.5 note
    ],
)
def test_apply_partial(length: int, partial: tuple[int, int] | None, expected: tuple[int, int]) -> None:
    assert apply_partial(length, partial) == expected


def test_partial_body_streams_a_sub_extent() -> None:
    data = load("alternative_related.eml")
    parsed = parse(data)
    # RFC 9051 §6.4.5: BODY[]<0.2048> of a shorter message is BODY[]<0> with all of it.
    assert fetch(data, "BODY[]<0.100000>") == ("BODY[]<0>", data)
    assert fetch(data, "BODY[]<5.10>") == ("BODY[]<5>", data[5:15])
    assert fetch(data, f"BODY[]<{len(data)}.10>") == (f"BODY[]<{len(data)}>", b"")
    assert fetch(data, "BODY[]<99999999.10>") == ("BODY[]<99999999>", b"")
    p = plan(parsed.root, parsed.size, att("BODY.PEEK[1]<6.3>"))
    part = find_part(parsed.root, (1,))
    assert part is not None
    assert p.stream == Extent(part.body_start + 6, part.body_start + 9)
    assert p.read is None
    assert p.binary is False
    assert fetch(data, "BODY[1]<6.3>") == ("BODY[1]<6>", b"Bob")
    assert fetch(data, "BODY[1]<55.1000>") == ("BODY[1]<55>", b"nt=\r\n up.")
    assert fetch(data, "BODY[HEADER.FIELDS (Subject)]<0.4>") == ("BODY[HEADER.FIELDS (Subject)]<0>", b"Subj")
    assert fetch(data, "BODY[HEADER.FIELDS (Subject)]<1000.4>")[1] == b""


# --- BINARY -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WELL_FORMED)
def test_binary_of_every_leaf_matches_email_package(name: str) -> None:
    data = load(name)
    parsed = parse(data)
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    leaves = [n for n, part in parsed.sections() if not part.children and part.message is None]
    assert leaves
    for numbers in leaves:
        section = ".".join(map(str, numbers))
        ref = email_part(msg, numbers)
        assert ref is not None
        decoded = fetch(data, f"BINARY[{section}]", parsed)[1]
        payload = ref.get_payload(decode=True)
        assert isinstance(payload, bytes)
        assert isinstance(decoded, bytes)
        if ref.get("Content-Transfer-Encoding", "7bit").lower() not in ("base64", "quoted-printable"):
            # email may hand identity-encoded payloads back with their line ends changed
            assert decoded.replace(b"\r\n", b"\n") == payload.replace(b"\r\n", b"\n"), (name, numbers)
        else:
            assert decoded == payload, (name, numbers)
        assert fetch(data, f"BINARY.SIZE[{section}]", parsed)[1] == len(decoded)


def test_binary_quoted_printable_soft_line_break() -> None:
    data = load("alternative_related.eml")
    decoded = "Hello Bob,\r\nthe report is attached. Café prices went up.".encode()
    assert fetch(data, "BINARY[1]") == ("BINARY[1]", decoded)
    assert len(decoded) == 57
    assert fetch(data, "BINARY.SIZE[1]") == ("BINARY.SIZE[1]", 57)
    # RFC 3516 §4.2: the partial counts octets of the decoded data.
    assert fetch(data, "BINARY.PEEK[1]<36.6>") == ("BINARY[1]<36>", "Café ".encode())


def test_binary_base64_with_nul_is_literal8() -> None:
    data = load("rfc2231_attachments.eml")
    parsed = parse(data)
    p = plan(parsed.root, parsed.size, att("BINARY[4]"))
    assert p.encoding == "base64"
    assert p.stream is None
    assert p.read == Extent(find_part(parsed.root, (4,)).body_start, find_part(parsed.root, (4,)).body_end)  # type: ignore[union-attr]
    built = finish(p, data[p.read.start : p.read.end])
    assert built == Built(bytes(range(6)), binary=True)  # RFC 3516 §4.3: NUL needs literal8
    partial = plan(parsed.root, parsed.size, att("BINARY[4]<1.3>"))
    assert finish(partial, data[p.read.start : p.read.end]) == Built(b"\x01\x02\x03", binary=False)
    assert fetch(data, "BINARY[2]")[1] == base64.b64decode(b"JVBERi0xLjQKJcOkw7w=")
    assert fetch(data, "BINARY.SIZE[4]") == ("BINARY.SIZE[4]", 6)
    size_plan = plan(parsed.root, parsed.size, att("BINARY.SIZE[4]"))
    assert size_plan.size is None
    assert size_plan.read == p.read


def test_binary_of_identity_encodings_streams() -> None:
    data = load("8bit_headers.eml")
    parsed = parse(data)
    p = plan(parsed.root, parsed.size, att("BINARY[1]<2.4>"))
    assert p.stream == Extent(parsed.root.body_start + 2, parsed.root.body_start + 6)
    assert p.binary is None  # literal8 only when NUL is in it (RFC 3516 §4.3)
    blob = Blob(data)
    assert has_nul(blob.read, p.stream) is False
    size_plan = plan(parsed.root, parsed.size, att("BINARY.SIZE[1]"))
    assert size_plan.size == parsed.root.size
    assert size_plan.read is None
    binary = b"Content-Transfer-Encoding: binary\r\n\r\n\x00\x01 raw"
    bp = parse(binary)
    p = plan(bp.root, bp.size, att("BINARY[1]"))
    assert p.binary is True
    assert p.stream == Extent(bp.root.body_start, bp.size)


def test_binary_empty_section_is_the_message() -> None:
    data = load("rfc2231_attachments.eml")
    parsed = parse(data)
    p = plan(parsed.root, parsed.size, att("BINARY[]"))
    assert p.stream == Extent(0, len(data))
    assert p.binary is None
    assert fetch(data, "BINARY.PEEK[]<0.4>") == ("BINARY[]<0>", b"From")
    assert fetch(data, "BINARY.SIZE[]") == ("BINARY.SIZE[]", len(data))


def test_binary_of_a_multipart_is_refused() -> None:
    # RFC 9051 §6.4.5: BINARY and BINARY.SIZE are for leaf parts; a multipart has no encoding to remove.
    data = load("alternative_related.eml")
    for item in ("BINARY[2]", "BINARY.SIZE[2]"):
        with pytest.raises(SectionError) as caught:
            fetch(data, item)
        assert caught.value.code is None
    data = load("nested_rfc822.eml")
    assert fetch(data, "BINARY[2.2.1]")[1] == b"The innermost body."


@pytest.mark.parametrize(("name", "section"), [("nested_rfc822.eml", "2"), ("nested_rfc822.eml", "2.2"),
                                               ("digest.eml", "1")])  # fmt: skip
def test_binary_of_a_message_part_is_the_encapsulated_message(name: str, section: str) -> None:
    # Answered although RFC 9051 §6.4.5 asks clients not to (RFC 3516 §4.2 does not; as Dovecot):
    # the message/rfc822 body, which its 7bit/8bit encoding leaves as it is.
    data = load(name)
    body = fetch(data, f"BODY[{section}]")[1]
    assert isinstance(body, bytes)
    assert body.startswith(b"From: ")
    assert fetch(data, f"BINARY[{section}]") == (f"BINARY[{section}]", body)
    assert fetch(data, f"BINARY.SIZE[{section}]") == (f"BINARY.SIZE[{section}]", len(body))


def test_binary_of_missing_part() -> None:
    data = load("alternative_related.eml")
    assert fetch(data, "BINARY[9]") == ("BINARY[9]", None)
    assert fetch(data, "BINARY[1.1]<0.5>") == ("BINARY[1.1]<0>", None)
    assert fetch(data, "BINARY.SIZE[9]") == ("BINARY.SIZE[9]", 0)


def test_binary_unknown_cte() -> None:
    data = (
        b"Subject: uu\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 f\r\n#86)C\r\n`\r\nend\r\n--b--\r\n"
    )
    for item in ("BINARY[1]", "BINARY.PEEK[1]<0.2>", "BINARY.SIZE[1]"):
        with pytest.raises(SectionError) as caught:
            fetch(data, item)
        assert caught.value.code == "UNKNOWN-CTE"  # RFC 3516 §4.3
    # BODY is not decoded, whatever the encoding.
    assert value(data, "BODY[1]") == b"begin 644 f\r\n#86)C\r\n`\r\nend"
    with pytest.raises(SectionError) as caught:
        decode_binary(b"x", "x-rot13")
    assert caught.value.code == "UNKNOWN-CTE"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"QUJD\r\nREVG\r\n", b"ABCDEF"),  # line breaks
        (b" QU JD\tRE VG ", b"ABCDEF"),  # whitespace anywhere
        (b"QU*J!D.RE~VG", b"ABCDEF"),  # RFC 2045 §6.8: other octets are ignored
        (b"QUJDRA", b"ABCD"),  # missing padding
        (b"QUJDR", b"ABC"),  # a dangling sextet is dropped
        (b"QQ==QkM=", b"A"),  # "=" ends the data
        (b"", b""),
        (base64.encodebytes(bytes(range(256)) * 4), bytes(range(256)) * 4),
    ],
)
def test_decode_base64(body: bytes, expected: bytes) -> None:
    assert decode_binary(body, "base64") == expected
    assert decode_binary(body, "BASE64") == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"soft=\r\nbreak", b"softbreak"),  # RFC 2045 §6.7 rule 5
        (b"soft=\nbreak", b"softbreak"),
        (b"soft=  \r\nbreak", b"softbreak"),  # transport padding after the "="
        (b"hard \t\r\nbreak  ", b"hard\r\nbreak"),  # rule 3: trailing whitespace deleted
        (b"caf=C3=A9 =3D x", "café = x".encode()),
        (b"lower=c3=a9", "loweré".encode()),
        (b"bad=ZZ=4", b"bad=ZZ=4"),  # malformed sequences kept
        (b"  \r\n", b"\r\n"),
    ],
)
def test_decode_quoted_printable(body: bytes, expected: bytes) -> None:
    assert decode_binary(body, "quoted-printable") == expected
    assert decode_binary(body, "Quoted-Printable") == expected


def test_decode_quoted_printable_long_blank_run_is_linear() -> None:
    assert decode_binary(b" " * 1_000_000 + b"x", "quoted-printable") == b" " * 1_000_000 + b"x"


@pytest.mark.parametrize("encoding", ["7bit", "8bit", "binary"])
def test_identity_encodings(encoding: str) -> None:
    assert decode_binary(b"a\x00b\r\n=41", encoding) == b"a\x00b\r\n=41"


def test_has_nul_reads_in_chunks() -> None:
    data = b"x" * 100 + b"\x00" + b"y" * 100
    blob = Blob(data)
    assert has_nul(blob.read, Extent(0, len(data)), chunk=10)
    assert all(end - start <= 10 for start, end in blob.reads)
    assert not has_nul(blob.read, Extent(101, len(data)), chunk=10)
    assert not has_nul(blob.read, Extent(5, 5))


def test_finish_body_is_never_binary() -> None:
    p = SectionPlan("BODY[HEADER.FIELDS (A)]", "BODY", Extent(0, 8), fields=(b"a",))
    assert finish(p, b"A: \x00\r\n\r\n") == Built(b"A: \x00\r\n\r\n", binary=False)


def test_plan_needs_a_section() -> None:
    with pytest.raises(ValueError, match="no section"):
        plan(parse(b"\r\n").root, 2, FetchAtt("FLAGS"))
