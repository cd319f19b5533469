"""SMTP command lines: the verb, its argument, MAIL/RCPT paths and ESMTP parameters, xtext.

Parsing only: ``parse_command`` never raises on client data; errors come back as ``CommandError``
carrying the reply to send. The server decides legality (which state, which extension).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.mime.address import SmtpPath, SmtpPathError, parse_smtp_path
from pochta.proto.smtp import replies
from pochta.proto.smtp.events import MailParams, RcptParams
from pochta.proto.smtp.replies import Reply

VERBS = frozenset(
    {"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN"}
    | {"HELP", "STARTTLS", "AUTH"}
)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls but HT


@dataclass(frozen=True, slots=True)
class CommandError:
    reply: Reply


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case
    argument: str  # the rest of the line after one SP, undecoded beyond UTF-8


def parse_command(line: bytes) -> Command | CommandError:
    """Splits ``VERB [SP argument]`` (RFC 5321 §4.1.1: verbs are case-insensitive)."""
    if b"\x00" in line:
        return CommandError(replies.syntax_error("NUL character in command"))
    verb_bytes, _, rest = line.partition(b" ")
    if not verb_bytes.isascii() or not verb_bytes.isalpha():
        return CommandError(replies.unknown_command())
    verb = verb_bytes.decode("ascii").upper()
    if verb not in VERBS:
        return CommandError(replies.unknown_command())
    try:
        # RFC 6531 §3.3: UTF-8 may appear in MAIL/RCPT arguments; anything else is ASCII
        argument = rest.decode("utf-8")
    except UnicodeDecodeError:
        return CommandError(replies.syntax_error("Invalid UTF-8 in command"))
    if verb not in ("MAIL", "RCPT") and not argument.isascii():
        return CommandError(replies.syntax_error("8-bit characters in command"))
    if _CONTROL.search(argument) is not None:
        return CommandError(replies.syntax_error("Control characters in command"))
    return Command(verb, argument.rstrip(" "))  # trailing spaces are tolerated (RFC 5321 §4.1.1)


# --- xtext (RFC 3461 §4) -------------------------------------------------------------------------

_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")


def xtext_decode(text: str) -> str | None:
    """RFC 3461 §4: xtext = *( xchar / hexchar ), hexchar = "+" 2(%x30-39 / %x41-46). None if invalid."""
    if not _XTEXT.fullmatch(text):
        return None
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "+":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(text[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def xtext_encode(text: str) -> str:
    """RFC 3461 §4: "+", "=" and characters outside %x21-7E are sent as "+" HEX HEX."""
    out = []
    for byte in text.encode("utf-8"):
        if 0x21 <= byte <= 0x7E and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


# --- MAIL FROM / RCPT TO ------------------------------------------------------------------------

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")  # RFC 5321 §4.1.2 esmtp-keyword
_VALUE = re.compile(r"[^\x00-\x20=\x7f]+\Z")  # esmtp-value = 1*(%d33-60 / %d62-126) (+UTF-8, RFC 6531)


def _split_path(argument: str, prefix: str) -> tuple[str, str] | CommandError:
    """``FROM:<path> params`` -> (path text, params text)."""
    if argument[: len(prefix)].upper() != prefix:
        return CommandError(replies.bad_arguments(f"Syntax: {prefix}<address>"))
    rest = argument[len(prefix) :].lstrip(" ")  # a space after the colon is common; tolerated
    if not rest.startswith("<"):
        # Postfix-style leniency is not offered: RFC 5321 §4.1.2 requires the angle brackets
        return CommandError(replies.bad_address("Address must be enclosed in <>"))
    if '"' not in rest:
        i = rest.find(">")  # no quoted string: the first ">" ends the path
        if i < 0:
            i = len(rest)
    else:
        i, quoted = 1, False
        while i < len(rest):
            c = rest[i]
            if quoted and c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == ">" and not quoted:
                break
            i += 1
    if i >= len(rest):
        return CommandError(replies.bad_address("Missing '>'"))
    path, params = rest[: i + 1], rest[i + 1 :]
    if params and not params.startswith(" "):
        return CommandError(replies.bad_arguments("Garbage after address"))
    return path, params.strip(" ")


def _parse_params(text: str) -> dict[str, str | None] | CommandError:
    """RFC 5321 §4.1.2: esmtp-param *(SP esmtp-param), esmtp-param = keyword ["=" value]."""
    params: dict[str, str | None] = {}
    for item in text.split(" "):
        if not item:
            continue  # runs of spaces are tolerated
        key, eq, value = item.partition("=")
        if not _KEYWORD.match(key) or (eq and not _VALUE.match(value)):
            return CommandError(replies.bad_arguments(f"Malformed parameter {item[:40]}"))
        key = key.upper()
        if key in params:
            return CommandError(replies.bad_arguments(f"Duplicate parameter {key}"))
        params[key] = value if eq else None
    return params


def _path(text: str, recipient: bool) -> SmtpPath | CommandError:
    if recipient and text[1:-1].lower() == "postmaster":
        return SmtpPath("postmaster", "")  # RFC 5321 §4.1.1.3: <Postmaster> without a domain
    parsed = parse_smtp_path(text)
    if isinstance(parsed, SmtpPathError):
        return CommandError(replies.bad_address(f"Bad address: {parsed.reason}"))
    if recipient and parsed.is_null:
        return CommandError(replies.bad_address("Null recipient"))
    return parsed


@dataclass(frozen=True)
class Extensions:
    """What the server advertised: parameters of unadvertised extensions get 555 (RFC 5321 §4.1.1.11)."""

    size: bool = True
    eightbitmime: bool = True
    smtputf8: bool = True
    dsn: bool = True
    auth: bool = True
    max_size: int = 0  # 0: no limit
    requiretls: bool = False  # RFC 8689: offered (only inside TLS)
    requiretls_without_tls: bool = False  # offered once TLS is on: MAIL ... REQUIRETLS gets 530 5.7.10


def parse_mail(argument: str, ext: Extensions) -> tuple[SmtpPath, MailParams] | CommandError:
    split = _split_path(argument, "FROM:")
    if isinstance(split, CommandError):
        return split
    path_text, params_text = split
    path = _path(path_text, recipient=False)
    if isinstance(path, CommandError):
        return path
    raw = _parse_params(params_text)
    if isinstance(raw, CommandError):
        return raw
    size: int | None = None
    body = ret = envid = auth = None
    smtputf8 = requiretls = False
    for key, value in raw.items():
        if key == "SIZE" and ext.size:
            # RFC 1870 §5: size-value ::= 1*20DIGIT
            if value is None or not value.isascii() or not value.isdigit() or len(value) > 20:
                return CommandError(replies.bad_arguments("Malformed SIZE"))
            size = int(value)
            if ext.max_size and size > ext.max_size:
                return CommandError(replies.message_too_big())  # RFC 1870 §6.2
        elif key == "BODY" and ext.eightbitmime:
            body = (value or "").upper()
            if body not in ("7BIT", "8BITMIME"):  # RFC 1652 §3; BINARYMIME is not offered
                return CommandError(replies.parameter_not_supported(f"BODY={value} not supported"))
        elif key == "SMTPUTF8" and ext.smtputf8:
            if value is not None:  # RFC 6531 §3.4: no value
                return CommandError(replies.bad_arguments("SMTPUTF8 takes no value"))
            smtputf8 = True
        elif key == "RET" and ext.dsn:
            ret = (value or "").upper()
            if ret not in ("FULL", "HDRS"):  # RFC 3461 §4.3
                return CommandError(replies.bad_arguments("RET must be FULL or HDRS"))
        elif key == "ENVID" and ext.dsn:
            envid = xtext_decode(value or "")
            # RFC 3461 §4.4: 1*100 characters of xtext
            if not value or envid is None or len(value) > 100:
                return CommandError(replies.bad_arguments("Malformed ENVID"))
        elif key == "AUTH" and ext.auth:
            auth = xtext_decode(value or "")  # RFC 4954 §5: AUTH=xtext mailbox or <>
            if not value or auth is None:
                return CommandError(replies.bad_arguments("Malformed AUTH parameter"))
        elif key == "REQUIRETLS" and ext.requiretls:
            if value is not None:  # RFC 8689 section 2: no value
                return CommandError(replies.bad_arguments("REQUIRETLS takes no value"))
            requiretls = True
        elif key == "REQUIRETLS" and ext.requiretls_without_tls:
            # RFC 8689 section 4.1: REQUIRETLS is accepted only over TLS; 5.7.10 "Encryption needed".
            return CommandError(Reply(530, ("REQUIRETLS needs a TLS connection",), "5.7.10"))
        else:
            return CommandError(replies.parameter_not_supported(f"Parameter {key} not supported"))
    if path.utf8 and not smtputf8:
        return CommandError(replies.non_ascii_not_permitted(recipient=False))  # RFC 6531 §3.5
    return path, MailParams(size, body, smtputf8, ret, envid, auth, requiretls)


_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")  # RFC 3461 §4.2: addr-type is an atom


def parse_rcpt(argument: str, ext: Extensions, smtputf8: bool) -> tuple[SmtpPath, RcptParams] | CommandError:
    split = _split_path(argument, "TO:")
    if isinstance(split, CommandError):
        return split
    path_text, params_text = split
    path = _path(path_text, recipient=True)
    if isinstance(path, CommandError):
        return path
    raw = _parse_params(params_text)
    if isinstance(raw, CommandError):
        return raw
    notify: tuple[str, ...] = ()
    orcpt: tuple[str, str] | None = None
    for key, value in raw.items():
        if key == "NOTIFY" and ext.dsn:
            items = tuple((value or "").upper().split(","))
            # RFC 3461 §4.1: "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY
            never = items == ("NEVER",)
            if not never and not (set(items) <= _NOTIFY and len(set(items)) == len(items)):
                return CommandError(replies.bad_arguments("Malformed NOTIFY"))
            notify = items
        elif key == "ORCPT" and ext.dsn:
            addr_type, semi, encoded = (value or "").partition(";")
            decoded = xtext_decode(encoded)
            # RFC 3461 §4.2: ORCPT=addr-type ";" xtext, at most 500 characters
            if not semi or not _ADDR_TYPE.match(addr_type) or not encoded or decoded is None:
                return CommandError(replies.bad_arguments("Malformed ORCPT"))
            if len(value or "") > 500:
                return CommandError(replies.bad_arguments("ORCPT too long"))
            orcpt = (addr_type.lower(), decoded)
        else:
            return CommandError(replies.parameter_not_supported(f"Parameter {key} not supported"))
    if path.utf8 and not smtputf8:
        return CommandError(replies.non_ascii_not_permitted(recipient=True))  # RFC 6531 §3.5
    return path, RcptParams(notify, orcpt)


_BDAT = re.compile(r"(\d{1,20})(?: +(LAST))?\Z", re.IGNORECASE)


def parse_bdat(argument: str) -> tuple[int, bool] | CommandError:
    """RFC 3030 §3: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ], end-marker = "LAST"."""
    match = _BDAT.match(argument)
    if match is None:
        return CommandError(replies.bad_arguments("Syntax: BDAT <size> [LAST]"))
    return int(match.group(1)), match.group(2) is not None


_DOMAIN_ARG = re.compile(r"[^\s<>]+\Z")


def parse_hello(argument: str) -> str | CommandError:
    """RFC 5321 §4.1.1.1: EHLO SP ( Domain / address-literal ); the name is kept as sent."""
    if not argument or not _DOMAIN_ARG.match(argument):
        return CommandError(replies.bad_arguments("Syntax: EHLO <domain>"))
    return argument
