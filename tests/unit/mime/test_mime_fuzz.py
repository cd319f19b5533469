"""Property tests: any bytes parse without raising into in-bounds, ordered offsets; generated MIME
trees are recovered exactly; the cache form round-trips; address parsers never raise and what
they accept re-parses to the same thing."""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mime_helpers import CORPUS, body, check_invariants, parse

from pochta.mime import Mailbox, ParsedMessage, Part, SmtpPath, parse_address_list, parse_smtp_path
from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.text import transfer_decode

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CORPUS_DATA = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
TOKENS = [
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", b"--outer", b"--alt-boundary", b"--==mixed==--",
    b"--digest\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"Content-Type: message/rfc822\r\n\r\n",
    b"\r\n--x\r\n", b"\r\n--x--\r\n", b"Content-Transfer-Encoding: base64\r\n", b"=?utf-8?B?", b"?=",
    b'"', b"(", b")", b"<", b">", b"@", b";", b":", b",", b"\x00", b"\xff", b"*0*=", b"'", b"%", b" ",
]  # fmt: skip


@st.composite
def mutated_corpus(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_DATA)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "token", "truncate", "duplicate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            end = min(len(data), pos + draw(st.integers(1, 200)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@given(st.binary(max_size=3000))
@FUZZ
def test_random_bytes_never_raise(data: bytes) -> None:
    check_invariants(parse(data), data)


@given(mutated_corpus())
@FUZZ
def test_mutated_corpus_never_raises(data: bytes) -> None:
    check_invariants(parse(data), data)


@given(mutated_corpus())
@settings(max_examples=50, deadline=None)
def test_mutated_corpus_under_tight_limits(data: bytes) -> None:
    check_invariants(parse(data, max_depth=1, max_parts=3, max_headers=2, max_text_bytes=10), data)


# -- generated trees -----------------------------------------------------------------------------


@dataclass
class Leaf:
    subtype: str
    text: bytes
    encoding: str


@dataclass
class Multi:
    subtype: str
    children: list[Leaf | Multi | Msg]
    preamble: bytes


@dataclass
class Msg:
    child: Leaf | Multi | Msg


Node = Leaf | Multi | Msg

_LINE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC-0123456789.", max_size=30)
_TEXT = st.lists(_LINE, max_size=4).map(lambda lines: "\r\n".join(lines).encode())
_LEAF = st.builds(
    Leaf,
    st.sampled_from(["plain", "html", "csv"]),
    _TEXT,
    st.sampled_from(["7bit", "base64", "quoted-printable"]),
)
_TREE = st.recursive(
    _LEAF,
    lambda kids: st.one_of(
        st.builds(
            Multi,
            st.sampled_from(["mixed", "alternative", "related"]),
            st.lists(kids, min_size=1, max_size=4),
            _TEXT,
        ),
        st.builds(Msg, kids),
    ),
    max_leaves=12,
)


def _encode(leaf: Leaf) -> bytes:
    if leaf.encoding == "base64":
        return base64.encodebytes(leaf.text).replace(b"\n", b"\r\n")
    if leaf.encoding == "quoted-printable":
        return b"\r\n".join(binascii.b2a_qp(line) for line in leaf.text.split(b"\r\n"))
    return leaf.text


