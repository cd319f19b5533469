"""JMAP MDN (RFC 9007): the MDN object, the message disposition notification an MDN/send builds
(RFC 8098: a multipart/report with report-type disposition-notification), and the MDN object
MDN/parse reads back from such a message. Pure: octets and JSON in, octets and JSON out.

Decisions taken here:

* The report's header fields are ASCII: the human-readable part is UTF-8 text (base64 when it is
  not plain short ASCII lines); a final recipient with non-ASCII characters makes the report a
  ``message/global-disposition-notification`` with a ``utf-8`` address type (RFC 6533 section 6).
* The third part (the original message, RFC 8098 section 3) is sent only when the client asks
  (``includeOriginalMessage``): the original whole as ``message/rfc822``, or its header only
  (``text/rfc822-headers``) when a body line is too long to travel in a message.
* Subject and text the client leaves null get a plain default naming the disposition.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.header import parse_header
from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.mail.header_encode import BadValue, date_field, fold, text_tokens, write_field
from pochta.proto.jmap.mail.headers import addresses, raw
from pochta.proto.jmap.mail.properties import Form

__all__ = [
    "MDN_CAPABILITY",
    "MDN_PROPERTIES",
    "Disposition",
    "MdnRequest",
    "Original",
    "build_mdn",
    "final_recipient_address",
    "original_facts",
    "parse_mdn",
    "parse_mdn_request",
]

MDN_CAPABILITY = "urn:ietf:params:jmap:mdn"  # RFC 9007 section 1.3

# RFC 9007 section 2: the MDN object's properties.
MDN_PROPERTIES = (
    "forEmailId", "subject", "textBody", "includeOriginalMessage", "reportingUA", "disposition",
    "mdnGateway", "originalRecipient", "finalRecipient", "originalMessageId", "error",
    "extensionFields",
)  # fmt: skip
_SERVER_SET = frozenset({"mdnGateway", "originalRecipient", "originalMessageId", "error"})

# RFC 9007 section 2: the Disposition object's values (RFC 8098 section 3.2.6), in lowercase.
ACTION_MODES = ("manual-action", "automatic-action")
SENDING_MODES = ("mdn-sent-manually", "mdn-sent-automatically")
TYPES = ("deleted", "dispatched", "displayed", "processed")
_SENDING_MODE_WRITTEN = {
    "mdn-sent-manually": "MDN-sent-manually",
    "mdn-sent-automatically": "MDN-sent-automatically",
}

# RFC 8098 section 3.1: the fields of the report part this module reads as MDN properties.
_KNOWN_FIELDS = frozenset(
    {"reporting-ua", "mdn-gateway", "original-recipient", "final-recipient", "original-message-id",
     "disposition", "error"}
)  # fmt: skip
# RFC 8098 section 3.3: extension-field-name is a field name (RFC 5322 section 3.6.8 ftext).
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_FIELDS = 1000
_REPORT_TYPES = ("message/disposition-notification", "message/global-disposition-notification")


@dataclass(frozen=True)
class Disposition:
    action_mode: str
    sending_mode: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {"actionMode": self.action_mode, "sendingMode": self.sending_mode, "type": self.type}

    def field_value(self) -> str:
        # RFC 8098 section 3.2.6: disposition-mode ";" disposition-type.
        return f"{self.action_mode}/{_SENDING_MODE_WRITTEN[self.sending_mode]}; {self.type}"


@dataclass(frozen=True)
class MdnRequest:
    """One MDN of an MDN/send: what the client set (RFC 9007 section 2)."""

    for_email_id: str
    disposition: Disposition
    subject: str | None = None
    text_body: str | None = None
    include_original_message: bool = False
    reporting_ua: str | None = None
    final_recipient: str | None = None
    extension_fields: Mapping[str, str] = field(default_factory=dict)
    given: frozenset[str] = frozenset()  # the properties the client named


def _invalid(description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, properties))


def _optional_text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{name} is a String or null", name)
    if value is not None and name != "textBody" and _CONTROLS.search(value):
        raise _invalid(f"{name} may not hold line breaks or controls", name)
    return value


def _disposition(value: Any) -> Disposition:
    if not isinstance(value, dict) or set(value) != {"actionMode", "sendingMode", "type"}:
        raise _invalid("disposition is an object of actionMode, sendingMode and type", "disposition")
    # RFC 9007 section 2: case-sensitive values, one of the listed strings each.
    for key, allowed in (("actionMode", ACTION_MODES), ("sendingMode", SENDING_MODES), ("type", TYPES)):
        if value[key] not in allowed:
            raise _invalid(f"disposition.{key} must be one of {', '.join(allowed)}", f"disposition/{key}")
    return Disposition(value["actionMode"], value["sendingMode"], value["type"])


def _extension_fields(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("extensionFields is a map of field names to values, or null", "extensionFields")
    fields: dict[str, str] = {}
    for name, text in value.items():
        if not _FIELD_NAME.match(name) or name.lower() in _KNOWN_FIELDS:
            raise _invalid(f"{name!r} is not an extension field name", f"extensionFields/{name}")
        if not isinstance(text, str) or _CONTROLS.search(text) or not text.isascii():
            raise _invalid(f"the value of {name} must be one line of ASCII text", f"extensionFields/{name}")
        fields[name] = text
    return fields


def parse_mdn_request(record: Any) -> MdnRequest:
    """One MDN of MDN/send's ``send``; SetFailure invalidProperties naming what is wrong."""
    if not isinstance(record, dict):
        raise _invalid("an MDN is an object")
    unknown = sorted(set(record) - set(MDN_PROPERTIES))
    if unknown:
        raise _invalid(f"unknown properties {unknown}", *unknown)
    server_set = sorted(name for name in _SERVER_SET if record.get(name) is not None)
    if server_set:
        # RFC 9007 section 2: these are server-set.
        raise _invalid(f"{server_set} are set by the server", *server_set)
    for_email = record.get("forEmailId")
    if not isinstance(for_email, str) or not for_email:
        # RFC 9007 section 2: forEmailId MUST NOT be null for MDN/send.
        raise _invalid("forEmailId is an Email id", "forEmailId")
    include = record.get("includeOriginalMessage", False)
    if not isinstance(include, bool):
        raise _invalid("includeOriginalMessage is a Boolean", "includeOriginalMessage")
    final = _optional_text(record, "finalRecipient")
    if final is not None and final_recipient_address(final) is None:
        raise _invalid("finalRecipient is 'rfc822; address'", "finalRecipient")
    return MdnRequest(
        for_email_id=for_email,
        disposition=_disposition(record.get("disposition")),
        subject=_optional_text(record, "subject"),
        text_body=_optional_text(record, "textBody"),
        include_original_message=include,
        reporting_ua=_optional_text(record, "reportingUA"),
        final_recipient=final,
        extension_fields=_extension_fields(record.get("extensionFields")),
        given=frozenset(record),
    )


