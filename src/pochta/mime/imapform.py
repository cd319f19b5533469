"""IMAP wire forms of ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2).

Strings follow RFC 9051 §4.3: a quoted string when that is safe (7-bit, no CR/LF/NUL, short),
otherwise a literal ``{n}\\r\\n`` followed by the octets. With ``utf8=True`` (the session has
enabled IMAP4rev2 or UTF8=ACCEPT, RFC 9051 §4.3 / RFC 6855) UTF-8 may appear in quoted strings.
NUL cannot be sent in either form and is dropped. Media types, encodings, disposition types
and parameter names are sent upper-case as in the RFC examples; values as they are.

Rendering walks the part tree with an explicit stack: nesting depth is input-controlled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from pochta.mime.envelope import Address, Envelope
from pochta.mime.model import Part
from pochta.mime.params import Params
from pochta.proto.imap import wire

_NIL = b"NIL"
_NIL_ENVELOPE = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
_EMPTY_TEXT = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'


# What a plain quoted string may not hold (the common case: 7-bit, short, no CR/LF/NUL/quote/backslash).
_NOT_PLAIN = re.compile(r'[\x00\r\n"\\]')


def string(value: str, *, utf8: bool = False) -> bytes:
    """RFC 9051 §4.3 string of a header value: the wire layer's rules; NUL (never sendable) dropped."""
    if value.isascii() and len(value) <= wire.MAX_QUOTED and not _NOT_PLAIN.search(value):
        return b'"%s"' % value.encode("ascii")  # what wire.string makes of it, without its checks
    data = value.encode("utf-8", "replace")
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    return wire.string(data, utf8=utf8)


def _upper(value: str) -> bytes:
    """Media types, subtypes, encodings, parameter names: few distinct values, cached when short."""
    return _cached_upper(value) if len(value) <= 64 else string(value.upper())


@lru_cache(maxsize=1024)
def _cached_upper(value: str) -> bytes:
    return string(value.upper())


def nstring(value: str | None, *, utf8: bool = False) -> bytes:
    return _NIL if value is None else string(value, utf8=utf8)


def _address(item: Address, utf8: bool) -> bytes:
    return b"(%s %s %s %s)" % (
        nstring(item.name, utf8=utf8),
        nstring(item.adl, utf8=utf8),
        nstring(item.mailbox, utf8=utf8),
        nstring(item.host, utf8=utf8),
    )


def _addresses(items: tuple[Address, ...], utf8: bool) -> bytes:
    if not items:
        return _NIL
    return b"(" + b"".join(_address(item, utf8) for item in items) + b")"


def envelope_bytes(env: Envelope | None, *, utf8: bool = False) -> bytes:
    """RFC 9051 §7.5.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id."""
    if env is None:
        return _NIL_ENVELOPE
    return b"(%s)" % b" ".join(
        (
            nstring(env.date, utf8=utf8),
            nstring(env.subject, utf8=utf8),
            _addresses(env.from_, utf8),
            _addresses(env.sender, utf8),
            _addresses(env.reply_to, utf8),
            _addresses(env.to, utf8),
            _addresses(env.cc, utf8),
            _addresses(env.bcc, utf8),
            nstring(env.in_reply_to, utf8=utf8),
            nstring(env.message_id, utf8=utf8),
        )
    )


def _params(params: Params, utf8: bool) -> bytes:
    """body-fld-param. A non-ASCII value goes out, without UTF-8, in RFC 2231 form as
    ``name*`` = ``utf-8''%XX...`` (RFC 9051 §7.5.2 asks for the decoded value as "foo*")."""
    if not params:
        return _NIL
    out: list[bytes] = []
    for name, value in params:
        if value.isascii() or utf8:
            out.append(_upper(name) + b" " + string(value, utf8=utf8))
        else:
            encoded = "utf-8''" + quote(value.encode("utf-8", "replace"), safe="")
            out.append(_upper(name + "*") + b" " + string(encoded))
    return b"(" + b" ".join(out) + b")"


def _disposition(part: Part, utf8: bool) -> bytes:
    if part.disposition is None:
        return _NIL
    return b"(%s %s)" % (_upper(part.disposition), _params(part.disposition_params, utf8))


def _language(part: Part, utf8: bool) -> bytes:
    if not part.language:
        return _NIL
    if len(part.language) == 1:
        return string(part.language[0], utf8=utf8)
    return b"(" + b" ".join(string(tag, utf8=utf8) for tag in part.language) + b")"


