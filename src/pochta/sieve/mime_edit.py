"""The messages ``replace`` and ``enclose`` make (RFC 5703 section 5 and section 6): a MIME part
or the whole message replaced by the script's text, or the message enclosed as a
message/rfc822 attachment of a new one. Pure: bytes in, bytes out; the interpreter decides
which part and keeps the result as the message later tests and actions see."""

from __future__ import annotations

import hashlib
import quopri
from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime

from pochta.mime.header import parse_header
from pochta.sieve.editheader import encode_field_value

__all__ = ["enclose_message", "replace_message", "replacement_entity"]

Field = tuple[str, bytes]
_MAX_FIELDS = 1000


def _crlf(text: str) -> bytes:
    return (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\r\n")
        .encode("utf-8", "surrogateescape")
    )


def _is_mime_field(name: str) -> bool:
    lower = name.lower()
    return lower.startswith("content-") or lower == "mime-version"


def _field_lines(fields: Iterable[Field]) -> bytes:
    """Fields as header lines; a raw value keeps its folds, each line end made CRLF."""
    lines = [name.encode("latin-1") + b":" + value.rstrip(b"\r\n") for name, value in fields]
    return b"".join(line.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n" for line in lines)


def replacement_entity(text: str, mime: bool) -> bytes:
    """The MIME entity (header, blank line, body) that replaces a part: with :mime the script's
    text is one already; without, it is the body of a text/plain part in UTF-8 (section 5)."""
    body = _crlf(text)
    if mime:
        # An entity with no header at all starts with its blank line (RFC 2045 section 2.4).
        return body if b"\r\n\r\n" in body or body.startswith(b"\r\n") else body + b"\r\n\r\n"
    if body.isascii() and all(len(line) <= 998 for line in body.split(b"\r\n")):
        encoding = "7bit"
    else:
        # 8-bit text travels as quoted-printable, so that redirecting the edited message never
        # needs an 8BITMIME relay (RFC 2045 section 6.7).
        encoding = "quoted-printable"
        body = quopri.encodestring(body.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    header = f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    return header.encode("ascii") + body


def replace_message(fields: list[Field], entity: bytes, subject: bytes | None, sender: bytes | None) -> bytes:
    """The whole message replaced (section 5): every field of ``fields`` but those of the MIME
    structure replaced, the entity's own fields, and the new Subject/From with the old ones kept
    as Original-Subject/Original-From."""
    parsed = parse_header(entity, 0, len(entity), _MAX_FIELDS)
    kept: list[Field] = []
    for name, value in fields:
        lower = name.lower()
        if _is_mime_field(name):
            continue
        if lower == "subject" and subject is not None:
            kept.append(("Original-Subject", value))  # section 5: the previous Subject, preserved
        elif lower == "from" and sender is not None:
            kept.append(("Original-From", value))
        else:
            kept.append((name, value))
    if subject is not None:
        kept.append(("Subject", b" " + subject))
    if sender is not None:
        kept.append(("From", b" " + sender))
    kept.append(("MIME-Version", b" 1.0"))
    kept.extend(parsed.fields)
    return _field_lines(kept) + b"\r\n" + entity[parsed.body_start :]


def _boundary(*contents: bytes) -> str:
    digest = hashlib.sha256(b"".join(contents)).hexdigest()
    for size in range(24, len(digest) + 1):
        boundary = f"=_pochta-enclose-{digest[:size]}"
        if not any(boundary.encode("ascii") in content for content in contents):
            return boundary
    return f"=_pochta-enclose-{digest}-{len(b''.join(contents))}"


def enclose_message(
    original: bytes,
    original_fields: list[Field],
    text: str,
    subject: str | None,
    copied: Iterable[str],
    sender: str,
    now: datetime,
) -> bytes:
    """Section 6: a multipart/mixed message of the script's text (text/plain) and the original
    as message/rfc822; the Subject is ``subject`` or the original's; the fields named in
    ``copied`` come from the original; Date and From, unless copied, are made (now, the user)."""
    wanted = {name.lower() for name in copied}
    fields: list[Field] = [
        (name, value)
        for name, value in original_fields
        if name.lower() in wanted and not _is_mime_field(name) and name.lower() != "subject"
    ]
    if "date" not in wanted:
        fields.append(("Date", b" " + format_datetime(now).encode("ascii")))
    if "from" not in wanted:
        fields.append(("From", b" " + encode_field_value("From", sender)))
    if subject is not None:
        fields.append(("Subject", b" " + encode_field_value("Subject", subject)))
    else:
        fields.extend((name, value) for name, value in original_fields if name.lower() == "subject")
    note = replacement_entity(text, mime=False)
    boundary = _boundary(original, note)
    fields.append(("MIME-Version", b" 1.0"))
    fields.append(("Content-Type", f' multipart/mixed; boundary="{boundary}"'.encode("ascii")))
    delimiter = f"--{boundary}\r\n".encode("ascii")
    enclosed = original if original.endswith(b"\r\n") else original + b"\r\n"
    return (
        _field_lines(fields)
        + b"\r\nThis is a message in MIME format.\r\n\r\n"
        + delimiter
        + note
        + (b"" if note.endswith(b"\r\n") else b"\r\n")
        + delimiter
        + b"Content-Type: message/rfc822\r\n"
        + (b"" if original.isascii() else b"Content-Transfer-Encoding: 8bit\r\n")
        + b"\r\n"
        + enclosed
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )
