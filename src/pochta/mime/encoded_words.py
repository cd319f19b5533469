"""RFC 2047 encoded words: ``=?charset?Q|B?text?=`` -> Unicode, never raising.

Tolerant as mainstream readers are (RFC 7103 §7.6): encoded words are recognised even when not
separated from surrounding text by whitespace, B text with bad padding is decoded as far as it
goes, and adjacent encoded words in one charset are joined at the byte level before decoding
(senders split multi-byte characters across words).
"""

from __future__ import annotations

import binascii
import re

from pochta.mime.charset import decode_bytes, is_known, normalise_label

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
# (encoded-text cannot contain "?", which keeps the scan linear).
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([QqBb])\?([^?]*)\?=")
_WSP_ONLY = re.compile(r"[ \t\r\n]*\Z")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _decode_q(text: str) -> bytes:
    # RFC 2047 §4.2: "_" is SP; "=XX" is an octet; other characters stand for themselves.
    raw = text.encode("utf-8", "surrogateescape").replace(b"_", b" ")
    return _QP_ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), raw)


def decode_b64(raw: bytes) -> bytes:
    """Base64 decoding that ignores junk and missing or misplaced padding (RFC 2045 §6.8 says
    decoders ignore characters outside the alphabet)."""
    try:
        return binascii.a2b_base64(raw)
    except (binascii.Error, ValueError):
        pass
    clean = _B64_JUNK.sub(b"", raw)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def _decode_b(text: str) -> bytes:
    # RFC 2047 §4.1: the "B" encoding is base64 (RFC 2045 §6.8).
    return decode_b64(text.encode("ascii", "ignore"))


def _word_bytes(match: re.Match[str]) -> tuple[str, bytes]:
    charset = normalise_label(match.group(1))
    kind = match.group(2)
    data = _decode_b(match.group(3)) if kind in "Bb" else _decode_q(match.group(3))
    return charset, data


def _decode_run(run: list[tuple[str, bytes]]) -> str:
    """Decode a run of adjacent encoded words; consecutive words in one charset share bytes."""
    out: list[str] = []
    charset, buf = run[0][0], bytearray(run[0][1])
    for word_charset, data in run[1:]:
        if word_charset == charset:
            buf += data
        else:
            out.append(decode_bytes(bytes(buf), charset))
            charset, buf = word_charset, bytearray(data)
    out.append(decode_bytes(bytes(buf), charset))
    return "".join(out)


def decode_encoded_words(text: str) -> str:
    """Decode all encoded words in an unstructured header value or phrase (RFC 2047 §5, §6)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    run: list[tuple[str, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if run and _WSP_ONLY.match(between):
            # RFC 2047 §6.2: whitespace between adjacent encoded words is not displayed.
            run.append(_word_bytes(match))
        else:
            if run:
                out.append(_decode_run(run))
                run = []
            out.append(between)
            run.append(_word_bytes(match))
        pos = match.end()
    if run:
        out.append(_decode_run(run))
    out.append(text[pos:])
    return "".join(out)


# RFC 2047 §2: encoded-text = 1*<any printable ASCII character other than "?" or SPACE>.
_STRICT_WORD = re.compile(r"=\?([^?\s]{1,80})\?([QqBb])\?([!->@-~]*)\?=\Z")
_PIECES = re.compile(r"[ \t\r\n]+|[^ \t\r\n]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def decode_encoded_words_strict(text: str) -> str:
    """Decode the encoded words of an unstructured value by the letter of RFC 2047, for JMAP's Text
    form (RFC 8621 section 4.1.2.2): only a word that stands alone between linear white space (or
    the ends) is decoded (RFC 2047 §5 (1)), and only in a known charset; what merely looks like
    one stays as written. White space between two decoded words goes (RFC 2047 §6.2), and
    control characters a word encodes are dropped (RFC 8621 section 4.1.2.2)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    run: list[tuple[str, bytes]] = []
    held = ""  # white space after a decoded word: dropped if another decoded word follows
    for piece in _PIECES.findall(text):
        if piece[0] in " \t\r\n":
            if run:
                held += piece
            else:
                out.append(piece)
            continue
        word = _STRICT_WORD.match(piece)
        if word is not None and is_known(word.group(1)):
            run.append(_word_bytes(word))
            held = ""
            continue
        if run:
            out.append(_CONTROLS.sub("", _decode_run(run)))
            run = []
        out.append(held)
        held = ""
        out.append(piece)
    if run:
        out.append(_CONTROLS.sub("", _decode_run(run)))
    out.append(held)
    return "".join(out)
