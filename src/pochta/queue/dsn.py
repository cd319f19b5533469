"""Delivery status notifications: RFC 3464 reports in an RFC 6522 multipart/report (RFC 3461 §6).

``build_dsn(report, original, now=...)`` returns one complete message, CRLF line ends throughout
and no line over 998 octets, to be sent with the null reverse-path (RFC 3461 §6.1). It reads only
the given file object and has no other side effect.

Decisions taken here:

* Internationalised addresses follow RFC 6533. When any address, host name or diagnostic that goes
  into the report has non-ASCII characters, the second part is ``message/global-delivery-status``
  (8bit) and such addresses use the ``utf-8`` address type in native UTF-8 (utf-8-address form);
  otherwise it is the classic 7-bit ``message/delivery-status`` with ``rfc822`` addresses. An
  address with control characters gets the ``utf-8`` type in its escaped ``\\x{HEX}`` form
  (RFC 3464 §2.3.2 forbids CR/LF in a field). A ``utf-8`` ORCPT is up-converted (unescaped) in a
  global report (RFC 6533 §3). A non-ASCII ``recipient`` is written as UTF-8 in ``To:`` (RFC 6532).
* ``Original-Envelope-Id`` carries the decoded ENVID verbatim (RFC 3461 §6.3 (a)), also when it has
  '+' or '='; only a value with characters outside printable ASCII (0x20-0x7E) is xtext-encoded
  as a whole, so that the field stays printable ASCII without CR/LF.
* The whole message is returned only when some recipient ``failed`` and RET is not HDRS
  (RFC 3461 §6.2: a DSN without failures SHOULD return only the header); and only if it fits in
  ``max_full_size`` and has no line over 998 octets (else it could not travel as 8bit, RFC 6522 §3
  allows returning the header instead). A header with non-ASCII octets is returned as
  ``message/global`` / ``message/global-headers`` (RFC 6533 §4.2, §4.3). A returned header over
  256 KiB is cut at a line end, and a header line over 998 octets is folded by inserting CRLF SP.
* Field values are folded at spaces before 78 octets where possible; a run with no space longer
  than ~900 octets is cut, which inserts a space when unfolded (the only lossy case).
* Naive datetimes are taken to be UTC. Bad input (no recipients, bad status code) is a ValueError.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import BinaryIO, Literal

Action = Literal["failed", "delayed", "delivered", "relayed", "expanded"]

HEADER_CAP = 256 * 1024  # most octets of a returned header
_HEADER_CHUNK = 8 * 1024  # small reads: the header case reads little past the header
_FULL_CHUNK = 64 * 1024
_WIDTH = 78  # RFC 5322 §2.1.1: SHOULD be no more than 78 characters
_MAX_LINE = 998  # RFC 5322 §2.1.1: MUST be no more than 998 characters
_CUT = 900  # longest unbreakable piece of a field value, leaving room for the field name
_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
# RFC 3464 §2.3.4: status-code = DIGIT "." 1*3DIGIT "." 1*3DIGIT, no leading zeros
_STATUS = re.compile(r"[245]\.(?:0|[1-9][0-9]{0,2})\.(?:0|[1-9][0-9]{0,2})")
_CTL = re.compile(r"[\x00-\x1f\x7f]")
_CTL_RUN = re.compile(r"[\x00-\x20\x7f]+")
_EOL = re.compile(rb"\r\n|\r|\n")
# Anchored at line starts (re.M): unanchored, the search tried every offset of every line.
_LONG_LINE = re.compile(rb"^[^\r\n]{%d}" % (_MAX_LINE + 1), re.M)
_HEADER_END = re.compile(rb"\n\r?\n")
_UNITEXT_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{2,6})\}")


@dataclass(frozen=True)
class DsnRecipient:
    final_recipient: str  # the address as it was attempted
    action: Action
    status: str  # enhanced status code (RFC 3463), e.g. "5.1.1", "4.4.1"
    original_recipient: tuple[str, str] | None = None  # (addr-type, address) of ORCPT, decoded
    remote_mta: str | None = None  # host name of the server that answered
    diagnostic: str | None = None  # the SMTP reply, e.g. "550 5.1.1 <x@y>: no such user"
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None  # for "delayed"
    diagnostic_type: str = "smtp"  # RFC 3464 §2.1.2 (b); e.g. "x-pochta" for a local failure


@dataclass(frozen=True)
class DsnReport:
    reporting_mta: str  # our host name (an A-label host name)
    recipient: str  # who gets the DSN: the original envelope sender
    recipients: Sequence[DsnRecipient]  # at least one
    arrival: datetime
    envid: str | None = None  # ENVID= of the original MAIL FROM, decoded
    ret: Literal["FULL", "HDRS"] | None = None  # RET= of the original MAIL FROM
    # RFC 8689 section 5: a REQUIRETLS message is not returned (not even its header) in a notice
    # that itself may travel without TLS; the notice then has the first two parts only.
    include_original: bool = True


def build_dsn(report: DsnReport, original: BinaryIO, *, now: datetime, max_full_size: int = 1 << 20) -> bytes:
    """The DSN message for ``report``; ``original`` is the message reported on, at offset 0."""
    _check(report)
    actions = {r.action for r in report.recipients}
    utf8 = _needs_global(report)
    status = _status_body(report, utf8)
    full = "failed" in actions and report.ret != "HDRS"  # RFC 3461 §6.2
    returned, whole = _returned(original, full, max_full_size) if report.include_original else (b"", False)
    notice = _notice(report, whole)
    host = _scrub(report.reporting_mta)
    boundary = _new_boundary()
    while any(boundary.encode() in part for part in (notice, status, returned)):
        boundary = _new_boundary()  # RFC 2046 §5.1.1: must not occur in the encapsulated parts
    if "failed" in actions:
        subject = "Undelivered Mail Returned to Sender"
    elif "delayed" in actions:
        subject = "Delayed Mail (still being retried)"
    else:
        subject = "Successful Mail Delivery Report"
    top = "7bit" if all(part.isascii() for part in (notice, status, returned)) else "8bit"
    header = [
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>",
        f"To: <{_scrub(report.recipient)}>",  # RFC 3464 §2: to the envelope return address
        f"Subject: {subject}",
        f"Date: {_date(now)}",
        f"Message-ID: <{_aware(now):%Y%m%d%H%M%S}.{secrets.token_hex(8)}@{host}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5; RFC 3461 §6.1: never answered by a DSN
        "MIME-Version: 1.0",
        # RFC 6522 §3: report-type is the subtype of the second part (RFC 3464 §2 (a))
        "Content-Type: multipart/report; report-type=delivery-status;",
        f' boundary="{boundary}"',  # folded: the line stays under 78 octets
        f"Content-Transfer-Encoding: {top}",  # RFC 2045 §6.4: 8bit if any part is 8bit
        "",
        "This is a MIME-encapsulated delivery status notification.",
    ]
    if whole:
        # RFC 6533 §4.2: a message with UTF-8 header fields is returned as message/global
        kind = "message/rfc822" if _header_of(returned).isascii() else "message/global"
        description = "Undelivered Message"  # only a failure returns the whole message
    else:
        kind = "text/rfc822-headers" if returned.isascii() else "message/global-headers"  # RFC 6533 §4.3
        description = "Message Headers"
    parts = [
        (
            ["Content-Type: text/plain; charset=utf-8", _cte(notice), "Content-Description: Notification"],
            notice,
        ),
        (
            [
                # RFC 6533 §4.1: the UTF-8 form of message/delivery-status (RFC 3464 §2.1)
                f"Content-Type: message/{'global-' if utf8 else ''}delivery-status",
                _cte(status),
                "Content-Description: Delivery report",
            ],
            status,
        ),
    ]
    if report.include_original:  # RFC 3462 §2: the third part is optional
        parts.append(
            ([f"Content-Type: {kind}", _cte(returned), f"Content-Description: {description}"], returned)
        )
    out = bytearray(_lines(header))
    for fields, body in parts:
        out += b"\r\n--" + boundary.encode() + b"\r\n" + _lines([*fields, ""]) + body
    out += b"\r\n--" + boundary.encode() + b"--\r\n"
    return bytes(out)


def _new_boundary() -> str:
    # "=_" can occur neither in base64 nor in quoted-printable text (RFC 2045 §6.7, §6.8)
    return f"=_pochta_dsn_{secrets.token_hex(16)}"


def _check(report: DsnReport) -> None:
    if not report.recipients:
        raise ValueError("a DSN reports on at least one recipient")  # RFC 3464 §2.1: 1*( ... )
    for rcpt in report.recipients:
        if rcpt.action not in _ACTIONS:  # RFC 3464 §2.3.3
            raise ValueError(f"unknown DSN action {rcpt.action!r}")
        if not _STATUS.fullmatch(rcpt.status):
            raise ValueError(f"bad enhanced status code {rcpt.status!r}")


def _needs_global(report: DsnReport) -> bool:
    """True when the report part cannot be 7-bit; else the classic type (RFC 6533 §4.4)."""
    texts = [report.reporting_mta]
    for rcpt in report.recipients:
        texts += [rcpt.final_recipient, rcpt.remote_mta or "", rcpt.diagnostic or ""]
        if rcpt.original_recipient is not None:  # an escaped utf-8 ORCPT alone stays 7-bit
            texts += rcpt.original_recipient
    return not all(text.isascii() for text in texts)


# -- the machine-readable part ---------------------------------------------------------------


def _status_body(report: DsnReport, utf8: bool) -> bytes:
    lines: list[str] = []
    if report.envid is not None:  # RFC 3464 §2.2: per-message fields, in ABNF order
        lines += _fold("Original-Envelope-Id", _envid(report.envid))  # RFC 3461 §6.3 (a)
    lines += _fold("Reporting-MTA", "dns; " + _scrub(report.reporting_mta))  # RFC 3461 §6.3 (b)
    lines.append(f"Arrival-Date: {_date(report.arrival)}")  # RFC 3464 §2.2.5
    for rcpt in report.recipients:
        lines.append("")  # RFC 3464 §2.1: each per-recipient group is preceded by a blank line
        if rcpt.original_recipient is not None:  # RFC 3461 §6.3 (d)
            addr_type, address = rcpt.original_recipient
            lines += _fold("Original-Recipient", _address(_scrub(addr_type), address, utf8))
        lines += _fold("Final-Recipient", _address("rfc822", rcpt.final_recipient, utf8))  # (e)
        lines.append(f"Action: {rcpt.action}")  # RFC 3464 §2.3.3
        lines.append(f"Status: {rcpt.status}")  # RFC 3464 §2.3.4
        if rcpt.remote_mta:  # RFC 3461 §6.3 (h)
            lines += _fold("Remote-MTA", "dns; " + _scrub(rcpt.remote_mta))
        if rcpt.diagnostic:  # RFC 3461 §6.3 (i), RFC 3464 §2.3.6
            lines += _fold("Diagnostic-Code", f"{_scrub(rcpt.diagnostic_type)}; {_scrub(rcpt.diagnostic)}")
        if rcpt.last_attempt is not None:  # RFC 3464 §2.3.7
            lines.append(f"Last-Attempt-Date: {_date(rcpt.last_attempt)}")
        if rcpt.action == "delayed" and rcpt.will_retry_until is not None:  # RFC 3464 §2.3.9
            lines.append(f"Will-Retry-Until: {_date(rcpt.will_retry_until)}")
    return _lines(lines)


def _envid(envid: str) -> str:
    if all(" " <= char <= "~" for char in envid):
        return envid  # RFC 3461 §6.3 (a): the decoded ENVID, not xtext
    # RFC 3461 §4: xtext, so that the value stays printable ASCII (RFC 3464 §2.2.1 *text)
    data = envid.encode("utf-8", "replace")
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in b"+=" else f"+{b:02X}" for b in data)


def _address(addr_type: str, address: str, utf8: bool) -> str:
    """``address-type; generic-address`` (RFC 3464 §2.3.1, §2.3.2), with RFC 6533 §3 rules."""
    if addr_type.lower() == "utf-8" and utf8:
        address = _unitext_decode(address)  # RFC 6533 §3: up-convert to the utf-8-address form
    clean = address.encode("utf-8", "replace").decode()
    if clean.isascii() and not _CTL.search(clean):
        return f"{addr_type}; {clean}"
    if utf8 and not _CTL.search(clean):
        return f"utf-8; {clean}"  # RFC 6533 §4.1: utf-8-address form for non-ASCII addresses
    # RFC 6533 §3: utf-8-addr-unitext (utf8) or utf-8-addr-xtext (7-bit), EmbeddedUnicodeChar
    escaped = "".join(
        f"\\x{{{ord(c):02X}}}" if c <= " " or c in "\\+=\x7f" or (not utf8 and not c.isascii()) else c
        for c in clean
    )
    return f"utf-8; {escaped}"


def _unitext_decode(address: str) -> str:
    def char(match: re.Match[str]) -> str:
        point = int(match.group(1), 16)
        valid = point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF
        return chr(point) if valid else match.group(0)

    return _UNITEXT_ESCAPE.sub(char, address)


def _fold(name: str, value: str) -> list[str]:
    """``name: value`` folded at spaces (RFC 5322 §2.2.3): under 78 octets where the words allow,
    never over 998; the value must be free of control characters."""
    lines: list[str] = []
    line, size = f"{name}:", len(name) + 1
    for chunk in re.findall(r" *[^ ]+", " " + value.strip(" ")):
        for piece in _cut(chunk):
            octets = len(piece.encode())
            if size + octets > _WIDTH and size > len(name) + 1:
                lines.append(line)
                line, size = piece, octets
            else:
                line, size = line + piece, size + octets
    lines.append(line)
    return lines


def _cut(chunk: str) -> list[str]:
    """A space-led word split into pieces of at most _CUT octets, each led by a space, so that
    every piece can start a continuation line and none is white space only (RFC 5322 §3.2.2)."""
    if len(chunk.encode()) <= _CUT:
        return [chunk]
    word = chunk.lstrip(" ")
    lead = chunk[: len(chunk) - len(word)]
    piece = lead if len(lead) <= _CUT // 2 else " "
    pieces: list[str] = []
    size = len(piece)
    for char in word:
        octets = len(char.encode())
        if size + octets > _CUT:
            pieces.append(piece)
            piece, size = " ", 1
        piece += char
        size += octets
    pieces.append(piece)
    return pieces


# -- the human-readable part -----------------------------------------------------------------

_INTROS: dict[str, str] = {
    "failed": "Your message could not be delivered to the following recipients. The mail system "
    "has given up; it will make no further attempts.",
    "delayed": "Your message has not been delivered yet to the following recipients. The mail "
    "system will keep trying. This is only a warning: you do not need to do anything or to send "
    "the message again. You will be told if delivery finally fails.",
    "delivered": "Your message was delivered to the following recipients.",
    "relayed": "Your message was passed on to the following recipients' mail systems, which may "
    "not report any further status.",
    "expanded": "Your message was delivered to the following addresses and forwarded to all of "
    "their members.",
}


def _notice(report: DsnReport, whole: bool) -> bytes:
    """Part 1 (RFC 6522 §3): what happened, in words, for each recipient."""
    text = _wrap(f"This is the mail system at {_scrub(report.reporting_mta)}.", "", "")
    for action in _ACTIONS:
        group = [r for r in report.recipients if r.action == action]
        if group:
            text += ["", *_wrap(_INTROS[action], "", "")]
        for rcpt in group:
            text += [
                "",
                *_wrap(f"<{_scrub(rcpt.final_recipient)}>: {action} (status {rcpt.status})", "  ", "    "),
            ]
            if rcpt.diagnostic:
                source = f"The server {_scrub(rcpt.remote_mta)}" if rcpt.remote_mta else "The mail system"
                text += _wrap(f"{source} said: {_scrub(rcpt.diagnostic)}", "    ", "      ")
            if action == "delayed" and rcpt.will_retry_until is not None:
                text += _wrap(
                    f"Delivery will be tried until {_date(rcpt.will_retry_until)}.", "    ", "      "
                )
    if report.include_original:
        what = "the original message" if whole else "the header of the original message"
        text += ["", f"Attached are a machine-readable delivery report and {what}."]
    else:
        text += [
            "",
            "Attached is a machine-readable delivery report (the message asked for TLS only,",
            "so it is not returned).",
        ]
    return _lines(text)


def _wrap(text: str, first: str, later: str) -> list[str]:
    # at most 76 characters, so at most 304 octets of UTF-8 a line
    return textwrap.wrap(
        text, width=76, initial_indent=first, subsequent_indent=later, break_on_hyphens=False
    ) or [first.rstrip()]


# -- the returned message --------------------------------------------------------------------


def _returned(original: BinaryIO, full: bool, max_full_size: int) -> tuple[bytes, bool]:
    """(third part's body, whether it is the whole message). Reads no more than it needs."""
    prefix = b""
    if full:
        data = bytearray()
        while len(data) <= max_full_size:
            chunk = original.read(min(_FULL_CHUNK, max_full_size + 1 - len(data)))
            if not chunk:
                whole = _crlf(bytes(data))
                if not _LONG_LINE.search(whole):  # RFC 2045 §2.8: 8bit lines are short
                    return whole, True
                break
            data += chunk
        prefix = bytes(data)
    return _fold_long(_crlf(_read_header(original, prefix))), False


def _read_header(original: BinaryIO, prefix: bytes) -> bytes:
    """The header up to (not including) the first empty line, at most HEADER_CAP octets."""
    data = bytearray(prefix)
    while True:
        if data.startswith((b"\r\n", b"\n")):
            return b""  # RFC 6522 §4: a message without header fields
        found = _HEADER_END.search(data)
        if found is not None and found.start() < HEADER_CAP:
            return bytes(data[: found.start() + 1])
        if len(data) >= HEADER_CAP:
            capped = bytes(data[:HEADER_CAP])
            end = capped.rfind(b"\n")
            return capped[: end + 1] if end > 0 else capped
        chunk = original.read(_HEADER_CHUNK)
        if not chunk:
            return bytes(data)  # no body: the whole message is its header
        data += chunk


def _header_of(message: bytes) -> bytes:
    found = _HEADER_END.search(message)
    return message if found is None else message[: found.start() + 1]


def _crlf(data: bytes) -> bytes:
    """Every line ended by CRLF (RFC 5322 §2.1), including the last one."""
    if not (data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n")):
        data = _EOL.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def _fold_long(header: bytes) -> bytes:
    """Header lines over 998 octets cut by inserting CRLF SP (RFC 5322 §2.1.1, §2.2.3)."""
    if not _LONG_LINE.search(header):
        return header
    out: list[bytes] = []
    for line in header.split(b"\r\n"):
        while len(line) > _MAX_LINE:
            out.append(line[:_CUT])
            line = b" " + line[_CUT:]
        out.append(line)
    return b"\r\n".join(out)


# -- helpers ---------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """One line of text: control characters and runs of white space become one space."""
    return _CTL_RUN.sub(" ", text.encode("utf-8", "replace").decode()).strip()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(moment: datetime) -> str:
    return format_datetime(_aware(moment))  # RFC 5322 §3.3, numeric zone (RFC 3464 §2.2.5)


def _cte(body: bytes) -> str:
    return f"Content-Transfer-Encoding: {'7bit' if body.isascii() else '8bit'}"


def _lines(lines: Sequence[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("utf-8", "replace")
