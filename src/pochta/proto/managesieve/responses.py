"""ManageSieve responses (RFC 5804 §1.2, §1.3, §4): strings, OK/NO/BYE with response codes,
capability and script lines."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Response", "Status", "capability_line", "encode_literal", "encode_string", "script_line"]

_MAX_QUOTED = 1024


class Status(StrEnum):
    OK = "OK"
    NO = "NO"
    BYE = "BYE"


def encode_string(value: str | bytes) -> bytes:
    """A quoted string where it may be one (RFC 5804 §4: at most 1024 octets, no CR, LF or NUL),
    otherwise a literal-s2c ``{n}`` CRLF followed by the octets."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) <= _MAX_QUOTED and b"\r" not in data and b"\n" not in data and b"\x00" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return encode_literal(data)


def encode_literal(data: bytes) -> bytes:
    """A literal-s2c, ``{n}`` CRLF and the octets (RFC 5804 §4)."""
    return b"{%d}\r\n" % len(data) + data


@dataclass(frozen=True)
class Response:
    """``OK``/``NO``/``BYE`` with an optional response code (RFC 5804 §1.3) and human text.

    ``code`` is the code's name (``QUOTA/MAXSIZE``, ``WARNINGS``, ``TAG``, ``SASL``...);
    ``code_arg`` its string argument (``TAG`` and ``SASL`` have one)."""

    status: Status
    text: str | None = None
    code: str | None = None
    code_arg: str | bytes | None = None

    def encode(self) -> bytes:
        out = bytearray(self.status.value.encode("ascii"))
        if self.code is not None:
            out += b" (" + self.code.encode("ascii")
            if self.code_arg is not None:
                out += b" " + encode_string(self.code_arg)
            out += b")"
        if self.text is not None:
            out += b" " + encode_string(self.text)
        out += b"\r\n"
        return bytes(out)


def capability_line(name: str, value: str | None = None) -> bytes:
    """RFC 5804 §1.7: ``"NAME" "value"`` or ``"NAME"``."""
    line = encode_string(name)
    if value is not None:
        line += b" " + encode_string(value)
    return line + b"\r\n"


def script_line(name: str, active: bool) -> bytes:
    """RFC 5804 §2.7: one LISTSCRIPTS line, ``ACTIVE`` after the active script's name."""
    return encode_string(name) + (b" ACTIVE" if active else b"") + b"\r\n"
