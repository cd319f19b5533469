"""Header fields written from the parsed forms an Email create gives (RFC 8621 section 4.6), the
inverse of ``headers``: each form's value becomes an RFC 5322 field value, non-ASCII text in
RFC 2047 encoded words, folded at white space to 78 characters where it can be and never past
RFC 5322 §2.1.1's 998.

Why RFC 2047 and not RFC 6532 raw UTF-8: a draft becomes a message sent anywhere, and a message
with UTF-8 header fields needs SMTPUTF8 on every hop (RFC 6531) and UTF8=ACCEPT in every IMAP
client (RFC 6855); encoded words reach every reader. Only what RFC 2047 cannot carry stays raw
UTF-8 (RFC 6532): a non-ASCII addr-spec (RFC 2047 §5 (3) forbids encoded words there).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from pochta.mime.address import Mailbox, parse_address_list
from pochta.proto.jmap.dates import parse_date
from pochta.proto.jmap.mail.properties import Form

LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
MAX_LINE = 998  # RFC 5322 §2.1.1: MUST be at most 998 characters
# Octets per "B" encoded word: 52 base64 characters, 64 with "=?UTF-8?B?" and "?=", so that a word
# fits on a line after most field names within 78 (RFC 2047 §2 allows 75).
_WORD_CHUNK = 39

# RFC 5322 §3.2.3 atext: a display name of atoms and spaces needs no quotes.
_PHRASE_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+\Z")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MSG_ID = re.compile(r"[^<>@\s\"()\\]+@[^<>@\s\"()\\]+\Z")
_URL = re.compile(r"[^<>\s]+\Z")
_WORDS = re.compile(r"([ \t]*)([^ \t]+)")
_FOLDED_RAW = re.compile(r"(?:[^\r\n]|\r\n[ \t])*\Z")


class BadValue(ValueError):
    """A value the form cannot write; the caller reports the property as invalid."""


def encoded_words(text: str) -> list[str]:
    """RFC 2047 §4.1 "B" encoded words of ``text`` in UTF-8, each at most 75 characters (§2), never
    splitting a character (§5 (3): each word must be decodable on its own)."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        octets = char.encode("utf-8", "surrogatepass")
        if chunk and len(chunk) + len(octets) > _WORD_CHUNK:
            words.append(_b_word(bytes(chunk)))
            chunk.clear()
        chunk += octets
    if chunk or not words:
        words.append(_b_word(bytes(chunk)))
    return words


def _b_word(octets: bytes) -> str:
    return "=?UTF-8?B?" + base64.b64encode(octets).decode("ascii") + "?="


def _needs_encoding(word: str) -> bool:
    # Non-ASCII, or ASCII that a reader would take for an encoded word, or too long to fold.
    return not word.isascii() or "=?" in word or len(word) > LINE - 10


def text_tokens(value: str) -> list[str]:
    """An unstructured value (RFC 5322 §3.2.5) as tokens to fold between: words kept as written,
    runs of words that need it encoded (white space inside a run goes into the encoded text,
    as white space between two encoded words is not shown, RFC 2047 §6.2)."""
    value = _CONTROLS.sub(" ", value)  # no line breaks or controls in a field (header injection)
    tokens: list[str] = []
    run: list[str] = []  # the words (with their leading white space) of a run to encode
    run_space = ""

    def flush() -> None:
        nonlocal run_space
        if run:
            words = encoded_words("".join(run))
            tokens.append(run_space + words[0])
            tokens.extend(" " + word for word in words[1:])
            run.clear()
            run_space = ""

    for space, word in _WORDS.findall(value):
        if _needs_encoding(word):
            if run:
                run.append(space + word)
            else:
                run_space = space or (" " if tokens else "")
                run.append(word)
        else:
            flush()
            tokens.append(space + word)
    flush()
    trailing = value[len(value.rstrip(" \t")) :]
    if trailing:
        tokens.append(trailing)
    return tokens


def fold(name: str, tokens: list[str]) -> str:
    """``name: value`` with CRLF + white space inserted before tokens that start with white space
    once a line passes 78 characters (RFC 5322 §2.2.3). Raises BadValue when a line would still
    pass 998."""
    lines: list[str] = []
    current = name + ":"
    for index, token in enumerate(tokens):
        if index == 0 and not token.startswith((" ", "\t")):
            token = " " + token
        if len(current) + len(token) > LINE and token[:1] in (" ", "\t") and current.strip() != name + ":":
            lines.append(current)
            current = token
        else:
            current += token
    lines.append(current)
    if any(len(line.encode("utf-8")) > MAX_LINE for line in lines):
        raise BadValue(f"a line of {name} is longer than 998 octets")
    return "\r\n".join(lines) + "\r\n"


