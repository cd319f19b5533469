"""The SMTP envelope of an EmailSubmission (RFC 8621 section 7): given by the client, or derived
from the Email's header fields; and the Email's octets as sent (without Bcc, section 7.5)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pochta.mime.header import parse_header
from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.mail.headers import addresses, raw

__all__ = [
    "Address",
    "Envelope",
    "HeaderAddresses",
    "allowed_by_identity",
    "derive_envelope",
    "header_addresses",
    "parse_envelope",
    "without_bcc",
]

_MAX_FIELDS = 1000
# A header field line that starts a Bcc field (RFC 5322 section 3.6.3), in any case.
_BCC = re.compile(rb"bcc[ \t]*:", re.IGNORECASE)


@dataclass(frozen=True)
class Address:
    """RFC 8621 section 7 Address: a Mailbox of the reverse- or forward-path, and its parameters."""

    email: str
    parameters: Mapping[str, str | None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"email": self.email, "parameters": None if self.parameters is None else dict(self.parameters)}


@dataclass(frozen=True)
class Envelope:
    mail_from: Address
    rcpt_to: tuple[Address, ...]

    def to_json(self) -> dict[str, Any]:
        return {"mailFrom": self.mail_from.to_json(), "rcptTo": [a.to_json() for a in self.rcpt_to]}


def _invalid_envelope(description: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, ("envelope",)))


def _address(value: Any, where: str) -> Address:
    if not isinstance(value, dict) or not set(value) <= {"email", "parameters"}:
        raise _invalid_envelope(f"{where} must be an Address object (email, parameters)")
    email, parameters = value.get("email"), value.get("parameters")
    if not isinstance(email, str):
        raise _invalid_envelope(f"{where}.email must be a String")
    if parameters is not None and (
        not isinstance(parameters, dict) or not all(isinstance(v, str | None) for v in parameters.values())
    ):
        raise _invalid_envelope(f"{where}.parameters must be an object of Strings or nulls, or null")
    return Address(email, parameters)


def parse_envelope(value: Any) -> Envelope | None:
    """The ``envelope`` of a create, checked for its shape (None: derive it)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"mailFrom", "rcptTo"}:
        raise _invalid_envelope("envelope must be an object with mailFrom and rcptTo")
    rcpt_to = value["rcptTo"]
    if not isinstance(rcpt_to, list):
        raise _invalid_envelope("envelope.rcptTo must be an array of Address")
    return Envelope(
        _address(value["mailFrom"], "mailFrom"),
        tuple(_address(item, "rcptTo") for item in rcpt_to),
    )


@dataclass(frozen=True)
class HeaderAddresses:
    """The addresses of the Email's originator and destination fields, each field's own list."""

    sender: list[list[str]] = field(default_factory=list)
    from_: list[list[str]] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # To, Cc and Bcc, in message order


def header_addresses(data: bytes) -> HeaderAddresses:
    fields = parse_header(data, 0, len(data), _MAX_FIELDS, mbox_from=True).fields
    out = HeaderAddresses()
    for name, value in fields:
        found = [item["email"] for item in addresses(raw(value)) if item.get("email")]
        match name.lower():
            case "sender":
                out.sender.append(found)
            case "from":
                out.from_.append(found)
            case "to" | "cc" | "bcc":
                out.recipients.extend(found)
    return out


def allowed_by_identity(address: str, identity_email: str) -> bool:
    """RFC 8621 section 6: an Identity's email, or any address of its domain when its local part
    is ``*``. Compared without case (pochta's addresses are case-insensitive)."""
    local, _, domain = identity_email.rpartition("@")
    if local == "*":
        return address.rpartition("@")[2].lower() == domain.lower()
    return address.lower() == identity_email.lower()


def derive_envelope(headers: HeaderAddresses, identity_email: str) -> Envelope:
    """RFC 8621 section 7: mailFrom from the Sender field, else From (SetFailure invalidEmail when
    there are several fields or addresses), the Identity's email when that one is not the
    Identity's; rcptTo the deduplicated addresses of To, Cc and Bcc."""
    mail_from = identity_email
    for prop, found in (("sender", headers.sender), ("from", headers.from_)):
        if not found:
            continue
        if len(found) > 1 or len(found[-1]) > 1:
            raise SetFailure(
                SetError(
                    SetErrorType.INVALID_EMAIL,
                    f"the Email has several {prop} addresses: give the envelope",
                    (prop,),
                )
            )
        if found[-1] and allowed_by_identity(found[-1][0], identity_email):
            mail_from = found[-1][0]
        break
    seen: dict[str, str] = {}
    for address in headers.recipients:
        seen.setdefault(address.lower(), address)
    return Envelope(Address(mail_from), tuple(Address(a) for a in seen.values()))


def without_bcc(data: bytes) -> bytes:
    """The message without its Bcc fields (RFC 8621 section 7.5: "MUST remove any Bcc header
    field present on the message during delivery"); the body is not looked at."""
    end = data.find(b"\r\n\r\n")
    header_end = len(data) if end < 0 else end + 2
    kept: list[bytes] = []
    dropping = False
    for line in data[:header_end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = _BCC.match(line) is not None
        if not dropping:
            kept.append(line)
    return b"".join(kept) + data[header_end:]
