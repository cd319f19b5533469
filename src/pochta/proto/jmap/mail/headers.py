"""Header fields in the forms of RFC 8621 section 4.1.2: Raw, Text, Addresses, GroupedAddresses,
MessageIds, Date and URLs, and the EmailHeader list of section 4.1.3.

Every form starts from the Raw value of a field as ``mime.header.parse_header`` found it; the
address grammar, RFC 2047, msg-id and date parsing are pochta's (``mime.address``,
``mime.encoded_words``, ``mime.fields``), applied as RFC 8621 says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pochta.mime.address import Group, InvalidAddress, Mailbox, parse_address_list, recover_address
from pochta.mime.encoded_words import decode_encoded_words_strict
from pochta.mime.fields import parse_date_zone, strict_message_ids
from pochta.mime.header import parse_header
from pochta.mime.params import skip_cfws
from pochta.mime.source import Source
from pochta.mime.text import scrub
from pochta.proto.jmap.dates import format_date
from pochta.proto.jmap.mail.properties import Form, HeaderProperty

Fields = Sequence[tuple[str, bytes]]  # (name as written, raw value) in message order

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_WSP_RUN = re.compile(r"[ \t\r\n]+")
# RFC 2369 §2: a list of URLs in angle brackets, separated by commas, with comments anywhere.
_URL = re.compile(r"<([^<>]*)>")


def fields_of(data: Source, header_start: int, body_start: int, max_fields: int) -> list[tuple[str, bytes]]:
    """The header fields of the entity whose header is ``data[header_start:body_start]``."""
    return parse_header(data, header_start, body_start, max_fields, mbox_from=header_start == 0).fields


def raw(value: bytes) -> str:
    """RFC 8621 section 4.1.2.1 Raw: the octets after the colon up to the terminating CRLF; octets
    that are not UTF-8 become U+FFFD ("SHOULD"), NUL octets are dropped ("MUST")."""
    if value.endswith(b"\r"):
        value = value[:-1]
    text = value.decode("utf-8", "replace")
    return text.replace("\x00", "") if "\x00" in text else text


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: remove every line break that precedes white space."""
    return _FOLD.sub("", value) if "\n" in value else value


def _nfc(text: str) -> str:
    text = scrub(text)
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def text(value: str) -> str:
    """RFC 8621 section 4.1.2.2 Text: unfolded, leading SP removed, RFC 2047 words decoded by the
    letter of RFC 2047, NFC."""
    return _nfc(decode_encoded_words_strict(unfold(value).lstrip(" ")))


def _name(written: str | None) -> str | None:
    """RFC 8621 section 4.1.2.3: a display name with quotes and quoted-pairs gone (the parser did
    that, and wrote the words of a phrase one space apart), encoded words decoded as for Text,
    white space unfolded and trimmed; None if empty."""
    if written is None:
        return None
    name = _nfc(decode_encoded_words_strict(unfold(written))).strip()
    return name or None


def _mailbox(item: Mailbox) -> dict[str, Any]:
    name = _name(item.raw_name)
    if name is None and item.comment is not None:
        # RFC 8621 section 4.1.2.3: no display-name, a comment after the addr-spec: the name.
        name = _name(item.comment)
    return {"name": name, "email": item.addr_spec}


def _invalid(item: InvalidAddress) -> dict[str, Any] | None:
    """RFC 8621 section 4.1.2.3: "best effort in the face of invalid structure": the name and the
    address a reader sees in it (an email need not be an addr-spec), None when there is neither."""
    found = recover_address(item.text)
    email = "@".join(part for part in (found.local, found.domain) if part)
    name = _name(found.name)
    if not email and name is None:
        return None
    return {"name": name, "email": email}


def _members(members: Sequence[Mailbox | InvalidAddress]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for member in members:
        address = _mailbox(member) if isinstance(member, Mailbox) else _invalid(member)
        if address is not None:
            out.append(address)
    return out


def grouped_addresses(value: str) -> list[dict[str, Any]]:
    """RFC 8621 section 4.1.2.4 GroupedAddresses: groups kept, consecutive mailboxes outside any
    group collected under a group whose name is null."""
    out: list[dict[str, Any]] = []
    loose: list[Mailbox | InvalidAddress] = []
    for item in parse_address_list(unfold(value)):
        if isinstance(item, Group):
            if loose:
                out.append({"name": None, "addresses": _members(loose)})
                loose = []
            out.append({"name": _name(item.raw_name), "addresses": _members(item.members)})
        else:
            loose.append(item)
    if loose:
        out.append({"name": None, "addresses": _members(loose)})
    return [group for group in out if group["name"] is not None or group["addresses"]]


def addresses(value: str) -> list[dict[str, Any]]:
    """RFC 8621 section 4.1.2.3 Addresses: every mailbox, groups flattened."""
    return [address for group in grouped_addresses(value) for address in group["addresses"]]


def message_ids(value: str) -> list[str] | None:
    """RFC 8621 section 4.1.2.5 MessageIds: msg-ids without CFWS and brackets; null if invalid."""
    found = strict_message_ids(unfold(value))
    return list(found) if found is not None else None


def date(value: str) -> str | None:
    """RFC 8621 section 4.1.2.6 Date: the date-time in its own zone (RFC 8620 Date); null if it
    does not parse."""
    found = parse_date_zone(_WSP_RUN.sub(" ", unfold(value)).strip())
    return _zoned_date(*found) if found is not None else None


def urls(value: str) -> list[str] | None:
    """RFC 8621 section 4.1.2.7 URLs: the RFC 2369 list, without brackets and comments; null when
    the value is not such a list (e.g. List-Post's "NO")."""
    value = unfold(value)
    out: list[str] = []
    pos = skip_cfws(value, 0)
    while pos < len(value):
        found = _URL.match(value, pos)
        if found is None:
            return None
        out.append(_WSP_RUN.sub("", found.group(1)))  # RFC 2369 §2: white space in a URL is ignored
        pos = skip_cfws(value, found.end())
        if pos < len(value):
            if value[pos] != ",":
                return None
            pos = skip_cfws(value, pos + 1)
    return out if out else None


_PARSERS = {
    Form.RAW: lambda value: value,
    Form.TEXT: text,
    Form.ADDRESSES: addresses,
    Form.GROUPED_ADDRESSES: grouped_addresses,
    Form.MESSAGE_IDS: message_ids,
    Form.DATE: date,
    Form.URLS: urls,
}


def in_form(value: str, form: Form) -> Any:
    """A Raw value in ``form``."""
    return _PARSERS[form](value)


def header_value(fields: Fields, prop: HeaderProperty) -> Any:
    """RFC 8621 section 4.1.3: the last instance of the field in the form (null if none), or with
    ``:all`` every instance in order (an empty list if none)."""
    found = [raw(value) for name, value in fields if name.lower() == prop.name]
    if prop.all:
        return [in_form(value, prop.form) for value in found]
    return in_form(found[-1], prop.form) if found else None


def email_headers(fields: Fields) -> list[dict[str, str]]:
    """RFC 8621 section 4.1.3 ``headers``: every field in order, name as written, Raw value."""
    return [{"name": name, "value": raw(value)} for name, value in fields]


def _zoned_date(seconds: int, offset: int) -> str | None:
    """UTC ``seconds`` as a Date in the zone ``offset`` seconds east of UTC (the zone the field
    was written in); None when the moment cannot be written (a year outside 1..9999)."""
    try:
        moment = datetime.fromtimestamp(seconds, timezone(timedelta(seconds=offset)))
    except (OverflowError, OSError, ValueError):
        return None
    return format_date(moment)
