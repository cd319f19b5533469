"""The Identity object (RFC 8621 section 6) as pochta keeps it: a JSON document per Identity
(``IdentityDoc``) and the rules of Identity/set's create and update. Whether the account may send
as ``email`` is the submission policy's (``server.smtp.policy``), not decided here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.patch import apply_patch

__all__ = [
    "IDENTITY_PROPERTIES",
    "IdentityDoc",
    "create_identity",
    "identity_id",
    "identity_object",
    "parse_identity_id",
    "update_identity",
]

IDENTITY_PROPERTIES = (
    "id",
    "name",
    "email",
    "replyTo",
    "bcc",
    "textSignature",
    "htmlSignature",
    "mayDelete",
)
_WRITABLE = ("name", "replyTo", "bcc", "textSignature", "htmlSignature")
_SERVER_SET = ("id", "mayDelete")
# RFC 8621 section 6: the defaults of the optional properties.
_DEFAULTS: dict[str, Any] = {
    "name": "",
    "replyTo": None,
    "bcc": None,
    "textSignature": "",
    "htmlSignature": "",
}


def identity_id(number: int) -> str:
    return f"I{number}"


def parse_identity_id(text: str) -> int | None:
    digits = text[1:]
    if text[:1] != "I" or not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


@dataclass(frozen=True)
class IdentityDoc:
    """What the store keeps of an Identity. ``primary``: the account's own address, which is
    always there and may not be destroyed (mayDelete false)."""

    email: str
    name: str = ""
    reply_to: tuple[dict[str, Any], ...] | None = None
    bcc: tuple[dict[str, Any], ...] | None = None
    text_signature: str = ""
    html_signature: str = ""
    primary: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "replyTo": None if self.reply_to is None else list(self.reply_to),
            "bcc": None if self.bcc is None else list(self.bcc),
            "textSignature": self.text_signature,
            "htmlSignature": self.html_signature,
            "primary": self.primary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IdentityDoc:
        reply_to, bcc = data.get("replyTo"), data.get("bcc")
        return cls(
            email=str(data["email"]),
            name=str(data.get("name", "")),
            reply_to=None if reply_to is None else tuple(reply_to),
            bcc=None if bcc is None else tuple(bcc),
            text_signature=str(data.get("textSignature", "")),
            html_signature=str(data.get("htmlSignature", "")),
            primary=bool(data.get("primary", False)),
        )


def identity_object(number: int, doc: IdentityDoc) -> dict[str, Any]:
    """The Identity as Identity/get shows it (every property)."""
    shown = doc.to_json()
    del shown["primary"]
    return {"id": identity_id(number), **shown, "mayDelete": not doc.primary}


def _invalid(description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, properties))


def _addresses(value: Any, name: str) -> tuple[dict[str, Any], ...] | None:
    """RFC 8621 section 4.1.2.3 EmailAddress[]|null: objects of ``email`` and an optional ``name``."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid(f"{name} must be an array of EmailAddress or null", name)
    out = []
    for item in value:
        if (
            not isinstance(item, dict)
            or not set(item) <= {"name", "email"}
            or not isinstance(item.get("email"), str)
            or not isinstance(item.get("name"), str | None)
        ):
            raise _invalid(f"{name}: an EmailAddress is {{name: String|null, email: String}}", name)
        out.append({"name": item.get("name"), "email": item["email"]})
    return tuple(out)


def _strings(record: Mapping[str, Any]) -> None:
    for key in ("name", "textSignature", "htmlSignature"):
        if key in record and not isinstance(record[key], str):
            raise _invalid(f"{key} must be a String", key)


def _is_address(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() or c in "<>," for c in text)


def create_identity(record: Mapping[str, Any]) -> IdentityDoc:
    """An Identity/set create's record, checked (SetFailure: invalidProperties)."""
    unknown = [key for key in record if key not in IDENTITY_PROPERTIES or key in _SERVER_SET]
    if unknown:
        # RFC 8620 section 5.3: server-set or unknown properties are invalidProperties.
        raise _invalid("unknown or server-set properties", *unknown)
    email = record.get("email")
    if not isinstance(email, str) or not _is_address(email):
        raise _invalid("email must be an email address", "email")
    _strings(record)
    return IdentityDoc(
        email=email,
        name=record.get("name", ""),
        reply_to=_addresses(record.get("replyTo"), "replyTo"),
        bcc=_addresses(record.get("bcc"), "bcc"),
        text_signature=record.get("textSignature", ""),
        html_signature=record.get("htmlSignature", ""),
    )


def update_identity(number: int, doc: IdentityDoc, patch: Mapping[str, Any]) -> IdentityDoc:
    """The Identity after an Identity/set update's PatchObject (SetFailure: invalidPatch or
    invalidProperties). ``email`` is immutable (RFC 8621 section 6): it may be sent unchanged."""
    current = identity_object(number, doc)
    wanted = apply_patch(current, dict(patch))
    for key, default in _DEFAULTS.items():
        # RFC 8620 section 5.3: a property patched to null takes its default back.
        if wanted.get(key) is None:
            wanted[key] = default
    changed = [key for key in {*wanted, *current} if wanted.get(key) != current.get(key)]
    refused = [key for key in changed if key not in _WRITABLE]
    if refused:
        raise _invalid("immutable, server-set or unknown properties", *refused)
    _strings(wanted)
    return IdentityDoc(
        email=doc.email,
        name=wanted["name"],
        reply_to=_addresses(wanted["replyTo"], "replyTo"),
        bcc=_addresses(wanted["bcc"], "bcc"),
        text_signature=wanted["textSignature"],
        html_signature=wanted["htmlSignature"],
        primary=doc.primary,
    )
