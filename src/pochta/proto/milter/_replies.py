"""What a milter answers, as typed values, and the decoder that makes them from octets.

``ReplyDecoder.receive_data(octets)`` then ``next_reply()`` until it returns None (more octets
needed). Every length is bounded (``max_packet``), every string must be NUL-terminated, every
count checked: a malformed packet raises ``MilterProtocolError``, never anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pochta.proto.milter._wire import Action, MilterProtocolError, Stage, Step

__all__ = [
    "Accept",
    "AddHeader",
    "AddRecipient",
    "ChangeHeader",
    "ChangeSender",
    "Continue",
    "DeleteRecipient",
    "Discard",
    "InsertHeader",
    "Modification",
    "Negotiated",
    "Progress",
    "Quarantine",
    "Reject",
    "ReplaceBody",
    "Reply",
    "ReplyCode",
    "ReplyDecoder",
    "Shutdown",
    "Skip",
    "Tempfail",
    "Verdict",
    "decode",
]

# The largest packet a milter may send: a body replacement chunk (65535) or a reply with header
# text is far below; a length past this is a broken or hostile milter.
DEFAULT_MAX_PACKET = 1 << 20


@dataclass(frozen=True, slots=True)
class Negotiated:
    """SMFIC_OPTNEG's answer: the version, the actions the milter asks for, the steps it leaves out
    and the macros it wants per stage (smfi_setsymlist)."""

    version: int
    actions: Action
    steps: Step
    macros: dict[Stage, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Accept:
    """SMFIR_ACCEPT: accept the message (or the connection) and stop asking this milter."""


@dataclass(frozen=True, slots=True)
class Continue:
    """SMFIR_CONTINUE: go on to the next step."""


@dataclass(frozen=True, slots=True)
class Reject:
    """SMFIR_REJECT: refuse (the recipient at RCPT, else the message or connection)."""


@dataclass(frozen=True, slots=True)
class Tempfail:
    """SMFIR_TEMPFAIL: refuse for now."""


@dataclass(frozen=True, slots=True)
class Discard:
    """SMFIR_DISCARD: accept, then throw the message away."""


@dataclass(frozen=True, slots=True)
class Skip:
    """SMFIR_SKIP: no more body chunks are wanted."""


@dataclass(frozen=True, slots=True)
class Progress:
    """SMFIR_PROGRESS: still working; the timeout starts again."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """SMFIR_SHUTDOWN / SMFIR_CONN_FAIL: the milter ends the conversation."""


@dataclass(frozen=True, slots=True)
class ReplyCode:
    """SMFIR_REPLYCODE: reject or tempfail with this SMTP reply (smfi_setreply/smfi_setmlreply)."""

    code: int
    enhanced: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddHeader:
    """SMFIR_ADDHEADER: a field appended at the end of the header."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class InsertHeader:
    """SMFIR_INSHEADER: a field put before the field at ``index`` (0: first; past the end: last)."""

    index: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ChangeHeader:
    """SMFIR_CHGHEADER: the ``index``-th (1-based) field named ``name`` gets ``value``; an empty
    value deletes it; an index past the fields of that name adds one."""

    index: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ChangeSender:
    """SMFIR_CHGFROM: the envelope sender becomes ``address`` (with ESMTP ``args``)."""

    address: str
    args: str | None


@dataclass(frozen=True, slots=True)
class AddRecipient:
    """SMFIR_ADDRCPT / SMFIR_ADDRCPT_PAR: another envelope recipient."""

    address: str
    args: str | None


@dataclass(frozen=True, slots=True)
class DeleteRecipient:
    """SMFIR_DELRCPT: an envelope recipient removed."""

    address: str


@dataclass(frozen=True, slots=True)
class ReplaceBody:
    """SMFIR_REPLBODY: one piece of the new body (the pieces of one EOM add up to it)."""

    chunk: bytes


