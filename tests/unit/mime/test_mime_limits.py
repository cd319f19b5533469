"""Big and hostile messages, generated here rather than committed: 10,000 parts, 200-deep
nesting, a 10 MB attachment, a 1 MB header line, and every limit of MimeSettings.

Timings are measured by bench scripts, not asserted here (DESIGN.md: no timing in tests);
each of these parses in well under a second.
"""

from __future__ import annotations

import base64
import pickle
import random

from mime_helpers import body, check_invariants, mime_header, parse

from pochta.mime import ParsedMessage
from pochta.mime.imapform import bodystructure_bytes


def many_parts(count: int) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + b"--B--\r\n"


def nested_multiparts(depth: int) -> bytes:
    head = [b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"]
    tail = []
    for level in range(depth):
        head.append(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level, level + 1))
        tail.append(b"\r\n--b%d--\r\n" % level)
    head.append(b"--b%d\r\n\r\nleaf\r\n--b%d--" % (depth, depth))
    return b"".join(head) + b"".join(reversed(tail))


def nested_messages(depth: int) -> bytes:
    data = b"Subject: level %d\r\n\r\ninnermost\r\n" % depth
    for level in range(depth - 1, -1, -1):
        data = b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % level + data
    return data


def test_ten_thousand_parts_is_the_cap() -> None:
    # At the cap: 9,999 parts and the message itself are 10,000 parts (RFC-less, as Dovecot).
    data = many_parts(9_999)
    msg = parse(data)
    assert msg.defects == ()
    assert len(msg.root.children) == 9_999
    assert body(data, msg.section((1,))) == b"part 0"
    assert body(data, msg.section((5000,))) == b"part 4999"
    assert body(data, msg.section((9_999,))) == b"part 9998"
    assert mime_header(data, msg.section((9_999,))) == b"Content-Type: text/plain\r\n\r\n"
    assert msg.section((10_000,)) is None
    check_invariants(msg, data)
    assert bodystructure_bytes(msg.root, False).count(b'("TEXT" "PLAIN"') == 9_999


def test_parts_cap_below_at_and_above() -> None:
    below, at, above = many_parts(98), many_parts(99), many_parts(100)
    for data in (below, at):
        msg = parse(data, max_parts=100)
        assert msg.defects == ()
        assert len(msg.root.children) == data.count(b"--B\r\n")
        check_invariants(msg, data)
    msg = parse(above, max_parts=100)
    assert msg.defects == ("parts_limit",)
    assert len(msg.root.children) == 99  # the root counts as a part
    last = msg.section((99,))
    # The last part allowed runs to the end of the multipart: the rest is one leaf, kept whole.
    assert body(above, last) == b"part 98\r\n--B\r\nContent-Type: text/plain\r\n\r\npart 99\r\n--B--\r\n"
    assert msg.section((100,)) is None
    assert "part 99" in msg.body_text  # searchable like the leaf it is
    check_invariants(msg, above)


def test_parts_cap_never_loses_a_byte() -> None:
    data = many_parts(500)
    msg = parse(data, max_parts=100)
    parts = [part for _, part in msg.sections()]
    assert parts[-1].body_end == msg.root.body_end
    covered = b"".join(above[part.header_start : part.body_end] for above in [data] for part in parts)
    for index in range(100, 500):
        assert b"part %d\r\n" % index in covered


def test_container_met_once_the_parts_cap_is_spent_is_an_octet_stream_leaf() -> None:
    nested = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n" + many_parts(3) + b"\r\n--o--\r\n"
    msg = parse(nested, max_parts=2)
    leaf = msg.root.children[0]
    assert leaf.opaque
    assert leaf.media_type == "application/octet-stream"
    assert leaf.param("boundary") == "B"
    assert body(nested, leaf) == nested[nested.index(b"--B\r\n") : nested.index(b"\r\n--o--")]
    structure = bodystructure_bytes(msg.root, True)
    assert b'("APPLICATION" "OCTET-STREAM" ("BOUNDARY" "B") NIL NIL "7BIT"' in structure
    check_invariants(msg, nested)


def test_depth_cap_below_at_and_above() -> None:
    # nested_multiparts(n) has n + 1 multiparts and a text leaf: n + 2 levels.
    for depth in (97, 98):  # 99 and 100 levels: within the cap
        data = nested_multiparts(depth)
        msg = parse(data)
        assert msg.defects == ()
        leaf = msg.section((1,) * (depth + 1))
        assert leaf is not None
        assert leaf.media_type == "text/plain"
        assert body(data, leaf) == b"leaf"
        check_invariants(msg, data)
    data = nested_multiparts(99)  # 101 levels: the multipart at level 100 is one leaf
    msg = parse(data)
    assert msg.defects == ("depth_limit",)
    deepest = msg.section((1,) * 99)
    assert deepest is not None
    assert deepest.opaque
    assert deepest.media_type == "application/octet-stream"
    assert body(data, deepest) == b"--b99\r\n\r\nleaf\r\n--b99--"
    assert msg.section((1,) * 100) is None
    assert msg.body_text == ""  # an octet-stream leaf has no text, here as everywhere
    check_invariants(msg, data)


