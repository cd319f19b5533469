"""The header section of a message in transit: buffered while it streams in, then inspected.

Delivery needs a few facts from the header before it writes a byte to the spool: how many
Received fields there are (loop detection, RFC 5321 §6.3), and for submission the From: address,
Message-ID and Date (RFC 6409 §8). The section is held in memory up to the core's header limit;
the body after it streams straight to the spool.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime

from pochta.mime.address import mailboxes, parse_address_list

_END = b"\r\n\r\n"
_FIELD_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")


@dataclass
class HeaderFacts:
    received: int = 0
    from_addresses: tuple[str, ...] = ()
    sender_addresses: tuple[str, ...] = ()
    has_message_id: bool = False
    has_date: bool = False
    names: list[str] = field(default_factory=list)


class HeaderBuffer:
    """Collects the header section; ``feed`` returns what follows it once it is complete."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.complete = False

    def feed(self, chunk: bytes) -> bytes:
        if self.complete:
            return chunk
        start = max(0, len(self.data) - 3)
        self.data += chunk
        if self.data.startswith(b"\r\n"):
            end = 0  # no header fields at all (RFC 5322 §2.1: the header section may be empty)
        else:
            found = self.data.find(_END, start)
            end = -1 if found < 0 else found + 2
        if end < 0:
            if len(self.data) <= self.limit:
                return b""
            end = len(self.data)  # over the limit: the core rejects it; stop looking
        self.complete = True
        rest = bytes(self.data[end:])
        del self.data[end:]
        return rest

    def finish(self) -> None:
        """The message ended (a message that is only a header has no blank line)."""
        self.complete = True

    def facts(self) -> HeaderFacts:
        return inspect_header(bytes(self.data))


def _fields(header: bytes) -> list[tuple[str, str]]:
    """(lower-case name, unfolded value) of each field (RFC 5322 §2.2.3 unfolding)."""
    result: list[tuple[str, str]] = []
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and result:
            name, value = result[-1]
            result[-1] = (name, value + line.decode("utf-8", "replace"))
            continue
        match = _FIELD_NAME.match(line)
        if match is None:
            continue
        name = match.group(1).decode("ascii").lower()
        result.append((name, line[match.end() :].decode("utf-8", "replace").strip()))
    return result


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(f"{m.local}@{m.domain}".lower() for m in mailboxes(parse_address_list(value)))


def inspect_header(header: bytes) -> HeaderFacts:
    facts = HeaderFacts()
    for name, value in _fields(header):
        facts.names.append(name)
        if name == "received":
            facts.received += 1
        elif name == "from":
            facts.from_addresses += _addresses(value)
        elif name == "sender":
            facts.sender_addresses += _addresses(value)
        elif name == "message-id":
            facts.has_message_id = True
        elif name == "date":
            facts.has_date = True
    return facts


def _fold(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def received_field(
    *,
    helo: str | None,
    peer: str,
    hostname: str,
    protocol: str,
    queue_id: str,
    recipient: str | None,
    when: datetime,
) -> bytes:
    """RFC 5321 §4.4 time-stamp line, folded for readability:

    Received: from HELO (PEER) by HOST (pochta) with PROTOCOL id ID for <RCPT>; DATE
    ``for`` only names a single recipient (RFC 5321 §7.2: do not disclose the others).
    PROTOCOL is a registered WITH keyword (RFC 3848: ESMTPS, ESMTPSA, LMTP ...).
    """
    source = f"from {_fold(helo or 'unknown')} ({_fold(peer)})"
    line = f"Received: {source}\r\n\tby {hostname} (pochta) with {protocol} id {queue_id}"
    if recipient:
        line += f"\r\n\tfor <{_fold(recipient)}>"
    line += f";\r\n\t{email.utils.format_datetime(when)}\r\n"
    return line.encode("utf-8")


def submission_fields(facts: HeaderFacts, *, hostname: str, queue_id: str, when: datetime) -> bytes:
    """Message-ID and Date when the submitted message lacks them (RFC 6409 §8.2, §8.3)."""
    out = b""
    if not facts.has_date:
        out += f"Date: {email.utils.format_datetime(when)}\r\n".encode()
    if not facts.has_message_id:
        out += f"Message-ID: <{queue_id}@{hostname}>\r\n".encode()
    return out
