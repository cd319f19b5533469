"""Sans-IO IMAP4rev2/IMAP4rev1 client core: command encoding and response parsing.

No sockets, no asyncio, no store (DESIGN.md principle 2): ``CommandEncoder`` turns commands into
the octets to send, ``ResponseFramer`` cuts what the server sends into whole responses (literals
of any size up to the caller's limit) and ``parse_response`` types them. The asyncio client
around it is ``pochta.fetch.imap_remote``.
"""

from __future__ import annotations

from pochta.proto.imap_client.command import CommandEncoder, Encoded, Literal, Mailbox, Raw, quote_or_literal
from pochta.proto.imap_client.framing import Framed, ResponseError, ResponseFramer
from pochta.proto.imap_client.responses import (
    Capability,
    Code,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    FetchData,
    Flags,
    IdData,
    ListItem,
    Response,
    Search,
    Status,
    StatusData,
    Tagged,
    Untagged,
    Vanished,
    format_internal_date,
    parse_internal_date,
    parse_response,
    sequence_set_numbers,
)
from pochta.proto.imap_client.values import Atom, Value

__all__ = [
    "Atom",
    "Capability",
    "Code",
    "CommandEncoder",
    "Continuation",
    "ESearch",
    "Enabled",
    "Encoded",
    "Exists",
    "Expunge",
    "FetchData",
    "Flags",
    "Framed",
    "IdData",
    "ListItem",
    "Literal",
    "Mailbox",
    "Raw",
    "Response",
    "ResponseError",
    "ResponseFramer",
    "Search",
    "Status",
    "StatusData",
    "Tagged",
    "Untagged",
    "Value",
    "Vanished",
    "format_internal_date",
    "parse_internal_date",
    "parse_response",
    "quote_or_literal",
    "sequence_set_numbers",
]