def test_two_hundred_deep_multiparts() -> None:
    data = nested_multiparts(200)
    limited = parse(data)  # default max_depth 100
    assert "depth_limit" in limited.defects
    deepest = limited.section((1,) * 99)
    assert deepest is not None
    assert deepest.opaque
    assert deepest.media_type == "application/octet-stream"
    assert limited.section((1,) * 100) is None
    check_invariants(limited, data)
    full = parse(data, max_depth=1000)
    assert full.defects == ()
    leaf = full.section((1,) * 201)
    assert leaf is not None
    assert leaf.media_type == "text/plain"
    assert body(data, leaf) == b"leaf"
    assert full.body_text == "leaf"
    check_invariants(full, data)
    assert bodystructure_bytes(full.root, True).count(b'"MIXED"') == 201


def test_twenty_thousand_parts_give_a_bounded_bodystructure() -> None:
    data = many_parts(20_000)
    msg = parse(data)
    assert msg.defects == ("parts_limit",)
    assert len(msg.root.children) == 9_999
    structure = bodystructure_bytes(msg.root, True)
    # 1.48 MB before the cap (20,000 parts); now what 10,000 parts take, as with Dovecot
    assert len(structure) < 800_000
    assert body(data, msg.section((9_999,))).endswith(b"part 19999\r\n--B--\r\n")


def test_two_hundred_deep_messages() -> None:
    data = nested_messages(200)
    msg = parse(data, max_depth=1000)
    assert msg.defects == ()
    part = msg.section((1,) * 201)
    assert part is not None
    assert body(data, part) == b"innermost\r\n"
    assert msg.section((1,) * 200) is not None
    check_invariants(msg, data)
    limited = parse(data)
    assert "depth_limit" in limited.defects
    check_invariants(limited, data)


def test_deep_parse_pickles_without_recursion() -> None:
    data = nested_messages(3000)
    msg = parse(data, max_depth=10_000)
    assert msg.section((1,) * 3001) is not None
    assert pickle.loads(pickle.dumps(msg)) == msg
    assert msg == ParsedMessage.from_json(msg.to_json())
    assert repr(msg.root).startswith("Part(message/rfc822")


def test_ten_megabyte_attachment() -> None:
    payload = random.Random(7).randbytes(7_500_000)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    data = (
        b"From: a@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=ZZ\r\n\r\n"
        b"--ZZ\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        b"--ZZ\r\nContent-Type: application/octet-stream; name=big.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--ZZ--\r\n"
    )
    assert len(data) > 10_000_000
    msg = parse(data)
    attachment = msg.section((2,))
    assert attachment is not None
    assert attachment.size == len(encoded) - 2  # the CRLF before the delimiter belongs to it
    assert base64.b64decode(body(data, attachment)) == payload
    assert msg.body_text == "see attachment"
    check_invariants(msg, data)


def test_one_megabyte_header_line() -> None:
    data = b"Subject: " + b"x" * 1_000_000 + b"\r\nTo: b@example.org\r\n\r\nbody\r\n"
    msg = parse(data)
    assert "header_value_truncated" in msg.defects
    assert msg.header_size == len(data) - len(b"body\r\n")
    assert msg.envelope.subject is not None
    assert len(msg.envelope.subject) == 1_000_000
    assert msg.to[0].addr_spec == "b@example.org"
    assert msg.body_text == "body\r\n".replace("\r", "")
    check_invariants(msg, data)
    huge_to = b"To: " + b", ".join(b"U%d <u%d@example.com>" % (i, i) for i in range(50_000)) + b"\r\n\r\n"
    msg = parse(huge_to)
    assert "address_field_truncated" in msg.defects
    assert 1000 < len(msg.to) < 50_000
    check_invariants(msg, huge_to)


def test_header_field_limit() -> None:
    data = b"".join(b"X-Field-%d: v\r\n" % i for i in range(6000)) + b"Subject: late\r\n\r\nbody"
    msg = parse(data)
    assert "header_limit" in msg.defects
    assert len(msg.headers) == 5000
    assert msg.subject is None  # past the limit: ignored
    assert data[msg.header_size :] == b"body"
    check_invariants(msg, data)


