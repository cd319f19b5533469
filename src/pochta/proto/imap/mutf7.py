"""Modified UTF-7 for IMAP4rev1 mailbox names (RFC 3501 §5.1.3), with no dependencies.

Pure functions shared by the IMAP wire layer (``proto/imap``) and mailbox semantics
(``pochta.mail.names``, which turns ``MalformedName`` into an RFC 5530 CANNOT).
"""

from __future__ import annotations

import base64
import binascii
import unicodedata


class MalformedName(ValueError):
    """A mailbox name that is not canonical modified UTF-7 (or cannot be encoded)."""


def _invalid(message: str) -> MalformedName:
    return MalformedName(message)


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def _is_direct(char: str) -> bool:
    # RFC 3501 §5.1.3: printable US-ASCII (0x20-0x7e) represent themselves, "&" as "&-".
    return " " <= char <= "~"


def _b64_encode(chars: list[str]) -> str:
    data = "".join(chars).encode("utf-16-be")  # lone surrogates were refused by the caller
    # RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/" and has no "=" padding.
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")


def modified_utf7_encode(name: str) -> str:
    """Encode a Unicode mailbox name in modified UTF-7 (RFC 3501 §5.1.3)."""
    out: list[str] = []
    pending: list[str] = []
    for char in name:
        if _is_direct(char):
            if pending:
                out.append("&" + _b64_encode(pending) + "-")
                pending = []
            out.append("&-" if char == "&" else char)
        else:
            if unicodedata.category(char) == "Cs":
                raise _invalid("Mailbox name is not valid Unicode (lone surrogate)")
            pending.append(char)
    if pending:
        # RFC 3501 §5.1.3: a name MUST end in US-ASCII, so the last shift is always closed.
        out.append("&" + _b64_encode(pending) + "-")
    return "".join(out)


def _b64_decode(chunk: str) -> str:
    if any(char not in _B64_ALPHABET for char in chunk):
        raise _invalid("Malformed modified UTF-7: invalid character in BASE64")
    if len(chunk) % 4 == 1:  # 6 bits cannot complete an octet
        raise _invalid("Malformed modified UTF-7: truncated BASE64")
    standard = chunk.replace(",", "/")
    try:
        data = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        raise _invalid("Malformed modified UTF-7: bad BASE64") from None
    # Non-zero padding bits, or more BASE64 than needed, mean a non-canonical encoding.
    if base64.b64encode(data).decode("ascii").rstrip("=") != standard:
        raise _invalid("Malformed modified UTF-7: non-canonical BASE64 padding")
    if len(data) % 2:
        raise _invalid("Malformed modified UTF-7: BASE64 is not whole UTF-16 units")
    try:
        text = data.decode("utf-16-be")  # strict: refuses unpaired surrogates
    except UnicodeDecodeError:
        raise _invalid("Malformed modified UTF-7: invalid UTF-16") from None
    # RFC 3501 §5.1.3: modified BASE64 MUST NOT represent a printable US-ASCII character.
    if any(_is_direct(char) for char in text):
        raise _invalid("Malformed modified UTF-7: printable US-ASCII encoded in BASE64")
    return text


def modified_utf7_decode(encoded: str | bytes) -> str:
    """Decode a modified UTF-7 mailbox name; malformed or non-canonical input raises MalformedName.

    RFC 3501 §5.1.3: the input is printable US-ASCII; "&-" is "&"; "&...-" is modified BASE64 of
    UTF-16 and is closed explicitly; null shifts ("-&" inside BASE64, i.e. two adjacent encoded
    runs) and encoded printable ASCII are not permitted. Only the one canonical spelling of a
    name is accepted, so that a name has exactly one wire form.
    """
    if isinstance(encoded, bytes):
        try:
            encoded = encoded.decode("ascii")
        except UnicodeDecodeError:
            raise _invalid("Malformed modified UTF-7: 8-bit octets") from None
    out: list[str] = []
    i = 0
    previous_b64_end = -1
    while i < len(encoded):
        char = encoded[i]
        if not _is_direct(char):
            raise _invalid("Malformed modified UTF-7: characters outside printable US-ASCII")
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = encoded.find("-", i + 1)
        if end < 0:
            raise _invalid("Malformed modified UTF-7: '&' is not closed by '-'")
        chunk = encoded[i + 1 : end]
        if chunk:
            if previous_b64_end == i:
                raise _invalid("Malformed modified UTF-7: superfluous shift between encoded runs")
            out.append(_b64_decode(chunk))
            previous_b64_end = end + 1
        else:
            out.append("&")
        i = end + 1
    return "".join(out)
