"""A message as milters see and change it: the header as a list of fields, the body as octets.

Pure (no I/O). ``MilterMessage.parse(octets)`` splits the header fields (each field's value keeps
its folding); ``fields_for_milter`` gives (name, value) with line breaks as LF, the form libmilter
filters expect; the edit methods carry out SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER and
SMFIR_REPLBODY with libmilter's index rules (``mfapi.h`` smfi_chgheader: the 1-based occurrence
of the name; smfi_insheader: the 0-based position among all fields); ``to_bytes`` writes the message
back with CRLF line ends.

The fields a milter sees and indexes are the ones pochta wrote to the spool: the Received field
this server added first (as Postfix shows its own Received field to milters), then the client's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HeaderField", "MilterMessage"]


@dataclass
class HeaderField:
    name: str
    raw: bytes  # everything after the colon up to and including the final CRLF (folding kept)

    def value_for_milter(self) -> str:
        text = self.raw.decode("utf-8", "surrogateescape")
        return text.removesuffix("\r\n").replace("\r\n", "\n")


def _crlf(text: str) -> bytes:
    """A value from a milter, its line breaks (LF or CRLF) as CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")


@dataclass
class MilterMessage:
    fields: list[HeaderField] = field(default_factory=list)
    preamble: bytes = b""  # octets before the first field that are no field (kept as they are)
    body: bytes = b""
    separator: bytes = b"\r\n"  # the empty line (absent in a message with no body)
    changed: bool = False
    _new_body: bytearray | None = None

    @classmethod
    def parse(cls, data: bytes) -> MilterMessage:
        end = data.find(b"\r\n\r\n")
        if data.startswith(b"\r\n"):
            header, separator, body = b"", b"\r\n", data[2:]
        elif end < 0:
            header, separator, body = data if data.endswith(b"\r\n") else data + b"\r\n", b"", b""
        else:
            header, separator, body = data[: end + 2], b"\r\n", data[end + 4 :]
        message = cls(body=body, separator=separator)
        for line in header.split(b"\r\n")[:-1]:
            if line[:1] in (b" ", b"\t") and message.fields:
                message.fields[-1].raw += line + b"\r\n"
                continue
            name, colon, rest = line.partition(b":")
            if not colon or not name or name != name.strip():
                if not message.fields:
                    message.preamble += line + b"\r\n"
                else:
                    message.fields[-1].raw += line + b"\r\n"  # a stray line stays where it was
                continue
            message.fields.append(HeaderField(name.decode("ascii", "replace"), rest + b"\r\n"))
        return message

    def fields_for_milter(self) -> list[tuple[str, str]]:
        return [(f.name, f.value_for_milter()) for f in self.fields]

    @staticmethod
    def _raw(value: str, leading_space: bool) -> bytes:
        # Without SMFIP_HDR_LEADSPC the MTA puts the one space after the colon itself.
        return (b"" if leading_space else b" ") + _crlf(value) + b"\r\n"

    def add(self, name: str, value: str, *, leading_space: bool = False) -> None:
        """SMFIR_ADDHEADER: after the last field."""
        self.fields.append(HeaderField(name, self._raw(value, leading_space)))
        self.changed = True

    def insert(self, index: int, name: str, value: str, *, leading_space: bool = False) -> None:
        """SMFIR_INSHEADER: before the field at 0-based ``index``; past the end: after the last."""
        self.fields.insert(min(index, len(self.fields)), HeaderField(name, self._raw(value, leading_space)))
        self.changed = True

    def change(self, index: int, name: str, value: str, *, leading_space: bool = False) -> None:
        """SMFIR_CHGHEADER: the ``index``-th (1-based; 0 counts as 1) field named ``name``
        (case-insensitive) gets ``value``; an empty value deletes it; an index past the fields of
        that name adds the field at the end (mfapi.h smfi_chgheader)."""
        seen = 0
        for position, existing in enumerate(self.fields):
            if existing.name.lower() != name.lower():
                continue
            seen += 1
            if seen == max(index, 1):
                if value:
                    existing.raw = self._raw(value, leading_space)
                else:
                    del self.fields[position]
                self.changed = True
                return
        if value:
            self.add(name, value, leading_space=leading_space)

    def replace_body(self, chunk: bytes) -> None:
        """SMFIR_REPLBODY: one piece of the new body (the pieces of one milter add up)."""
        if self._new_body is None:
            self._new_body = bytearray()
        self._new_body += chunk

    def end_of_milter(self) -> None:
        """One milter's modifications are complete: a body it replaced takes effect (bare LF
        line ends as CRLF), for the next milter and for the store."""
        if self._new_body is not None:
            body = bytes(self._new_body).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            self.body, self._new_body = body, None
            self.separator = b"\r\n"
            self.changed = True

    def to_bytes(self) -> bytes:
        head = self.preamble + b"".join(f.name.encode("ascii") + b":" + f.raw for f in self.fields)
        return head + self.separator + self.body
