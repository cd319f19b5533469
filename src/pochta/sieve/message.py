"""The message and envelope as Sieve tests see them (RFC 5228 §5): header values unfolded,
trimmed and with encoded words decoded (§5.7, §2.7.2), the addresses in address headers
(§2.7.4, §5.1), the envelope's sender and recipient (§5.4) and the size (§5.9).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pochta.mime.address import Group, InvalidAddress, Mailbox, parse_address_list
from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.header import field_text, parse_header

__all__ = ["ADDRESS_BOOK", "AddressValue", "DeliveryContext", "Envelope", "SieveMessage", "full_list_name"]

# RFC 6134 section 2: a list name starting with ":" is short for one under this URN prefix; the
# user's default address book is the one list every account has.
_LIST_PREFIX = "urn:ietf:params:sieve"
ADDRESS_BOOK = _LIST_PREFIX + ":addrbook:default"


def full_list_name(name: str) -> str:
    """``:addrbook:default`` -> ``urn:ietf:params:sieve:addrbook:default``; others as they are."""
    return _LIST_PREFIX + name if name.startswith(":") else name


# Header fields read from a message; more are ignored (as the MIME parser's caps do).
MAX_HEADER_FIELDS = 1000


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope of one delivery: ``sender`` is "" for the null reverse-path."""

    sender: str
    recipient: str


@dataclass(frozen=True)
class DeliveryContext:
    """What a script may know of the delivery besides the message and envelope."""

    subaddress_separator: str = "+"  # RFC 5233 §4: the server's (smtp.subaddress_separator)
    # RFC 5230 §4.5 (1): addresses known to be the user's (the account's, its aliases).
    user_addresses: tuple[str, ...] = ()
    # RFC 5183 §4.1: the environment items ("domain", "host", "remote-ip" ...); a missing item
    # makes the environment test false.
    environment: Mapping[str, str] = field(default_factory=dict)
    # RFC 5260 §5: the moment of the delivery, in the server's zone (also the zone of the date test
    # without :zone, §4.1); None: the clock when the script runs.
    now: datetime | None = None
    # RFC 5490 §3.1: the user's mailboxes that mail may be filed into (INBOX always).
    mailboxes: frozenset[str] = frozenset()
    # RFC 6609: the source of a script by location ("personal", "global") and name, None when
    # there is no such script.
    load_script: Callable[[str, str], str | None] | None = None
    # RFC 7352: whether a tracking key is in the user's duplicate-tracking list (not expired).
    duplicate_seen: Callable[[str], bool] | None = None

    # RFC 5490 §3.3, §4.1: the value of a METADATA entry (RFC 5464) of a mailbox (None: of the
    # server) as the user sees it, None when it has none.
    metadata: Callable[[str | None, str], str | None] | None = None
    # RFC 8579: the special-use attributes ("\\Junk" ...) of the user's mailboxes, by mailbox.
    special_uses: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # RFC 6785: the run is on an IMAP event, not a delivery (no envelope, §4.6; no reject or
    # vacation, §3.11), on a message holding ``flags`` (the internal flag variable's start, §3.8).
    imap_event: bool = False
    flags: tuple[str, ...] = ()

    # RFC 6134: the external lists the scripts may name, by full name ("urn:ietf:params:sieve:
    # addrbook:default"), each a membership test of one value (an address, for the address books).
    lists: Mapping[str, Callable[[str], bool]] = field(default_factory=dict)

    def external_list(self, name: str) -> Callable[[str], bool] | None:
        """The list a script names (the short form ":addrbook:default" too), None when unknown."""
        return self.lists.get(full_list_name(name))

    def mailbox_exists(self, name: str) -> bool:
        return name.upper() == "INBOX" or name in self.mailboxes or name in self.special_uses

    def special_use_mailbox(self, attribute: str) -> str | None:
        """The mailbox that holds ``attribute`` (RFC 8579 §4), None when none does."""
        wanted = attribute.lower()
        for name, attributes in sorted(self.special_uses.items()):
            if any(held.lower() == wanted for held in attributes):
                return name
        return None


@dataclass(frozen=True)
class AddressValue:
    """One address of a header, by address part (RFC 5228 §2.7.4): ``localpart`` and ``domain``
    are None for an address that is not syntactically valid (it then matches only as :all)."""

    all: str
    localpart: str | None
    domain: str | None


