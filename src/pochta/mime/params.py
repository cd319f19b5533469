"""Content-Type / Content-Disposition values with their parameters (RFC 2045 §5.1, RFC 2183 §2,
RFC 2231 continuations and charsets), and the other small MIME fields.

Lenient where real mail is broken (RFC 7103 §8): comments anywhere, unquoted values that
contain spaces, unterminated quoted strings, parameters without a value. Every scan is a
compiled regex anchored at a position, so a megabyte-long field costs one linear pass.
"""

from __future__ import annotations

import re

from pochta.mime.charset import decode_bytes, decode_unknown

Params = tuple[tuple[str, str], ...]

# RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>; 8-bit tolerated.
_TOKEN = re.compile(r'[^\x00-\x20\x7f()<>@,;:\\"/\[\]?=]+')
_WSP = re.compile(r"[ \t\r\n]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_UNQUOTED = re.compile(r"[^;]*")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_SECTION = re.compile(r"([^*]+)(?:\*([0-9]{1,3}))?(\*)?\Z")  # RFC 2231 §3, §4: name*N*
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
_COMMENT_SPECIAL = re.compile(r"[()\\]")

MAX_PARAMS = 256


def skip_cfws(text: str, pos: int) -> int:
    """Skip whitespace and (nested) comments (RFC 5322 §3.2.2) without recursion."""
    end = len(text)
    if pos >= end or text[pos] not in " \t\r\n(":
        return pos
    while True:
        pos = _WSP.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end or text[pos] != "(":
            return pos
        depth = 0
        while True:
            special = _COMMENT_SPECIAL.search(text, pos)
            if special is None:
                return end  # unterminated comment: it runs to the end of the field
            char = special.group(0)
            pos = special.end()
            if char == "\\":
                pos += 1  # quoted-pair
            elif char == "(":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    break


def _unquote(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text


def _value(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        quoted = _QUOTED.match(text, pos)
        if quoted is not None:
            return _unquote(quoted.group(1)), quoted.end()
        # Unterminated quoted string: the value runs to the end of the field (RFC 7103 §7.1.6).
        return _unquote(text[pos + 1 :]), len(text)
    raw = _UNQUOTED.match(text, pos)
    assert raw is not None
    value = raw.group(0)
    # "us-ascii (Plain text)" -> "us-ascii"; "my file.pdf" stays as it is.
    comment = _trailing_comment(value)
    if comment is not None and value[:comment].strip():
        value = value[:comment]
    return value.strip(), raw.end()


def _trailing_comment(value: str) -> int | None:
    """Where a comment that ends the value begins: the leftmost "(" followed by comment text
    (no unescaped parenthesis; a backslash quotes the next character) up to the final ")", which
    only whitespace may follow. One backward pass: a regular expression searched for this
    (``\\s*\\((?:[^()\\\\]|\\\\.)*\\)\\s*\\Z``) took quadratic time on a run of spaces."""
    end = len(value.rstrip()) - 1
    if end < 1 or value[end] != ")":
        return None
    found = None
    # reach1/reach2: whether comment text read from position i+1 / i+2 ends exactly at the ")".
    reach1, reach2 = True, False
    for i in range(end - 1, -1, -1):
        char = value[i]
        if char == "(":
            if reach1:
                found = i
            here = False
        elif char == ")":
            here = False
        elif char == "\\":
            here = reach2  # the backslash and the character it quotes
        else:
            here = reach1
        reach1, reach2 = here, reach1
        if not reach1 and not reach2:
            break  # no earlier position can reach the ")" either
    return found


def _percent_decode(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return _PERCENT.sub(lambda m: bytes((int(m.group(1), 16),)), raw) if b"%" in raw else raw


def _decode_2231(sections: dict[int, tuple[bool, str]]) -> str:
    """RFC 2231 §3, §4: concatenate sections in order; charset'language' on an encoded first."""
    charset: str | None = None
    buf = bytearray()
    first = min(sections)
    for index in sorted(sections):
        encoded, value = sections[index]
        if index == first and encoded:
            parts = value.split("'", 2)
            if len(parts) == 3:  # RFC 2231 §4: charset'language'value, either may be empty
                charset, value = parts[0] or None, parts[2]
        buf += _percent_decode(value) if encoded else value.encode("utf-8", "surrogateescape")
    data = bytes(buf)
    return decode_bytes(data, charset) if charset else decode_unknown(data)


def parse_params(text: str, pos: int) -> Params:
    """Parameters after the main value: ``*(";" attribute "=" value)`` with RFC 2231 decoding.

    Attribute names are lower-cased (RFC 2045 §5.1: case-insensitive); the first occurrence of
    a name wins; an RFC 2231 form of a name replaces its plain form.
    """
    plain: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    order: list[str] = []
    end = len(text)
    count = 0
    while pos < end and count < MAX_PARAMS:
        semi = text.find(";", pos)
        if semi < 0:
            break
        pos = skip_cfws(text, semi + 1)
        name_match = _TOKEN.match(text, pos)
        if name_match is None:
            continue
        pos = skip_cfws(text, name_match.end())
        if pos >= end or text[pos] != "=":
            continue  # attribute without value: ignored
        pos = skip_cfws(text, pos + 1)
        value, pos = _value(text, pos)
        count += 1
        name = name_match.group(0).lower()
        section = _SECTION.match(name) if "*" in name else None
        if section is None:
            if name not in plain:
                plain[name] = value
                if name not in extended:
                    order.append(name)
            continue
        base, number, star = section.group(1), section.group(2), section.group(3)
        index = int(number) if number is not None else 0
        slots = extended.setdefault(base, {})
        if base not in plain and len(slots) == 0:
            order.append(base)
        if index not in slots:
            slots[index] = (star is not None, value)
    result: list[tuple[str, str]] = []
    for name in order:
        if name in extended:
            result.append((name, _decode_2231(extended[name])))
        else:
            result.append((name, plain[name]))
    return tuple(result)


def parse_content_type(text: str) -> tuple[str, str, Params] | None:
    """RFC 2045 §5.1 ``type "/" subtype *(";" parameter)``, lower-cased; None if malformed."""
    pos = skip_cfws(text, 0)
    main = _TOKEN.match(text, pos)
    if main is None:
        return None
    pos = skip_cfws(text, main.end())
    if pos >= len(text) or text[pos] != "/":
        return None
    pos = skip_cfws(text, pos + 1)
    sub = _TOKEN.match(text, pos)
    if sub is None:
        return None
    pos = skip_cfws(text, sub.end())
    if pos < len(text) and text[pos] != ";":
        return None
    return main.group(0).lower(), sub.group(0).lower(), parse_params(text, pos)


def parse_disposition(text: str) -> tuple[str, Params] | None:
    """RFC 2183 §2 ``disposition-type *(";" disposition-parm)``; None if there is no type."""
    pos = skip_cfws(text, 0)
    main = _TOKEN.match(text, pos)
    if main is None:
        return None
    return main.group(0).lower(), parse_params(text, main.end())


def parse_token(text: str) -> str | None:
    """A single token field such as Content-Transfer-Encoding (RFC 2045 §6.1), lower-cased."""
    pos = skip_cfws(text, 0)
    token = _TOKEN.match(text, pos)
    return token.group(0).lower() if token is not None else None


def parse_language(text: str) -> tuple[str, ...]:
    """RFC 3282 §2 Content-Language: ``1#Language-tag`` with comments."""
    tags: list[str] = []
    for item in text.split(","):
        pos = skip_cfws(item, 0)
        tag = _TOKEN.match(item, pos)
        if tag is not None:
            tags.append(tag.group(0))
    return tuple(tags)