def _phrase(name: str) -> list[str]:
    """A display name as phrase tokens: atoms as they are, a quoted string when it has specials,
    encoded words when it is not ASCII (RFC 2047 §5 (3))."""
    name = " ".join(_CONTROLS.sub(" ", name).split())
    if not name:
        return []
    if _PHRASE_ATOMS.match(name) and "=?" not in name:
        return [" " + word for word in name.split(" ")]
    if name.isascii() and "=?" not in name:
        return [' "' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return [" " + word for word in encoded_words(name)]


def _address(address: Any) -> list[str]:
    if not isinstance(address, dict) or not isinstance(address.get("email"), str):
        raise BadValue("an EmailAddress needs an email string")
    name = address.get("name")
    if name is not None and not isinstance(name, str):
        raise BadValue("an EmailAddress name is a string or null")
    email = address["email"].strip()
    # A draft's address may be incomplete ("john"), but it may not break the list it is written in:
    # an addr-spec the address parser reads back whole is fine ("john doe"@example.com), else no
    # character that ends or opens an element.
    whole = parse_address_list(f"<{email}>")
    readable = len(whole) == 1 and isinstance(whole[0], Mailbox) and whole[0].addr_spec == email
    if _CONTROLS.search(email) or not (readable or not any(char in email for char in '<>,;" \t()')):
        raise BadValue(f"{email!r} cannot be written as an address")
    phrase = _phrase(name) if name else []
    return [*phrase, " <" + email + ">"] if phrase else [" " + email]


def _address_list(items: Any) -> list[str]:
    if not isinstance(items, list):
        raise BadValue("Addresses is a list")
    tokens: list[str] = []
    for index, item in enumerate(items):
        written = _address(item)
        if index + 1 < len(items):
            written[-1] += ","
        tokens.extend(written)
    return tokens


def _grouped(groups: Any) -> list[str]:
    if not isinstance(groups, list):
        raise BadValue("GroupedAddresses is a list")
    written: list[list[str]] = []
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("addresses"), list):
            raise BadValue("an EmailAddressGroup has addresses")
        name = group.get("name")
        if name is None:
            tokens = _address_list(group["addresses"])
        else:
            if not isinstance(name, str) or not name.strip():
                raise BadValue("a group name is a non-empty string or null")
            tokens = _phrase(name)  # RFC 5322 §3.4: display-name ":" [group-list] ";"
            tokens[-1] += ":"
            tokens += _address_list(group["addresses"])
            tokens[-1] += ";"
        if tokens:
            written.append(tokens)
    for tokens in written[:-1]:
        tokens[-1] += ","
    return [token for tokens in written for token in tokens]


def _message_ids(ids: Any) -> list[str]:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and _MSG_ID.match(i) for i in ids):
        raise BadValue("MessageIds is a non-empty list of id-left@id-right")
    return [" <" + i + ">" for i in ids]


def _date(value: Any) -> list[str]:
    moment = _parsed_date(value) if isinstance(value, str) else None
    if moment is None:
        raise BadValue("Date is an RFC 3339 date-time")
    return [" " + date_field(moment)]


def date_field(moment: datetime) -> str:
    """RFC 5322 §3.3 date-time in the moment's own zone."""
    return format_datetime(moment)


def _urls(urls: Any) -> list[str]:
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and _URL.match(u) for u in urls):
        raise BadValue("URLs is a non-empty list of URLs")
    return [" <" + url + ">" + ("," if i + 1 < len(urls) else "") for i, url in enumerate(urls)]


def _text(value: Any) -> list[str]:
    if not isinstance(value, str):
        raise BadValue("Text is a string")
    return text_tokens(value)


_WRITERS: dict[Form, Callable[[Any], list[str]]] = {
    Form.TEXT: _text,
    Form.ADDRESSES: _address_list,
    Form.GROUPED_ADDRESSES: _grouped,
    Form.MESSAGE_IDS: _message_ids,
    Form.DATE: _date,
    Form.URLS: _urls,
}


def write_field(name: str, form: Form, value: Any) -> str:
    """One header field ``name: value`` (CRLF-terminated) from ``value`` in ``form``. Raises
    BadValue when the value does not fit the form or cannot be written within 998 octets."""
    if form is Form.RAW:
        if not isinstance(value, str) or "\x00" in value or not _FOLDED_RAW.match(value):
            raise BadValue("Raw is a string whose only line breaks are folds (CRLF then white space)")
        field = f"{name}:{value}\r\n"
        if any(len(line.encode("utf-8")) > MAX_LINE for line in field.split("\r\n")):
            raise BadValue(f"a line of {name} is longer than 998 octets")
        return field
    return fold(name, _WRITERS[form](value))


def _parsed_date(text: str) -> datetime | None:
    try:
        return parse_date(text)
    except ValueError:
        return None
