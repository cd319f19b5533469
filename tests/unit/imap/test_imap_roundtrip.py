"""Hypothesis: canonical commands survive parse/encode; any bytes survive the string writer; the
receiver never raises on random input, in any state, fed whole or in pieces."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imap_helpers import drain, only_command

from pochta.proto.imap import Command, CommandError, Limits, NeedLiteral, Receiver, SequenceSet, State, wire
from pochta.proto.imap.args import Append, CopyArgs, Login, MailboxArgs, Store
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.fetch import SIMPLE_ITEMS, FetchArgs, FetchAtt, Section
from pochta.proto.imap.search import (
    DATE_KEYS,
    FLAG_KEYS,
    SIZE_KEYS,
    STRING_KEYS,
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    KeywordKey,
    Not,
    Or,
    SearchArgs,
    SearchKey,
    SequenceKey,
    SizeKey,
    StringKey,
)
from pochta.proto.imap.sort import CRITERIA, RETURN_OPTIONS, SortArgs
from pochta.proto.imap.thread import ALGORITHMS, ThreadArgs

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.integers(1, 0xFFFFFFFF)
seq_number = st.one_of(numbers, st.none())
ranges = st.tuples(seq_number, seq_number)
sequence_sets = st.one_of(
    st.lists(ranges, min_size=1, max_size=5).map(lambda r: SequenceSet(tuple(r))),
    st.just(SequenceSet(saved=True)),
)
atoms = st.from_regex(rb"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True)
keywords = st.from_regex(r"[A-Za-z$][A-Za-z0-9_]{0,8}", fullmatch=True)
flags = st.one_of(st.sampled_from(["\\Seen", "\\Deleted", "\\Answered", "\\Flagged", "\\Draft"]), keywords)
text_bytes = st.binary(max_size=40).filter(lambda b: b"\x00" not in b)
utf8_text = (
    st.text(max_size=20)
    .map(lambda s: s.encode("utf-8", "surrogatepass"))
    .filter(lambda b: b"\x00" not in b and _is_utf8(b))
)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


leaves: st.SearchStrategy[SearchKey] = st.one_of(
    st.sampled_from(sorted(FLAG_KEYS)).map(FlagKey),
    st.builds(StringKey, st.sampled_from(sorted(STRING_KEYS)), utf8_text),
    st.builds(HeaderKey, st.from_regex(rb"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True), utf8_text),
    st.builds(DateKey, st.sampled_from(sorted(DATE_KEYS)), st.dates(date(1900, 1, 1), date(2999, 12, 31))),
    st.builds(SizeKey, st.sampled_from(sorted(SIZE_KEYS)), st.integers(0, wire.MAX_NUMBER64)),
    st.builds(KeywordKey, st.sampled_from(["KEYWORD", "UNKEYWORD"]), keywords),
    st.builds(SequenceKey, sequence_sets, st.booleans()),
)
search_keys = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(Or, inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda k: And(tuple(k))),
    ),
    max_leaves=12,
)
search_args = st.builds(
    SearchArgs,
    st.lists(search_keys, min_size=1, max_size=4).map(lambda k: And(tuple(k))),
    st.one_of(st.none(), st.just("UTF-8"), st.just("US-ASCII")),
    st.one_of(
        st.none(),
        st.lists(st.sampled_from(["MIN", "MAX", "ALL", "COUNT", "SAVE"]), unique=True).map(
            lambda names: tuple((n, None) for n in names)
        ),
    ),
)
sections = st.one_of(
    st.just(Section()),
    st.builds(
        Section,
        st.lists(st.integers(1, 50), max_size=4).map(tuple),
        st.sampled_from(["HEADER", "TEXT"]),
    ),
    st.builds(Section, st.lists(st.integers(1, 50), min_size=1, max_size=4).map(tuple), st.just("MIME")),
    st.builds(
        Section,
        st.lists(st.integers(1, 9), max_size=2).map(tuple),
        st.sampled_from(["HEADER.FIELDS", "HEADER.FIELDS.NOT"]),
        st.lists(st.from_regex(rb"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True), min_size=1, max_size=3).map(
            tuple
        ),
    ),
    st.builds(Section, st.lists(st.integers(1, 50), min_size=1, max_size=4).map(tuple)),
)
partials = st.one_of(st.none(), st.tuples(st.integers(0, 10**12), st.integers(1, 10**12)))
fetch_atts = st.one_of(
    st.sampled_from(sorted(SIMPLE_ITEMS)).map(FetchAtt),
    st.builds(FetchAtt, st.just("BODY"), sections, partials, st.booleans()),
    st.builds(
        FetchAtt,
        st.just("BINARY"),
        st.lists(st.integers(1, 50), max_size=3).map(lambda p: Section(tuple(p))),
        partials,
        st.booleans(),
    ),
    st.builds(
        FetchAtt,
        st.just("BINARY.SIZE"),
        st.lists(st.integers(1, 50), max_size=3).map(lambda p: Section(tuple(p))),
    ),
)
fetch_args = st.builds(FetchArgs, sequence_sets, st.lists(fetch_atts, min_size=1, max_size=5).map(tuple))
store_args = st.builds(
    Store,
    sequence_sets,
    st.sampled_from(["", "+", "-"]),
    st.booleans(),
    st.lists(flags, max_size=4).map(tuple),
    st.one_of(st.just(()), st.integers(0, 10**15).map(lambda n: (("UNCHANGEDSINCE", b"%d" % n),))),
)


def roundtrip(name: str, args: object, *, uid: bool = False) -> None:
    spec = COMMANDS[("UID " if uid else "") + name]
    wire_form = Command(b"t1", name, uid, args, spec).encode()  # type: ignore[arg-type]
    cmd = only_command(wire_form)
    assert cmd.args == args
    assert cmd.encode() == wire_form


@FAST
@given(search_args, st.booleans())
def test_search_roundtrip(args: SearchArgs, uid: bool) -> None:
    roundtrip("SEARCH", args, uid=uid)


programs = st.lists(search_keys, min_size=1, max_size=4).map(lambda k: And(tuple(k)))
charsets = st.sampled_from(["UTF-8", "US-ASCII", "utf-8"])
sort_args = st.builds(
    SortArgs,
    st.lists(st.tuples(st.sampled_from(CRITERIA), st.booleans()), min_size=1, max_size=4).map(tuple),
    charsets,
    programs,
    st.one_of(st.none(), st.lists(st.sampled_from(sorted(RETURN_OPTIONS)), unique=True).map(tuple)),
)


@FAST
@given(sort_args, st.booleans())
def test_sort_roundtrip(args: SortArgs, uid: bool) -> None:
    roundtrip("SORT", args, uid=uid)


@FAST
@given(st.builds(ThreadArgs, st.sampled_from(ALGORITHMS), charsets, programs), st.booleans())
def test_thread_roundtrip(args: ThreadArgs, uid: bool) -> None:
    roundtrip("THREAD", args, uid=uid)


@FAST
@given(fetch_args, st.booleans())
def test_fetch_roundtrip(args: FetchArgs, uid: bool) -> None:
    roundtrip("FETCH", args, uid=uid)


@FAST
@given(store_args, st.booleans())
def test_store_roundtrip(args: Store, uid: bool) -> None:
    roundtrip("STORE", args, uid=uid)


@FAST
@given(sequence_sets, utf8_text.filter(bool))
def test_copy_roundtrip(seq: SequenceSet, mailbox: bytes) -> None:
    roundtrip("MOVE", CopyArgs(seq, mailbox))


@FAST
@given(text_bytes, text_bytes)
def test_any_bytes_through_the_string_writer(user: bytes, password: bytes) -> None:
    # Quoted where safe, a literal otherwise: the receiver gives back exactly the same octets.
    for utf8 in (False, True):
        wire_form = (
            b"a LOGIN " + wire.astring(user, utf8=utf8) + b" " + wire.string(password, utf8=utf8) + b"\r\n"
        )
        cmd = only_command(wire_form)
        assert cmd.args == Login(user, password)


@FAST
@given(text_bytes)
def test_mailbox_names_with_literal_plus(name: bytes) -> None:
    wire_form = b"a SELECT " + wire.astring(name, literal_plus=True) + b"\r\n"
    assert only_command(wire_form).args == MailboxArgs(name)


@settings(max_examples=30)
@given(st.tuples(st.binary(max_size=20), st.binary(max_size=20)).map(lambda t: t[0] + b"\x00" + t[1]))
def test_nul_cannot_be_a_string(data: bytes) -> None:
    try:
        wire.string(data)
    except ValueError:
        return
    raise AssertionError("NUL accepted")


PIECES = [
    b"a ", b"UID ", b"FETCH ", b"SEARCH ", b"STORE ", b"APPEND ", b"LOGIN ", b"LIST ", b"SELECT ", b"ID ",
    b"STATUS ", b"1:*", b"$", b"(", b")", b"[", b"]", b"<0.5>", b'"', b"\\", b"{3}\r\n", b"{2+}\r\n",
    b"~{1}\r\n", b"{99999999999}\r\n", b"\r\n", b"\n", b"\x00", b"\xff", b"BODY.PEEK[1.HEADER.FIELDS (A)]",
    b"OR ", b"NOT ", b"RETURN (", b"CHARSET ", b"+FLAGS ", b"\\Seen", b"INBOX", b" ", b"DONE\r\n",
    b"1-Jan-2000", b'"01-Jan-2000 00:00:00 +0000"', b"{0}\r\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)),
    st.sampled_from([None, *State]),
    st.booleans(),
    st.integers(1, 7),
    st.sampled_from([None, 2]),
)
@example(b"! APPEND ! {3}\n\x01\x01\x01\n", None, False, 1, 2)  # a streamed APPEND literal
def test_random_input_never_raises(
    data: bytes, state: State | None, utf8: bool, step: int, stream_over: int | None
) -> None:
    limits = Limits(
        max_line=200, max_literal=50, append_limit=100, max_errors=5, max_depth=8, stream_over=stream_over
    )
    r = Receiver(limits)
    r.state = state
    r.utf8 = utf8
    for i in range(0, len(data), step):
        r.receive_data(data[i : i + step])
        for event in drain(r):
            if isinstance(event, CommandError):
                event.reply.encode()
                if event.close:
                    assert r.closed
            elif isinstance(event, Command):
                if _streamed(event):
                    continue  # its octets went out as LiteralChunk events: nothing to encode again
                assert event.encode().endswith(b"\r\n")
            else:
                assert isinstance(event, NeedLiteral) or event is not None
        if r.closed:
            break


def _streamed(command: Command) -> bool:
    return isinstance(command.args, Append) and any(m.data.streamed for m in command.args.messages)


def _parse_all(data: bytes) -> list[Command | CommandError]:
    r = Receiver(Limits(max_depth=8))
    r.utf8 = True
    r.receive_data(data)
    return [e for e in drain(r) if isinstance(e, Command | CommandError)]


@st.composite
def mutated_commands(draw: st.DrawFn) -> bytes:
    from test_imap_rfc_examples import EXAMPLES

    data = bytearray(draw(st.sampled_from([w for w, *_ in EXAMPLES])))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 2))
        if op == 0:
            data[pos:pos] = draw(st.sampled_from(PIECES))
        elif op == 1:
            del data[pos : pos + draw(st.integers(1, 5))]
        else:
            data[pos:pos] = bytes([draw(st.sampled_from(list(b' ()[]<>.*$:,"\\{}+~09Az\r\n\x00\xff')))])
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_commands())
def test_mutated_commands_parse_or_fail_cleanly(data: bytes) -> None:
    # Whatever parses re-encodes to a canonical form that parses to the same arguments.
    for event in _parse_all(data):
        if isinstance(event, CommandError):
            event.reply.encode()
            continue
        wire_form = event.encode()
        (again,) = _parse_all(wire_form)
        assert isinstance(again, Command)
        assert again.args == event.args
        assert again.encode() == wire_form
