"""IMAP ENVELOPE (RFC 9051 §7.5.2) built from a message header.

Values are what IMAP sends: raw header text, unfolded, encoded words left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.mime.address import (
    AddressItem,
    Group,
    InvalidAddress,
    Mailbox,
    parse_address_list,
    recover_address,
)
from pochta.mime.header import field_text

# Placeholders for the parts of an address that cannot be seen, as Dovecot sends them (RFC 9051
# §7.5.2 has no form for an invalid address; a NIL host would mean a group marker).
MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_HOST = "MISSING_DOMAIN"
SYNTAX_ERROR_HOST = "SYNTAX_ERROR"
INVALID_ROUTE = "INVALID_ROUTE"

# Address fields longer than this are not parsed for the envelope (a defence against
# megabyte-long To: lines); the envelope then lists the addresses parsed from the prefix.
MAX_ADDRESS_FIELD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Address:
    """RFC 9051 §7.5.2 address structure. Group start: host None and mailbox the group name;
    group end: mailbox and host both None."""

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


Addresses = tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class Envelope:
    date: str | None
    subject: str | None
    from_: Addresses  # () is NIL
    sender: Addresses
    reply_to: Addresses
    to: Addresses
    cc: Addresses
    bcc: Addresses
    in_reply_to: str | None
    message_id: str | None


EMPTY_ENVELOPE = Envelope(None, None, (), (), (), (), (), (), None, None)


def _mailbox_address(item: Mailbox) -> Address:
    name = item.raw_name if item.raw_name is not None else item.comment
    adl = ",".join("@" + hop for hop in item.route) if item.route else None
    return Address(name, adl, item.local_part_text, item.domain)


def _invalid_address(item: InvalidAddress) -> Address:
    """The parts a reader can see in an invalid element (address.recover_address), placeholders
    for the rest: ``Moderator-Address <moderator>`` is ("Moderator-Address" NIL "moderator"
    "MISSING_DOMAIN"), not a bare "INVALID_ADDRESS"."""
    found = recover_address(item.text)
    adl = INVALID_ROUTE if found.route_error else found.route
    if found.domain_error:
        host = SYNTAX_ERROR_HOST
    else:
        host = found.domain if found.domain is not None else MISSING_HOST
    return Address(found.name, adl, found.local if found.local is not None else MISSING_MAILBOX, host)


def imap_addresses(items: tuple[AddressItem, ...]) -> Addresses:
    """Parsed address-list elements as IMAP address structures, groups as start/end markers."""
    out: list[Address] = []
    for item in items:
        if isinstance(item, Mailbox):
            out.append(_mailbox_address(item))
        elif isinstance(item, Group):
            out.append(Address(None, None, item.raw_name, None))  # RFC 9051 §7.5.2 group start
            for member in item.members:
                if isinstance(member, Mailbox):
                    out.append(_mailbox_address(member))
                else:
                    out.append(_invalid_address(member))
            out.append(Address(None, None, None, None))  # group end
        else:
            out.append(_invalid_address(item))
    return tuple(out)


ParsedAddresses = dict[str, tuple[AddressItem, ...]]


def build_envelope(found: dict[str, bytes]) -> tuple[Envelope, ParsedAddresses]:
    """ENVELOPE from header fields (``found``: the first occurrence of each, by lower-case name,
    as ``header.first_of_each`` gives them), and the parsed address fields by lower-case name (so
    that callers need not parse them again)."""
    parsed: ParsedAddresses = {}

    def text(name: str) -> str | None:
        raw = found.get(name)
        return field_text(raw) if raw is not None else None

    def addresses(name: str) -> Addresses:
        value = text(name)
        if not value:
            return ()  # absent or empty -> NIL
        items = parsed[name] = parse_address_list(value[:MAX_ADDRESS_FIELD])
        return imap_addresses(items)

    from_ = addresses("from")
    envelope = Envelope(
        date=text("date"),
        subject=text("subject"),
        from_=from_,
        sender=addresses("sender") or from_,  # RFC 9051 §7.5.2: absent or empty -> from
        reply_to=addresses("reply-to") or from_,
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        in_reply_to=text("in-reply-to"),
        message_id=text("message-id"),
    )
    return envelope, parsed