def _extension(part: Part, utf8: bool) -> bytes:
    """Extension data after the basic and type-specific fields (RFC 9051 §7.5.2)."""
    tail = b" %s %s %s" % (_disposition(part, utf8), _language(part, utf8), nstring(part.location, utf8=utf8))
    if part.is_multipart:
        return b" " + _params(part.params, utf8) + tail
    return b" " + nstring(part.md5, utf8=utf8) + tail


def _basic(part: Part, utf8: bool) -> bytes:
    return b"(%s %s %s %s %s %s %d" % (
        _upper(part.type),
        _upper(part.subtype),
        _params(part.params, utf8),
        nstring(part.content_id, utf8=utf8),
        nstring(part.description, utf8=utf8),
        _upper(part.encoding),
        part.size,
    )


def bodystructure_bytes(part: Part, extended: bool, *, utf8: bool = False) -> bytes:
    """BODYSTRUCTURE (``extended``) or BODY of ``part`` (usually ``ParsedMessage.root``).

    A multipart or message kept opaque by the parser's limits still gets a well-formed
    structure: one empty text part inside, or an all-NIL envelope and an empty text body."""
    out: list[bytes] = []
    stack: list[Part | bytes] = [part]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        ext = _extension(item, utf8) if extended else b""
        if item.is_multipart:
            tail = b" " + _upper(item.subtype) + ext + b")"
            if not item.children:
                out.append(b"(" + _EMPTY_TEXT + tail)
                continue
            out.append(b"(")
            stack.append(tail)
            stack.extend(reversed(item.children))
            continue
        out.append(_basic(item, utf8))
        if item.type == "message" and item.subtype in ("rfc822", "global"):
            # RFC 9051 §7.5.2: envelope, body structure and line count of the encapsulated message.
            tail = b" %d%s)" % (item.lines, ext)
            if item.message is None:
                out.append(b" " + _NIL_ENVELOPE + b" " + _EMPTY_TEXT + tail)
                continue
            out.append(b" " + envelope_bytes(item.message.envelope, utf8=utf8) + b" ")
            stack.append(tail)
            stack.append(item.message)
            continue
        if item.type == "text":
            out.append(b" %d" % item.lines)
        out.append(ext + b")")
    return b"".join(out)


# Stored wire forms (DESIGN principle 4: computed once, at delivery, kept beside the parse record).
# Bump WIRE_VERSION whenever what the functions above write changes: stored forms of another version
# are then ignored (served from the parse record) until ``pochta reconstruct`` rebuilds them.
WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class WireForms:
    """A message's ENVELOPE, BODY and BODYSTRUCTURE as a session without UTF-8 gets them, and as a
    session with UTF8=ACCEPT or IMAP4rev2 enabled gets them where that differs (None: the same)."""

    envelope: bytes
    body: bytes
    bodystructure: bytes
    envelope_utf8: bytes | None = None
    body_utf8: bytes | None = None
    bodystructure_utf8: bytes | None = None


def wire_forms(root: Part) -> WireForms:
    """The stored forms of a message whose parse tree is ``root`` (``ParsedMessage.root``)."""
    envelope = envelope_bytes(root.envelope)
    body = bodystructure_bytes(root, False)
    structure = bodystructure_bytes(root, True)
    # RFC 6855 §3: with UTF8=ACCEPT, UTF-8 goes in quoted strings and parameter values are not RFC
    # 2231 encoded. Only a non-ASCII string (sent as a literal of 8-bit octets without UTF-8) or a
    # non-ASCII parameter value (sent as ``utf-8''%XX``) makes a difference: the other forms are the
    # same either way and are not written twice.
    envelope_utf8 = envelope_bytes(root.envelope, utf8=True) if not envelope.isascii() else envelope
    if structure.isascii() and b"utf-8''" not in structure:
        body_utf8, structure_utf8 = body, structure
    else:
        body_utf8 = bodystructure_bytes(root, False, utf8=True)
        structure_utf8 = bodystructure_bytes(root, True, utf8=True)
    return WireForms(
        envelope,
        body,
        structure,
        None if envelope_utf8 == envelope else envelope_utf8,
        None if body_utf8 == body else body_utf8,
        None if structure_utf8 == structure else structure_utf8,
    )