def test_text_limit_and_preview_length() -> None:
    text = ("word " * 100_000).encode()
    data = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
    msg = parse(data, max_text_bytes=1000, preview_chars=10)
    assert "text_truncated" in msg.defects
    assert len(msg.body_text.encode()) == 1000
    assert msg.preview == "word word"
    none = parse(data, max_text_bytes=0, preview_chars=0)
    assert none.body_text == ""
    assert none.preview == ""
    # The preview still comes from the first text part when there is no text budget left.
    preview_only = parse(data, max_text_bytes=0)
    assert preview_only.preview.startswith("word word")
    multibyte = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "ж".encode() * 1000
    cut = parse(multibyte, max_text_bytes=7)
    assert cut.body_text == "жжж"  # never half a character


def test_base64_text_is_decoded_only_as_far_as_needed() -> None:
    text = ("Ünïcode line\n" * 400_000).encode()
    encoded = base64.encodebytes(text).replace(b"\n", b"\r\n")
    data = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded
    msg = parse(data, max_text_bytes=100_000)
    assert len(msg.body_text.encode()) == 100_000
    assert msg.body_text.startswith("Ünïcode line\nÜnïcode line\n")


def test_boundary_prefix_is_not_a_delimiter() -> None:
    # The outer boundary "ab" is a prefix of the inner boundary "abc": "--abc" lines are not
    # outer delimiters (RFC 2046 §5.1.1 only allows LWSP after the boundary).
    data = (
        b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
        b"--ab\r\nContent-Type: multipart/alternative; boundary=abc\r\n\r\n"
        b"--abc\r\n\r\none\r\n--abc\r\n\r\ntwo\r\n--abc--\r\n"
        b"--ab \t\r\n\r\nthree\r\n--ab--  \r\n"
    )
    msg = parse(data)
    assert [(spec, part.media_type) for spec, part in msg.sections()] == [
        ((1,), "multipart/alternative"),
        ((1, 1), "text/plain"),
        ((1, 2), "text/plain"),
        ((2,), "text/plain"),
    ]
    assert body(data, msg.section((2,))) == b"three"
    assert msg.defects == ()


MIXED = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"


def test_odd_structures() -> None:
    cases = {
        "multipart without boundary": b"Content-Type: multipart/mixed\r\n\r\ntext\r\n",
        "encoded message/rfc822": (
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYQ=="
        ),
        "empty": b"",
        "only a newline": b"\r\n",
        "invalid content-type": b"Content-Type: text\r\n\r\nx",
        "mbox From line": b"From sender@example.org Mon Jan  2 10:00:00 2023\r\nSubject: s\r\n\r\nb",
        "empty part between delimiters": MIXED + b"--b\r\n--b\r\n\r\nx\r\n--b--",
        "part header without blank line": MIXED + b"--b\r\nContent-Type: text/html\r\n--b--",
        "delimiter at the very start": b"--b\r\n\r\nx\r\n--b--",
        "nul bytes": b"Subject: a\x00b\r\nContent-Type: text/plain\r\n\r\n\x00\x00",
        "cr only": b"Subject: a\rb\r\r\rbody",
    }
    for name, data in cases.items():
        msg = parse(data)
        check_invariants(msg, data)
        assert isinstance(msg, ParsedMessage), name
    assert "no_boundary" in parse(cases["multipart without boundary"]).defects
    encoded = parse(cases["encoded message/rfc822"])
    assert encoded.root.opaque
    assert "encoded_message" in encoded.defects
    assert parse(cases["invalid content-type"]).root.media_type == "text/plain"
    assert parse(cases["mbox From line"]).subject == "s"
    empty_part = parse(cases["empty part between delimiters"])
    assert [p.size for p in empty_part.root.children] == [0, 1]
    headers_only = parse(cases["part header without blank line"])
    assert headers_only.root.children[0].media_type == "text/html"
    assert headers_only.root.children[0].size == 0


def test_depth_cap_for_encapsulated_messages() -> None:
    # nested_messages(n): n message/rfc822 entities and the innermost text, n + 1 levels.
    data = nested_messages(99)
    msg = parse(data)
    assert msg.defects == ()
    assert body(data, msg.section((1,) * 100)) == b"innermost\r\n"
    data = nested_messages(100)
    msg = parse(data)
    assert msg.defects == ("depth_limit",)
    deepest = msg.section((1,) * 100)  # level 100: a message/rfc822 entity that stays a leaf
    assert deepest is not None
    assert deepest.opaque
    assert deepest.message is None
    assert body(data, deepest) == b"Subject: level 100\r\n\r\ninnermost\r\n"  # kept whole
    assert msg.section((1,) * 101) is None
    check_invariants(msg, data)
