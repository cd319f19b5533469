"""The Email object of a message (RFC 8621 section 4.2 Email/get, section 4.9 Email/parse): the
header and body properties asked for, from the message octets and the parse record kept at
delivery. The metadata (id, blobId, threadId, mailboxIds, keywords, size, receivedAt) is the
caller's: it passes what it has, and what it does not have is null (Email/parse).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.mime.source import Source
from pochta.mime.text import collapse
from pochta.proto.jmap.mail.body import (
    BlobIdOf,
    BodyPart,
    PartWriter,
    body_structure,
    has_attachment,
    split_body,
)
from pochta.proto.jmap.mail.body_values import body_values
from pochta.proto.jmap.mail.errors import InvalidArguments
from pochta.proto.jmap.mail.headers import email_headers, fields_of, header_value
from pochta.proto.jmap.mail.properties import (
    BODY_DEFAULT,
    BODY_PART_PROPERTIES,
    CONVENIENCE,
    EMAIL_PROPERTIES,
    GET_DEFAULT,
    METADATA,
    PARSE_DEFAULT,
    HeaderProperty,
    parse_header_property,
)

# RFC 8621 section 4.1.4 preview: "MUST NOT be more than 256 characters in length".
PREVIEW_CHARS = 256
# Header fields read per entity when a property needs them (the parser's default cap).
MAX_HEADER_FIELDS = MimeSettings().max_headers


@dataclass(frozen=True, slots=True)
class EmailRequest:
    """The arguments of Email/get or Email/parse that shape each Email, checked."""

    properties: tuple[str, ...]
    header_props: dict[str, HeaderProperty]  # the header: and convenience properties among them
    body_properties: tuple[str, ...]
    body_header_props: dict[str, HeaderProperty]
    fetch_text_body_values: bool = False
    fetch_html_body_values: bool = False
    fetch_all_body_values: bool = False
    max_body_value_bytes: int = 0


def _names(value: object, argument: str, default: Sequence[str]) -> tuple[str, ...]:
    if value is None:
        return tuple(default)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidArguments(f"{argument} must be a list of strings")
    return tuple(dict.fromkeys(value))  # a property asked twice is returned once


def _flag(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArguments(f"{argument} must be a boolean")
    return value


def email_request(
    properties: object = None,
    body_properties: object = None,
    *,
    fetch_text_body_values: object = False,
    fetch_html_body_values: object = False,
    fetch_all_body_values: object = False,
    max_body_value_bytes: object = 0,
    default: Sequence[str] = GET_DEFAULT,
) -> EmailRequest:
    """Check the arguments (RFC 8621 sections 4.2 and 4.9); ``properties`` and ``bodyProperties``
    None take their defaults (Email/get's, or with ``default=PARSE_DEFAULT`` Email/parse's).
    Raises InvalidArguments for an unknown property, a forbidden header form or a bad value."""
    names = _names(properties, "properties", default)
    header_props: dict[str, HeaderProperty] = {}
    for name in names:
        header = CONVENIENCE.get(name) or parse_header_property(name)
        if header is not None:
            header_props[name] = header
        elif name not in EMAIL_PROPERTIES:
            raise InvalidArguments(f"unknown Email property {name!r}")
    body_names = _names(body_properties, "bodyProperties", BODY_DEFAULT)
    body_header_props: dict[str, HeaderProperty] = {}
    for name in body_names:
        header = parse_header_property(name)
        if header is not None:
            body_header_props[name] = header
        elif name not in BODY_PART_PROPERTIES:
            raise InvalidArguments(f"unknown EmailBodyPart property {name!r}")
    if isinstance(max_body_value_bytes, bool) or not isinstance(max_body_value_bytes, int):
        raise InvalidArguments("maxBodyValueBytes must be an unsigned integer")
    if max_body_value_bytes < 0:  # RFC 8620 section 1.3 UnsignedInt
        raise InvalidArguments("maxBodyValueBytes must be an unsigned integer")
    return EmailRequest(
        names,
        header_props,
        body_names,
        body_header_props,
        _flag(fetch_text_body_values, "fetchTextBodyValues"),
        _flag(fetch_html_body_values, "fetchHTMLBodyValues"),
        _flag(fetch_all_body_values, "fetchAllBodyValues"),
        max_body_value_bytes,
    )


def email_object(
    request: EmailRequest,
    data: Source,
    parsed: ParsedMessage,
    *,
    blob_id: BlobIdOf,
    metadata: Mapping[str, Any],
    preview: str | None = None,
    max_headers: int = MAX_HEADER_FIELDS,
) -> dict[str, Any]:
    """The Email of the message ``data`` (its parse record ``parsed``) with the properties of
    ``request``, in the order asked. ``blob_id`` names the decoded octets of a part by partId;
    ``preview`` is the stored preview when the caller has it apart from the record."""
    out: dict[str, Any] = {}
    wanted = set(request.properties)
    root = parsed.root
    fields = (
        fields_of(data, root.header_start, root.body_start, max_headers)
        if "headers" in wanted or request.header_props
        else []
    )
    body = body_structure(root)
    needs_split = bool(wanted & {"textBody", "htmlBody", "attachments", "hasAttachment"}) or (
        "bodyValues" in wanted and (request.fetch_text_body_values or request.fetch_html_body_values)
    )
    text_body, html_body, attachments = split_body(body) if needs_split else ([], [], [])
    writer = PartWriter(data, request.body_properties, request.body_header_props, blob_id, max_headers)
    for prop in request.properties:
        if prop in METADATA:
            out[prop] = metadata.get(prop)
        elif prop in request.header_props:
            out[prop] = header_value(fields, request.header_props[prop])
        elif prop == "headers":
            out[prop] = email_headers(fields)
        elif prop == "bodyStructure":
            out[prop] = writer.write(body, with_sub_parts=True)
        elif prop == "textBody":
            out[prop] = [writer.write(part) for part in text_body]
        elif prop == "htmlBody":
            out[prop] = [writer.write(part) for part in html_body]
        elif prop == "attachments":
            out[prop] = [writer.write(part) for part in attachments]
        elif prop == "hasAttachment":
            out[prop] = has_attachment(attachments)
        elif prop == "preview":
            out[prop] = collapse(parsed.preview if preview is None else preview, PREVIEW_CHARS)
        elif prop == "bodyValues":
            parts = _value_parts(request, body, text_body, html_body)
            out[prop] = body_values(data, parts, request.max_body_value_bytes)
    return out


def _value_parts(
    request: EmailRequest, body: BodyPart, text_body: list[BodyPart], html_body: list[BodyPart]
) -> list[BodyPart]:
    """RFC 8621 section 4.2: the parts whose values the fetch*BodyValues arguments ask for."""
    parts: list[BodyPart] = []
    if request.fetch_all_body_values:
        parts.extend(body.walk())
    if request.fetch_text_body_values:
        parts.extend(text_body)
    if request.fetch_html_body_values:
        parts.extend(html_body)
    return parts


def is_message(parsed: ParsedMessage) -> bool:
    """Whether a blob reads as a message for Email/parse (RFC 8621 section 4.9 notParsable): one
    header field at least. pochta's parser reads anything (RFC 7103), so a blob without a single
    "name: value" line at its start (an image, an archive) is the one it calls not a message."""
    return bool(parsed.headers)


def parse_email(
    request: EmailRequest,
    blob: bytes,
    settings: MimeSettings,
    *,
    blob_id: BlobIdOf,
    metadata: Mapping[str, Any],
) -> dict[str, Any] | None:
    """RFC 8621 section 4.9 Email/parse of one blob (e.g. a message/rfc822 attachment): the Email,
    or None when the blob is not a message (notParsable). The caller gives ``request`` built with
    ``default=PARSE_DEFAULT`` and the metadata it can (blobId, size; id, mailboxIds, keywords and
    receivedAt are null)."""
    parsed = parse_message(blob, settings)
    if not is_message(parsed):
        return None
    return email_object(request, blob, parsed, blob_id=blob_id, metadata=metadata)


__all__ = [
    "PARSE_DEFAULT",
    "EmailRequest",
    "email_object",
    "email_request",
    "is_message",
    "parse_email",
]