def final_recipient_address(value: str) -> str | None:
    """The address of a Final-Recipient value (RFC 8098 section 3.2.4: address-type ";"
    generic-address), or of a bare address; None when it is not an Internet mail address."""
    kind, separator, address = value.partition(";")
    if not separator:
        kind, address = "rfc822", value
    address = address.strip()
    if kind.strip().lower() not in ("rfc822", "utf-8") or "@" not in address or " " in address:
        return None
    return address


@dataclass(frozen=True)
class Original:
    """What an MDN needs of the message it is about (RFC 8098 sections 2 and 3.2)."""

    notify_to: tuple[str, ...]  # Disposition-Notification-To's addresses (section 2.1)
    message_id: str | None  # Message-ID as written, with its angle brackets (section 3.2.5)
    original_recipient: str | None  # the Original-Recipient field's value (section 3.2.3)
    subject: str | None


def original_facts(data: bytes) -> Original:
    fields = parse_header(data, 0, len(data), _MAX_FIELDS, mbox_from=True).fields
    first: dict[str, str] = {}
    notify: list[str] = []
    for name, value in fields:
        lowered = name.lower()
        if lowered == "disposition-notification-to":
            notify.extend(item["email"] for item in addresses(raw(value)) if item.get("email"))
        else:
            first.setdefault(lowered, raw(value).strip())
    message_id = first.get("message-id")
    recipient = first.get("original-recipient")
    subject = first.get("subject")
    return Original(
        notify_to=tuple(dict.fromkeys(notify)),
        message_id=" ".join(message_id.split()) if message_id else None,
        original_recipient=" ".join(recipient.split()) if recipient else None,
        subject=" ".join(decode_encoded_words(subject).split()) if subject is not None else None,
    )