@dataclass
class SieveMessage:
    """A message's header fields (name, raw value) and size, with per-name caches."""

    fields: list[tuple[str, bytes]]
    size: int
    data: bytes = b""  # the whole message, for the body test (RFC 5173)
    body_start: int = 0  # where the body starts in ``data`` (after the empty line)
    edited: bool = False  # editheader (RFC 5293) changed the fields
    _texts: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _addresses: dict[str, tuple[tuple[AddressValue, ...], ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> SieveMessage:
        header = parse_header(data, 0, len(data), MAX_HEADER_FIELDS)
        return cls(header.fields, len(data), data, header.body_start)

    # -- editheader (RFC 5293) ----------------------------------------------------------------

    def add_field(self, name: str, value: bytes, *, last: bool) -> None:
        """Add a field (RFC 5293 §4: first unless ``last``); ``value`` is already encoded."""
        entry = (name, b" " + value)
        if last:
            self.fields.append(entry)
        else:
            self.fields.insert(0, entry)
        self._changed()

    def delete_fields(self, name: str, keep: Callable[[int, int, str], bool]) -> None:
        """Delete the fields named ``name`` for which ``keep(position, count, text)`` is False
        (position 1-based among the fields of that name, ``text`` the value a header test sees)."""
        wanted = name.lower()
        count = sum(1 for field_name, _ in self.fields if field_name.lower() == wanted)
        kept: list[tuple[str, bytes]] = []
        position = 0
        for field_name, value in self.fields:
            if field_name.lower() == wanted:
                position += 1
                text = decode_encoded_words(field_text(value)).strip(" \t")
                if not keep(position, count, text):
                    continue
            kept.append((field_name, value))
        if len(kept) != len(self.fields):
            self.fields = kept
            self._changed()

    def _changed(self) -> None:
        self.edited = True
        self.size = len(self.to_bytes())  # RFC 5293 §7: the size test sees the edited message
        self._texts.clear()
        self._addresses.clear()

    def to_bytes(self) -> bytes:
        """The message with its current fields (the body as it came)."""
        lines = [name.encode("latin-1") + b":" + value.rstrip(b"\r") for name, value in self.fields]
        header = b"\r\n".join(line.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for line in lines)
        return header + b"\r\n\r\n" + self.data[self.body_start :]

    def has(self, name: str) -> bool:
        wanted = name.lower()
        return any(field_name.lower() == wanted for field_name, _ in self.fields)

    def _raw_texts(self, name: str) -> list[str]:
        wanted = name.lower()
        return [field_text(value) for field_name, value in self.fields if field_name.lower() == wanted]

    def header_texts(self, name: str) -> tuple[str, ...]:
        """Every value of the field ``name`` (RFC 5228 §5.7: leading and trailing white space
        ignored; §2.7.2: encoded words decoded to Unicode)."""
        key = name.lower()
        found = self._texts.get(key)
        if found is None:
            found = tuple(decode_encoded_words(text).strip(" \t") for text in self._raw_texts(name))
            self._texts[key] = found
        return found

    def addresses(self, name: str) -> tuple[AddressValue, ...]:
        """The addresses of every ``name`` field, group members included (RFC 5228 §2.7.4)."""
        return tuple(address for field_addresses in self.address_fields(name) for address in field_addresses)

    def address_fields(self, name: str) -> tuple[tuple[AddressValue, ...], ...]:
        """The addresses of each ``name`` field, field by field (for RFC 5260 §6's :index)."""
        key = name.lower()
        found = self._addresses.get(key)
        if found is None:
            fields: list[tuple[AddressValue, ...]] = []
            for text in self._raw_texts(name):
                values: list[AddressValue] = []
                for item in parse_address_list(text):
                    members = item.members if isinstance(item, Group) else (item,)
                    values.extend(_address_value(member) for member in members)
                fields.append(tuple(values))
            found = tuple(fields)
            self._addresses[key] = found
        return found


def _address_value(item: Mailbox | InvalidAddress) -> AddressValue:
    if isinstance(item, InvalidAddress):
        return AddressValue(item.text.strip(), None, None)
    if not item.domain:
        return AddressValue(item.local, None, None)
    return AddressValue(item.addr_spec, item.local, item.domain)