@dataclass(frozen=True, slots=True)
class Quarantine:
    """SMFIR_QUARANTINE: keep the message aside, for ``reason``."""

    reason: str


Verdict = Accept | Continue | Reject | Tempfail | Discard | ReplyCode | Skip
Modification = (
    AddHeader
    | InsertHeader
    | ChangeHeader
    | ChangeSender
    | AddRecipient
    | DeleteRecipient
    | ReplaceBody
    | Quarantine
)
Reply = Negotiated | Verdict | Modification | Progress | Shutdown

_U32 = struct.Struct("!I")
# Header names: RFC 5322 ftext (printable ASCII but the colon); a milter sending anything else
# would have us write a broken header.
_FTEXT = frozenset(range(33, 127)) - {ord(":")}
_SIMPLE: dict[bytes, Reply] = {
    b"a": Accept(),
    b"c": Continue(),
    b"r": Reject(),
    b"t": Tempfail(),
    b"d": Discard(),
    b"s": Skip(),
    b"p": Progress(),
    b"4": Shutdown(),
    b"f": Shutdown(),
}


class ReplyDecoder:
    """Packets from a milter, one reply at a time."""

    def __init__(self, max_packet: int = DEFAULT_MAX_PACKET) -> None:
        self.max_packet = max_packet
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_reply(self) -> Reply | None:
        """The next whole reply, or None until more octets arrive."""
        if len(self._buffer) < 4:
            return None
        (length,) = _U32.unpack_from(self._buffer)
        if length == 0:
            raise MilterProtocolError("empty packet (no command byte)")
        if length > self.max_packet:
            raise MilterProtocolError(f"packet of {length} octets, more than {self.max_packet}")
        if len(self._buffer) < 4 + length:
            return None
        command = bytes(self._buffer[4:5])
        data = bytes(self._buffer[5 : 4 + length])
        del self._buffer[: 4 + length]
        return decode(command, data)


def decode(command: bytes, data: bytes) -> Reply:
    """One packet's reply (command byte and data)."""
    simple = _SIMPLE.get(command)
    if simple is not None:
        if data:
            raise MilterProtocolError(f"reply {command!r} carries {len(data)} unexpected octets")
        return simple
    match command:
        case b"O":
            return _negotiated(data)
        case b"y":
            return _reply_code(_strings(data, 1)[0])
        case b"h":
            name, value = _strings(data, 2)
            return AddHeader(_name(name), _value(value))
        case b"i" | b"m":
            index = _index(data)
            name, value = _strings(data[4:], 2)
            if command == b"i":
                return InsertHeader(index, _name(name), _value(value))
            return ChangeHeader(index, _name(name), _value(value))
        case b"e" | b"2":
            parts = _strings_between(data, 1, 2)
            address, args = _text(parts[0]), _text(parts[1]) if len(parts) > 1 else None
            _address(address)
            return ChangeSender(address, args) if command == b"e" else AddRecipient(address, args)
        case b"+":
            address = _text(_strings(data, 1)[0])
            _address(address)
            return AddRecipient(address, None)
        case b"-":
            address = _text(_strings(data, 1)[0])
            _address(address)
            return DeleteRecipient(address)
        case b"b":
            return ReplaceBody(data)
        case b"q":
            return Quarantine(_text(_strings(data, 1)[0]))
    raise MilterProtocolError(f"unknown reply {command!r}")


def _negotiated(data: bytes) -> Negotiated:
    if len(data) < 12:
        raise MilterProtocolError("OPTNEG reply shorter than 12 octets")
    version, actions, steps = struct.unpack_from("!III", data)
    macros: dict[Stage, tuple[str, ...]] = {}
    rest = data[12:]
    # mfapi.h smfi_setsymlist: after the flags, pairs of (stage, NUL-terminated macro list).
    while rest:
        if len(rest) < 5:
            raise MilterProtocolError("truncated macro list in OPTNEG reply")
        (stage,) = _U32.unpack_from(rest)
        end = rest.find(b"\0", 4)
        if end < 0:
            raise MilterProtocolError("macro list in OPTNEG reply not NUL-terminated")
        if stage not in Stage._value2member_map_:
            raise MilterProtocolError(f"macro list for unknown stage {stage}")
        names = tuple(_text(rest[4:end]).split())
        macros[Stage(stage)] = names
        rest = rest[end + 1 :]
    return Negotiated(version, Action(actions & 0x1FF), Step(steps & 0x301FFFFF), macros)