def _text_part(text: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\r\n".join(lines)
    if body.isascii() and all(len(line) <= 76 for line in lines):
        plain = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n"
        return (plain + "\r\n" + body + "\r\n").encode("ascii")
    encoded = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    head = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    return head + b"\r\n" + encoded


def _default_text(disposition: Disposition, original: Original) -> str:
    about = f' with subject "{original.subject}"' if original.subject else ""
    # RFC 8098 section 3.1.1: "displayed" is no proof that it was read or understood.
    return f"The message{about} has been {disposition.type}." + (
        "\nThis is no guarantee that the message has been read or understood."
        if disposition.type == "displayed"
        else ""
    )


def build_mdn(
    mdn: MdnRequest,
    original: Original,
    original_octets: bytes,
    *,
    from_field: Mapping[str, Any],
    final_recipient: str,
    now: datetime,
    message_id_domain: str,
) -> bytes:
    """The MDN message (RFC 8098 section 3: a multipart/report of the human-readable text, the
    message/disposition-notification report and, when asked, the original), CRLF throughout.
    ``final_recipient`` is an address. Raises BadValue when a field cannot be written."""
    boundary = "=_mdn_" + secrets.token_hex(12)
    utf8_address = not final_recipient.isascii()
    subject = mdn.subject
    if subject is None:
        subject = f"Disposition notification ({mdn.disposition.type})" + (
            f": {original.subject}" if original.subject else ""
        )
    header = [
        write_field("From", Form.ADDRESSES, [dict(from_field)]),
        write_field("To", Form.ADDRESSES, [{"email": address} for address in original.notify_to]),
        fold("Subject", text_tokens(subject)) if subject else "",
        f"Date: {date_field(now)}\r\n",
        f"Message-ID: <{secrets.token_hex(16)}@{message_id_domain}>\r\n",
    ]
    if original.message_id:
        # RFC 5322 section 3.6.4: a reply's threading fields.
        header += [f"In-Reply-To: {original.message_id}\r\n", f"References: {original.message_id}\r\n"]
    if mdn.disposition.sending_mode == "mdn-sent-automatically":
        header.append("Auto-Submitted: auto-replied\r\n")  # RFC 3834 section 5
    header += [
        "MIME-Version: 1.0\r\n",
        fold(
            "Content-Type",
            [" multipart/report;", " report-type=disposition-notification;", f' boundary="{boundary}"'],
        ),
    ]
    # RFC 8098 section 3.1: the report's fields, in its order.
    report: list[str] = []
    if mdn.reporting_ua:
        report.append(fold("Reporting-UA", text_tokens(mdn.reporting_ua)))
    if original.original_recipient:
        # RFC 8098 section 3.2.3: copied from the Original-Recipient field when there is one.
        report.append(f"Original-Recipient: {original.original_recipient}\r\n")
    # RFC 8098 section 3.2.4 and RFC 6533 section 6: utf-8 for an internationalised address.
    report.append(f"Final-Recipient: {'utf-8' if utf8_address else 'rfc822'}; {final_recipient}\r\n")
    if original.message_id:
        report.append(f"Original-Message-ID: {original.message_id}\r\n")
    report.append(f"Disposition: {mdn.disposition.field_value()}\r\n")
    report += [fold(name, text_tokens(value)) for name, value in mdn.extension_fields.items()]
    report_type = _REPORT_TYPES[1] if utf8_address else _REPORT_TYPES[0]
    text = mdn.text_body if mdn.text_body is not None else _default_text(mdn.disposition, original)
    parts = [_text_part(text), f"Content-Type: {report_type}\r\n\r\n{''.join(report)}".encode()]
    if mdn.include_original_message:
        parts.append(_original_part(original_octets))
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    message = "".join(header).encode("utf-8") + b"\r\n"
    return message + body + f"--{boundary}--\r\n".encode()


def _original_part(data: bytes) -> bytes:
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if all(len(line) <= 998 for line in data.split(b"\r\n")):
        encoding = "7bit" if data.isascii() else "8bit"
        kind = "message/rfc822" if data.isascii() else "message/global"  # RFC 6532 section 3.7
        head = f"Content-Type: {kind}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
        return head.encode() + data.rstrip(b"\r\n") + b"\r\n"
    # RFC 8098 section 3: the header alone is allowed as the third part.
    end = data.find(b"\r\n\r\n")
    original_header = data if end < 0 else data[: end + 2]
    return b"Content-Type: text/rfc822-headers\r\n\r\n" + original_header


def _field_text(value: object) -> str:
    """A field value as the parser gives it (undecodable octets as surrogates), as UTF-8 text
    (RFC 6532) on one line."""
    if isinstance(value, Header):  # the parser's form of a field with 8-bit octets
        text = "".join(
            chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            for chunk, _ in decode_header(value)
        )
    else:
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _parse_disposition(value: str) -> tuple[Disposition, bool] | None:
    """RFC 8098 section 3.2.6: mode ";" type ["/" modifier *("," modifier)]; the Disposition and
    whether the error modifier is there. Values are lowercased (RFC 9007 section 2)."""
    mode, separator, rest = value.partition(";")
    if not separator:
        return None
    action, slash, sending = mode.partition("/")
    kind, _, modifiers = rest.partition("/")
    found = Disposition(action.strip().lower(), sending.strip().lower(), kind.strip().lower())
    if not slash or (found.action_mode, found.sending_mode, found.type) == ("", "", ""):
        return None
    if found.action_mode not in ACTION_MODES or found.sending_mode not in SENDING_MODES:
        return None
    if found.type not in TYPES:
        return None
    has_error = any(item.strip().lower() == "error" for item in modifiers.split(","))
    return found, has_error


def _report_fields(part: Message) -> list[tuple[str, str]] | None:
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser reads message/* as an embedded header
        embedded = [item for item in payload if isinstance(item, Message)]
        return [(name, _field_text(value)) for item in embedded for name, value in item.items()]
    octets = part.get_payload(decode=True)
    if not isinstance(octets, bytes):
        return None
    parsed = BytesHeaderParser(policy=compat32).parsebytes(octets.lstrip(b"\r\n"))
    return [(name, _field_text(value)) for name, value in parsed.items()]


def _text_of(part: Message) -> str | None:
    octets = part.get_payload(decode=True)
    if not isinstance(octets, bytes):
        return None
    charset = part.get_content_charset() or "us-ascii"
    try:
        return octets.decode(charset, errors="replace").replace("\r\n", "\n").strip("\n")
    except LookupError:
        return octets.decode("utf-8", errors="replace").replace("\r\n", "\n").strip("\n")


def parse_mdn(data: bytes) -> dict[str, Any] | None:
    """The MDN object of a message (RFC 9007 section 3.2), without forEmailId (the caller finds
    it from originalMessageId); None when the message is not an MDN (RFC 8098 section 3)."""
    message = message_from_bytes(data, policy=compat32)
    if message.get_content_type() != "multipart/report" or not message.is_multipart():
        return None
    payload = message.get_payload()
    if not isinstance(payload, list):
        return None
    parts = [part for part in payload if isinstance(part, Message)]
    report = next((p for p in parts if p.get_content_type() in _REPORT_TYPES), None)
    if report is None:
        return None
    fields = _report_fields(report)
    if fields is None:
        return None
    values: dict[str, str] = {}
    errors: list[str] = []
    extensions: dict[str, str] = {}
    for name, value in fields:
        lowered, text = name.lower(), value
        if lowered == "error":
            errors.append(text)
        elif lowered in _KNOWN_FIELDS:
            values.setdefault(lowered, text)
        else:
            extensions[name] = text
    disposition = _parse_disposition(values.get("disposition", ""))
    # RFC 8098 section 3.1: Final-Recipient and Disposition are required.
    if disposition is None or "final-recipient" not in values:
        return None
    first = parts[0] if parts[0] is not report else None
    text_body = None if first is None or first.get_content_maintype() != "text" else _text_of(first)
    subject = message.get("Subject")
    include = any(
        p.get_content_type() in ("message/rfc822", "message/global") for p in parts if p is not report
    )
    return {
        "forEmailId": None,
        "subject": None if subject is None else decode_encoded_words(_field_text(subject)),
        "textBody": text_body,
        "includeOriginalMessage": include,
        "reportingUA": values.get("reporting-ua"),
        "disposition": disposition[0].to_json(),
        "mdnGateway": values.get("mdn-gateway"),
        "originalRecipient": values.get("original-recipient"),
        "finalRecipient": values["final-recipient"],
        "originalMessageId": values.get("original-message-id"),
        # RFC 8098 section 3.2.7: Error fields go with the error modifier; read them either way.
        "error": errors or None,
        "extensionFields": extensions or None,
    }


def unsupported_value(error: BadValue) -> SetFailure:
    """A field the builder cannot write: the record is invalid."""
    return _invalid(str(error))
