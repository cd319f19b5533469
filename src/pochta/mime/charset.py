"""Charset decoding that never raises: MIME charset labels -> Python codecs, with fallbacks.

Used for encoded words (RFC 2047), RFC 2231 parameter values and text bodies. Labels that
name a non-text codec, or a codec that would interpret the data as code-like escapes, are
treated as unknown. Unknown or absent charsets fall back to UTF-8 when the bytes are valid
UTF-8, else to windows-1252/latin-1 (what mainstream mail readers do with unlabelled 8-bit).
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Labels whose usual Python codec is a strict subset of what senders actually use. Each label
# maps to codecs tried in order (strictly); the last is used with replacement if all fail.
_CHAINS: dict[str, tuple[str, ...]] = {
    "us-ascii": ("utf-8", "cp1252", "latin-1"),  # 8-bit in "us-ascii" text is common (RFC 7103 §7.6)
    "ascii": ("utf-8", "cp1252", "latin-1"),
    "iso-8859-1": ("cp1252", "latin-1"),  # WHATWG: the latin-1 label means windows-1252
    "latin1": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "gb2312": ("gb18030",),  # GB18030 is a superset of GB2312 and GBK
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "shift_jis": ("cp932", "shift_jis"),  # Windows-31J: what "Shift_JIS" mail really is
    "shift-jis": ("cp932", "shift_jis"),
    "sjis": ("cp932", "shift_jis"),
    "x-sjis": ("cp932", "shift_jis"),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "big5": ("big5", "cp950", "big5hkscs"),
    "euc-kr": ("cp949", "euc_kr"),
    "ks_c_5601-1987": ("cp949",),
    "iso-8859-8-i": ("iso-8859-8",),
    "windows-874": ("cp874",),
    "x-unknown": (),
    "unknown-8bit": (),
    "unknown": (),
}

# Codecs that are text encodings for Python but not charsets of mail: they would turn escape
# sequences in attacker-controlled data into arbitrary characters.
_DENIED = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "charmap"})

_MAX_LABEL = 64
# Codecs for which ASCII bytes do not mean ASCII text (escape sequences, shifts, code units).
_NOT_ASCII_BASED = ("iso2022", "utf-7", "utf-16", "utf-32", "hz")


@lru_cache(maxsize=512)
def _codecs_for(label: str) -> tuple[str, ...]:
    """Codec names to try for a (lower-cased, stripped) charset label; () means unknown."""
    if label in _CHAINS:
        return _CHAINS[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return ()
    name = info.name.replace("_", "-")
    if name in _DENIED or not getattr(info, "_is_text_encoding", True):
        return ()
    return (info.name,)


def normalise_label(charset: str | None) -> str:
    """Lower-case charset label without RFC 2231 §5 language suffix or quotes."""
    if not charset:
        return ""
    label = charset.strip().strip('"').strip()
    star = label.find("*")
    if star >= 0:  # RFC 2231 §5: charset*language in encoded words
        label = label[:star]
    return label.lower()[:_MAX_LABEL]


def decode_unknown(data: bytes) -> str:
    """Bytes of unknown charset: UTF-8 when valid (RFC 6532), else windows-1252, else latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_utf8_or_latin1(data: bytes) -> str:
    """Raw header bytes: UTF-8 if valid (RFC 6532 §3), else latin-1 so that every byte survives."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def is_known(charset: str | None) -> bool:
    return bool(_codecs_for(normalise_label(charset)))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` labelled with MIME ``charset``; never raises."""
    return decode_bytes_checked(data, charset)[0]


def decode_bytes_checked(data: bytes, charset: str | None) -> tuple[str, bool]:
    """:func:`decode_bytes` and whether it went cleanly: False when the charset is unknown (the
    text is a guess) or when no codec of its chain read the bytes strictly (the text holds
    replacement characters). JMAP reports this as ``isEncodingProblem`` (RFC 8621 section 4.1.4)."""
    chain = _codecs_for(normalise_label(charset))
    if data.isascii() and (not chain or not chain[0].replace("_", "-").startswith(_NOT_ASCII_BASED)):
        return data.decode("ascii"), bool(chain)
    if not chain:
        return decode_unknown(data), False
    for name in chain:
        text = _try_decode(data, name)
        if text is not None:
            return text, True
    try:
        return data.decode(chain[0], "replace"), False
    except Exception:  # a broken codec must not break parsing
        return decode_unknown(data), False


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except Exception:  # UnicodeDecodeError, LookupError, or a codec's own bug
        return None