def _strings(data: bytes, count: int) -> list[bytes]:
    """Exactly ``count`` NUL-terminated strings, nothing after."""
    parts = _strings_between(data, count, count)
    return parts


def _strings_between(data: bytes, least: int, most: int) -> list[bytes]:
    if not data.endswith(b"\0"):
        raise MilterProtocolError("string not NUL-terminated")
    parts = data[:-1].split(b"\0")
    if not least <= len(parts) <= most:
        raise MilterProtocolError(f"{len(parts)} strings where {least}..{most} belong")
    return parts


def _index(data: bytes) -> int:
    if len(data) < 4:
        raise MilterProtocolError("header index missing")
    (index,) = _U32.unpack_from(data)
    return int(index)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MilterProtocolError("text is not UTF-8") from None


def _name(raw: bytes) -> str:
    if not raw or any(octet not in _FTEXT for octet in raw):
        raise MilterProtocolError(f"invalid header field name {raw[:80]!r}")
    return raw.decode("ascii")


def _value(raw: bytes) -> str:
    value = _text(raw)
    # A bare CR or a line break not followed by white space would end the field early.
    lines = value.replace("\r\n", "\n").split("\n")
    if "\r" in value.replace("\r\n", "") or any(line[:1] not in (" ", "\t") for line in lines[1:]):
        raise MilterProtocolError("header value with a line break not followed by white space")
    return value


def _address(address: str) -> None:
    if any(c in address for c in "\r\n") or len(address) > 1000:
        raise MilterProtocolError("invalid envelope address")


def _reply_code(raw: bytes) -> ReplyCode:
    """smfi_setreply / smfi_setmlreply text: ``550 5.7.1 text`` or lines ``550-5.7.1 ...`` joined by
    CRLF. The code must be 4xx or 5xx, the enhanced code's class the same digit, every line the same
    code, printable text."""
    text = _text(raw)
    lines = text.split("\r\n")
    code: int | None = None
    enhanced: str | None = None
    out: list[str] = []
    for number, line in enumerate(lines):
        last = number == len(lines) - 1
        if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in (" ", "-")):
            raise MilterProtocolError(f"malformed reply line {line[:80]!r}")
        if len(line) > 3 and (line[3] == "-") == last:
            raise MilterProtocolError("continuation marks of a multi-line reply out of place")
        line_code = int(line[:3])
        if code is None:
            code = line_code
        elif code != line_code:
            raise MilterProtocolError("lines of one reply with different codes")
        body = line[4:]
        first, _, rest = body.partition(" ")
        if _enhanced_code(first):
            if first[0] != line[0]:
                raise MilterProtocolError("enhanced status class differs from the reply code")
            enhanced = enhanced or first
            body = rest
        if any(not " " <= c <= "~" for c in body) or len(body) > 500:
            raise MilterProtocolError("reply text not printable ASCII or too long")
        out.append(body)
    assert code is not None
    if not 400 <= code <= 599:
        raise MilterProtocolError(f"reply code {code}: only 4xx and 5xx may be set")
    if len(out) > 32:
        raise MilterProtocolError("reply of more than 32 lines")
    return ReplyCode(code, enhanced, tuple(out))


def _enhanced_code(word: str) -> bool:
    parts = word.split(".")
    return (
        len(parts) == 3
        and parts[0] in ("2", "4", "5")
        and all(p.isdigit() and 1 <= len(p) <= 3 for p in parts[1:])
    )