def serialise(root: Node) -> bytes:
    """Entity bytes for a generated tree, built with an explicit stack of pending pieces."""
    counter = itertools.count()
    out: list[bytes] = [b"From: gen@example.org\r\n"]
    stack: list[Node | bytes] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, Leaf):
            out.append(
                b"Content-Type: text/%s; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n"
                % (item.subtype.encode(), item.encoding.encode())
                + _encode(item)
            )
        elif isinstance(item, Msg):
            out.append(b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n")
            stack.append(item.child)
        else:
            boundary = b"=_b%d_=" % next(counter)
            out.append(
                b'Content-Type: multipart/%s; boundary="%s"\r\n\r\n' % (item.subtype.encode(), boundary)
            )
            out.append(item.preamble + b"\r\n")
            pieces: list[Node | bytes] = []
            for child in item.children:
                pieces += [b"--" + boundary + b"\r\n", child, b"\r\n"]
            pieces.append(b"--" + boundary + b"--\r\nepilogue\r\n")
            stack.extend(reversed(pieces))
    return b"".join(out)


@given(_TREE)
@settings(max_examples=150, deadline=None)
def test_generated_trees_are_recovered(tree: Node) -> None:
    data = serialise(tree)
    msg = parse(data)
    assert msg.defects in ((), ("text_truncated",))
    pairs: list[tuple[Node, Part]] = [(tree, msg.root)]
    while pairs:
        node, part = pairs.pop()
        if isinstance(node, Leaf):
            assert (part.type, part.subtype, part.encoding) == ("text", node.subtype, node.encoding)
            assert transfer_decode(body(data, part), part.encoding) == node.text
            if node.encoding == "7bit":
                # RFC 9051 body-fld-lines: line ends; an unterminated last line is not counted
                assert part.lines == node.text.count(b"\n")
        elif isinstance(node, Msg):
            assert part.is_message
            assert part.message is not None
            pairs.append((node.child, part.message))
        else:
            assert part.media_type == f"multipart/{node.subtype}"
            assert len(part.children) == len(node.children)
            pairs.extend(zip(node.children, part.children, strict=True))
    check_invariants(msg, data)
    assert ParsedMessage.from_json(msg.to_json()) == msg


# -- headers and addresses ----------------------------------------------------------------------

_ADDRESS_TEXT = st.lists(
    st.sampled_from([*'ab.@<>,;:"()\\[] \té=?', "\r\n ", "x@y", "=?utf-8?q?a?="]), max_size=40
).map("".join)


@given(_ADDRESS_TEXT)
@FUZZ
def test_address_parser_accepts_only_what_reparses(text: str) -> None:
    for item in parse_address_list(text):
        if isinstance(item, Mailbox):
            (again,) = parse_address_list(item.addr_spec)
            assert isinstance(again, Mailbox)
            assert (again.local, again.domain) == (item.local, item.domain)


@given(st.text(max_size=200))
@FUZZ
def test_address_parser_never_raises_on_any_text(text: str) -> None:
    parse_address_list(text)


@given(st.one_of(st.text(max_size=80), st.binary(max_size=80), _ADDRESS_TEXT.map(lambda t: "<" + t + ">")))
@FUZZ
def test_smtp_path_parser(text: str | bytes) -> None:
    path = parse_smtp_path(text)
    if isinstance(path, SmtpPath) and not path.is_null:
        again = parse_smtp_path("<" + path.address + ">")
        assert isinstance(again, SmtpPath)
        assert (again.local, again.domain) == (path.local, path.domain)


_CHARSETS = ["utf-8", "iso-8859-1", "koi8-r", "windows-1251", "iso-2022-jp", "gb18030", "shift_jis", "big5"]


@given(st.text(max_size=40), st.sampled_from(_CHARSETS), st.sampled_from(["B", "Q"]))
@FUZZ
def test_encoded_words_round_trip(text: str, charset: str, kind: str) -> None:
    try:
        raw = text.encode(charset)
        if raw.decode(charset) != text or not text:
            return
    except UnicodeError:
        return  # e.g. a lone ESC, which iso-2022-jp encodes as itself but cannot decode again
    if charset == "iso-8859-1" and any("\x80" <= char <= "\x9f" for char in text):
        return  # C1 controls: the latin-1 label is read as windows-1252 (WHATWG), on purpose
    if charset == "shift_jis" and raw.decode("cp932") != text:
        return  # the Shift_JIS label is read as Windows-31J (cp932), what such mail really is
    if kind == "B":
        word = f"=?{charset}?B?{base64.b64encode(raw).decode()}?="
    else:
        word = f"=?{charset}?Q?{''.join(f'={byte:02X}' for byte in raw)}?="
    assert decode_encoded_words(word) == text
    assert decode_encoded_words(f"x {word} {word} y") == f"x {text}{text} y"


@given(st.text(max_size=300))
@FUZZ
def test_encoded_word_decoder_never_raises(text: str) -> None:
    decode_encoded_words(text)
