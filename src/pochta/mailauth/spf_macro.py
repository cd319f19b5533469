"""SPF macro strings and domain-specs (RFC 7208 section 7 and section 7.1's ABNF), pure.

``check_macro_string`` and ``check_domain_spec`` validate a record's text before anything is
evaluated (RFC 7208 section 4.6: a syntax error anywhere is a permerror); ``expand`` turns a macro
string into its text for one check, given what the macros stand for (``MacroValues``).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

__all__ = [
    "MacroValues",
    "SpfSyntaxError",
    "check_domain_spec",
    "check_macro_string",
    "expand",
    "target_name",
    "uses_p",
    "valid_domain",
]

# RFC 7208 section 7.1: macro-letter; c, r and t only in an explanation (exp= text).
_LETTERS = frozenset("slodiphv")
_EXP_LETTERS = _LETTERS | frozenset("crt")
_DELIMITERS = frozenset(".-+,/_=")
# RFC 7208 section 7.3: implementations MUST support at least 128 for the digit transformer; more
# labels than a domain name can have are never needed.
_MAX_DIGITS = 128
# RFC 7208 section 7.1: toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum /
# "-" ) alphanum ): not all digits, no leading or trailing dash.
_TOPLABEL = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]")
_MAX_NAME = 253  # RFC 7208 section 7.3: a domain name used in a query is at most 253 characters


class SpfSyntaxError(ValueError):
    """A record, term or macro string that does not follow RFC 7208's grammar (a permerror)."""


@dataclass(frozen=True)
class MacroValues:
    """What the macro letters stand for in one ``check_host()`` (RFC 7208 section 7.2)."""

    sender: str  # s: local-part@domain (postmaster@helo for a null MAIL FROM)
    domain: str  # d: the domain being checked
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str  # h
    receiver: str = "unknown"  # r: our host name
    timestamp: int = 0  # t
    validated: str = "unknown"  # p: the validated name of ip (looked up only when used)

    @property
    def local(self) -> str:
        return self.sender.rpartition("@")[0]

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]


def _ip_dotted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """RFC 7208 section 7.3: i is the dotted quad, or for IPv6 32 dot-separated hex nibbles."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _value(letter: str, values: MacroValues) -> str:
    match letter:
        case "s":
            return values.sender
        case "l":
            return values.local
        case "o":
            return values.sender_domain
        case "d":
            return values.domain
        case "i":
            return _ip_dotted(values.ip)
        case "p":
            return values.validated
        case "v":
            return "in-addr" if isinstance(values.ip, ipaddress.IPv4Address) else "ip6"
        case "h":
            return values.helo
        case "c":
            return str(values.ip)  # RFC 7208 section 7.3: c is the readable form
        case "r":
            return values.receiver
        case _:  # "t"
            return str(values.timestamp)


def _parse(text: str, exp: bool) -> list[str | tuple[str, int | None, bool, str]]:
    """The pieces of a macro string: literal text, or (letter, digits, reverse, delimiters) of one
    %{...} (the letter in the case written: upper case means URL-escaped)."""
    letters = _EXP_LETTERS if exp else _LETTERS
    pieces: list[str | tuple[str, int | None, bool, str]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "%":
            # RFC 7208 section 7.1: macro-literal = %x21-24 / %x26-7E (visible ASCII but %); an
            # explanation is any text, spaces included (RFC 7208 section 6.2).
            if not ("!" <= char <= "~" or (exp and char == " ")):
                raise SpfSyntaxError(f"character {char!r} is not allowed in a macro string")
            literal.append(char)
            i += 1
            continue
        follow = text[i + 1 : i + 2]
        if follow in ("%", "_", "-"):  # RFC 7208 section 7.1: "%%", "%_" (space), "%-" (URL space)
            literal.append({"%": "%", "_": " ", "-": "%20"}[follow])
            i += 2
            continue
        if follow != "{":
            raise SpfSyntaxError("'%' must be followed by '{', '%', '_' or '-'")  # section 7.1
        end = text.find("}", i + 2)
        if end < 0:
            raise SpfSyntaxError("unterminated macro")
        body = text[i + 2 : end]
        match = re.fullmatch(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)", body)
        if match is None or match.group(1).lower() not in letters:
            raise SpfSyntaxError(f"bad macro %{{{body}}}")
        digits = match.group(2)
        count = None
        if digits:
            count = int(digits) if len(digits) <= 4 else _MAX_DIGITS + 1
            if count == 0:
                raise SpfSyntaxError("the digit transformer must not be zero")  # section 7.3
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append((match.group(1), count, bool(match.group(3)), match.group(4)))
        i = end + 1
    if literal:
        pieces.append("".join(literal))
    return pieces


def check_macro_string(text: str, *, exp: bool = False) -> None:
    """Raise SpfSyntaxError unless ``text`` is a macro-string (``exp``: an explanation's text)."""
    _parse(text, exp)


def uses_p(text: str) -> bool:
    """Does this (valid) macro string use %{p}, which needs DNS lookups to expand?"""
    return any(isinstance(piece, tuple) and piece[0].lower() == "p" for piece in _parse(text, True))


def check_domain_spec(text: str) -> None:
    """Raise SpfSyntaxError unless ``text`` is a domain-spec (RFC 7208 section 7.1):
    ``macro-string domain-end``, domain-end = ( "." toplabel [ "." ] ) / macro-expand."""
    if not text:
        raise SpfSyntaxError("empty domain-spec")
    pieces = _parse(text, False)
    last = pieces[-1]
    if isinstance(last, tuple):
        return  # ends in a macro-expand
    # A literal ending: the toplabel must be literal text after the last dot.
    stripped = last[:-1] if last.endswith(".") else last
    _, dot, top = stripped.rpartition(".")
    if not dot or not _TOPLABEL.fullmatch(top):
        raise SpfSyntaxError(f"domain-spec {text!r} does not end in a valid top label")


def expand(text: str, values: MacroValues, *, exp: bool = False) -> str:
    """The macro string with its macros replaced (RFC 7208 section 7.3)."""
    out: list[str] = []
    for piece in _parse(text, exp):
        if isinstance(piece, str):
            out.append(piece)
            continue
        letter, count, reverse, delimiters = piece
        value = _value(letter.lower(), values)
        # RFC 7208 section 7.3: split on the delimiters (default "."), reverse when asked, keep the
        # right-hand `count` parts, and join them with ".".
        parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
        if reverse:
            parts.reverse()
        if count is not None:
            parts = parts[-min(count, _MAX_DIGITS) :]
        result = ".".join(parts)
        if letter.isupper():  # RFC 7208 section 7.3: upper-case macros are URL-escaped
            result = urllib.parse.quote(result, safe="-._~")
        out.append(result)
    return "".join(out)


def target_name(expanded: str) -> str:
    """An expanded domain-spec as the name to query: without a trailing dot, and (RFC 7208
    section 7.3) shortened from the left, label by label, to at most 253 characters."""
    name = expanded[:-1] if expanded.endswith(".") else expanded
    while len(name) > _MAX_NAME and "." in name:
        name = name.split(".", 1)[1]
    return name


def valid_domain(name: str, *, multi_label: bool = True) -> bool:
    """Can ``name`` be asked in DNS (RFC 1035 section 2.3.4: labels 1-63 octets, 253 in all)?
    ``multi_label``: RFC 7208 section 4.3 also wants at least two labels for check_host()."""
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > _MAX_NAME or not name.isascii() or name.startswith("["):
        return False
    labels = name.split(".")
    if multi_label and len(labels) < 2:
        return False
    return all(0 < len(label) <= 63 for label in labels)
