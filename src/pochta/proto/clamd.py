"""The clamd protocol, as far as a mail server needs it: ``zINSTREAM`` and its reply (sans-IO).

clamd (ClamAV's daemon, clamd(8) "COMMANDS") takes a command prefixed by ``z`` and ended by a NUL,
and then, for INSTREAM, the message in chunks, each a 4-octet big-endian length followed by that
many octets; a zero length ends the stream. It answers with one NUL-terminated line:

- ``stream: OK`` -- clean;
- ``stream: Eicar-Test-Signature FOUND`` -- a virus, named;
- ``INSTREAM size limit exceeded. ERROR`` or ``... ERROR`` -- it could not scan.

No sockets here: ``pochta.delivery.clamav`` drives it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "INSTREAM",
    "MAX_REPLY",
    "STREAM_END",
    "ClamdError",
    "ClamdReplyReader",
    "Verdict",
    "chunk_frame",
    "parse_reply",
]

INSTREAM = b"zINSTREAM\0"
STREAM_END = b"\0\0\0\0"  # a chunk of length zero
MAX_REPLY = 4096  # a reply line is a virus name and a few words; longer is not clamd talking
_MAX_CHUNK = 0xFFFFFFFF


class ClamdError(ValueError):
    """clamd said something that is not a reply, or a reply too long."""


@dataclass(frozen=True)
class Verdict:
    """``virus`` is the signature name when one was found; ``error`` clamd's complaint when it
    could not scan (then ``virus`` is None)."""

    virus: str | None = None
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.virus is None and self.error is None


def chunk_frame(data: bytes | bytearray | memoryview) -> bytes:
    """The length prefix of one INSTREAM chunk (the data follows it as is)."""
    if not 0 < len(data) <= _MAX_CHUNK:
        raise ValueError("an INSTREAM chunk holds 1 to 2**32-1 octets")
    return struct.pack(">I", len(data))


def parse_reply(line: str) -> Verdict:
    """One reply line (without its NUL)."""
    text = line.strip()
    if text.endswith(" ERROR"):
        return Verdict(error=text[: -len(" ERROR")].strip() or "ERROR")
    _name, colon, result = text.partition(": ")
    if not colon:
        raise ClamdError(f"not a clamd reply: {text[:100]!r}")
    if result == "OK":
        return Verdict()
    if result.endswith(" FOUND"):
        virus = result[: -len(" FOUND")].strip()
        if virus:
            return Verdict(virus=virus)
    raise ClamdError(f"not a clamd reply: {text[:100]!r}")


class ClamdReplyReader:
    """Collects the octets clamd sends until the NUL that ends its reply."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.verdict: Verdict | None = None

    def feed(self, data: bytes) -> Verdict | None:
        """The verdict once the whole reply is in; None while it is still coming."""
        if self.verdict is not None:
            return self.verdict
        self._buffer += data
        end = self._buffer.find(b"\0")
        if end < 0:
            if len(self._buffer) > MAX_REPLY:
                raise ClamdError("clamd reply too long")
            return None
        line = bytes(self._buffer[:end]).decode("utf-8", "replace")
        self.verdict = parse_reply(line)
        return self.verdict

    def eof(self) -> Verdict:
        """clamd closed the connection: a reply without its NUL still counts (clamd without the
        ``z`` prefix ends lines with a newline instead)."""
        if self.verdict is not None:
            return self.verdict
        if not self._buffer:
            raise ClamdError("clamd closed the connection without a reply")
        return parse_reply(bytes(self._buffer).decode("utf-8", "replace"))
