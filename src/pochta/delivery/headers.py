"""The header section of a message in transit: buffered while it streams in, then inspected.

Delivery needs a few facts from the header before it writes a byte to the spool: how many
Received fields there are (loop detection, RFC 5321 §6.3), and for submission the From: address,
Message-ID and Date (RFC 6409 §8). The section is held in memory up to the core's header limit;
the body after it streams straight to the spool.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pochta.mime.header import parse_header, unfold

_END = b"\r\n\r\n"


@dataclass
class HeaderFacts:
    received: int = 0
    from_fields: tuple[bytes, ...] = ()  # each From: field's value, unfolded (RFC 5322 §2.2.3)
    sender_fields: tuple[bytes, ...] = ()
    has_message_id: bool = False
    has_date: bool = False
    names: list[str] = field(default_factory=list)
    # A line that is neither a field nor a continuation where readers see the body begin (RFC 7103
    # §7.2), or a first line that is a continuation: fields put in front would absorb what follows.
    malformed: bool = False


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


def inspect_header(header: bytes) -> HeaderFacts:
    """The facts, from the fields as the MIME parser splits them (``pochta.mime.header``): what a
    check here sees as From: is what ENVELOPE and every reader of the stored message will see,
    including a line a generator forgot to indent (RFC 7103 §7.2), which continues the field above."""
    facts = HeaderFacts()
    block = parse_header(header, 0, len(header), max_fields=len(header) + 1)
    facts.malformed = block.body_start < len(header)
    for raw_name, raw in block.fields:
        name = raw_name.lower()
        facts.names.append(name)
        if name == "received":
            facts.received += 1
        elif name == "from":
            facts.from_fields += (unfold(raw),)
        elif name == "sender":
            facts.sender_fields += (unfold(raw),)
        elif name == "message-id":
            facts.has_message_id = True
        elif name == "date":
            facts.has_date = True
    return facts


# The date of the last Received field written: a second's messages share its text.
_last_date: tuple[tuple[datetime, timedelta | None], str] = ((datetime.min, None), "")


def _date(when: datetime) -> str:
    """RFC 5322 §3.3 date-time of ``when`` (whole seconds), formatted once per second and zone."""
    global _last_date
    second = when.replace(microsecond=0)
    key = (second, second.utcoffset())  # the same instant in another zone is written otherwise
    last = _last_date
    if last[0] != key:
        last = (key, email.utils.format_datetime(second))
        _last_date = last  # one tuple: a thread never sees a torn pair
    return last[1]


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
    line += f";\r\n\t{_date(when)}\r\n"
    return line.encode("utf-8")


def submission_fields(
    facts: HeaderFacts, *, hostname: str, queue_id: str, when: datetime, author: str | None = None
) -> bytes:
    """Message-ID and Date when the submitted message lacks them (RFC 6409 §8.2, §8.3), and From:
    with ``author`` (the authenticated account) when it has none (RFC 5322 §3.6: From: is required;
    RFC 6409 §8: the MSA completes the message)."""
    out = b""
    if author is not None and not facts.from_fields:
        out += f"From: <{author}>\r\n".encode()
    if not facts.has_date:
        out += f"Date: {email.utils.format_datetime(when)}\r\n".encode()
    if not facts.has_message_id:
        out += f"Message-ID: <{queue_id}@{hostname}>\r\n".encode()
    return out
