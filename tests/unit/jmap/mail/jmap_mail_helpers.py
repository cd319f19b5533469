"""Shared helpers for the JMAP Email tests: a message parsed as delivery parses it, its Email, and
a small hand-written MIME builder (independent of ``compose``) for structures the tests need."""

from __future__ import annotations

from typing import Any

from pochta.config import MimeSettings
from pochta.mime import Part, parse_message
from pochta.proto.jmap.mail import email_object, email_request


def blob_id(part_id: str, part: Part) -> str:
    return f"B-{part_id}"


def get(data: bytes, properties: list[str] | None = None, body_properties: list[str] | None = None,
        **arguments: Any) -> dict[str, Any]:  # fmt: skip
    """The Email of ``data`` with the given Email/get arguments (metadata: an id only)."""
    request = email_request(properties, body_properties, **arguments)
    parsed = parse_message(data, MimeSettings())
    return email_object(request, data, parsed, blob_id=blob_id, metadata={"id": "M1"})


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def leaf(content_type: str, body: str = "x", disposition: str | None = None, extra: str = "") -> str:
    fields = f"Content-Type: {content_type}\n"
    if disposition:
        fields += f"Content-Disposition: {disposition}\n"
    return fields + extra + "\n" + body


def multipart(subtype: str, *parts: str, boundary: str | None = None) -> str:
    boundary = boundary or f"b{abs(hash(parts)) % 10**8}-{subtype}-{len(parts)}"
    inner = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n{inner}--{boundary}--\n'


def message(entity: str, header: str = "From: a@example.com\nSubject: test\n") -> bytes:
    return crlf(header + "MIME-Version: 1.0\n" + entity)
