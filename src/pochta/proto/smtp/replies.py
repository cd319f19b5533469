"""SMTP replies: reply codes, enhanced status codes (RFC 3463, RFC 2034) and their wire format.

A ``Reply`` is what a server sends and what a client parses. Every reply the cores build carries an
enhanced status code, except the greeting and the HELO/EHLO/LHLO answers (RFC 2034 §3 exempts them).
The constructors below are the replies the issue names; a handler may build any other ``Reply``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.plural import plural

_ENHANCED = re.compile(r"[245]\.(?:0|[1-9]\d{0,2})\.(?:0|[1-9]\d{0,2})")


class ReplyError(ValueError):
    """A reply that cannot be sent or a server line that is not a reply."""


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[str, ...] = ("",)
    enhanced: str | None = None  # "2.1.0"; RFC 2034 §3: repeated on every line of a multi-line reply

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ReplyError(f"reply code {self.code} out of range")
        if not self.lines:
            raise ReplyError("a reply has at least one line")
        if self.enhanced is not None:
            if not _ENHANCED.fullmatch(self.enhanced):
                raise ReplyError(f"malformed enhanced status code {self.enhanced!r}")
            # RFC 3463 §2: the class digit of the enhanced code matches the first digit of the reply
            if self.enhanced[0] != str(self.code)[0] and self.code // 100 != 3:
                raise ReplyError("enhanced status class differs from the reply code class")
        for line in self.lines:
            if "\r" in line or "\n" in line:
                raise ReplyError("reply text must not contain CR or LF")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def is_positive(self) -> bool:
        return self.code < 400

    @property
    def is_intermediate(self) -> bool:
        return 300 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return self.code >= 500

    def to_bytes(self) -> bytes:
        """RFC 5321 §4.2.1: ``code-text`` lines for all but the last, ``code SP text`` for the last."""
        if len(self.lines) == 1:  # most replies: one line, one format
            if self.enhanced:
                return f"{self.code} {self.enhanced} {self.lines[0]}\r\n".encode()
            return f"{self.code} {self.lines[0]}\r\n".encode()
        out = bytearray()
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            sep = " " if i == last else "-"
            body = f"{self.enhanced} {line}" if self.enhanced else line
            out += f"{self.code}{sep}{body}".encode() + b"\r\n"
        return bytes(out)


def reply(code: int, enhanced: str | None, *lines: str) -> Reply:
    return Reply(code, lines or ("",), enhanced)


# --- replies named by the protocol and the issue -------------------------------------------------


def greeting(hostname: str, text: str = "ESMTP pochta") -> Reply:
    return Reply(220, (f"{hostname} {text}",))  # RFC 5321 §4.2: 220 <domain>; RFC 2034 §3: no code


def greeting_refused(hostname: str) -> Reply:
    return Reply(554, (f"{hostname} no SMTP service here",), "5.3.2")  # RFC 5321 §3.1


def ok(text: str = "Ok", enhanced: str = "2.0.0") -> Reply:
    return Reply(250, (text,), enhanced)


# The replies of every transaction are made once (a Reply is immutable).
_SENDER_OK = Reply(250, ("Sender ok",), "2.1.0")  # RFC 3463 §3.2: X.1.0 other address status
_RECIPIENT_OK = Reply(250, ("Recipient ok",), "2.1.5")  # RFC 3463 §3.2: X.1.5 destination address valid
_START_DATA = Reply(354, ("End data with <CR><LF>.<CR><LF>",))  # RFC 2034 §3: 3xx may go without


def sender_ok() -> Reply:
    return _SENDER_OK


def recipient_ok() -> Reply:
    return _RECIPIENT_OK


def start_data() -> Reply:
    return _START_DATA


def queued(queue_id: str = "") -> Reply:
    return Reply(250, (f"Ok: queued as {queue_id}" if queue_id else "Ok: queued",), "2.0.0")


def delivered(text: str = "Delivered") -> Reply:
    return Reply(250, (text,), "2.0.0")


def chunk_received(size: int) -> Reply:
    return Reply(250, (f"{plural(size, 'octet')} received",), "2.0.0")  # RFC 3030 §4.1


def reset_ok() -> Reply:
    return Reply(250, ("Reset",), "2.0.0")


def closing(hostname: str) -> Reply:
    return Reply(221, (f"{hostname} closing connection",), "2.0.0")  # RFC 5321 §4.1.1.10


def vrfy_cannot_verify() -> Reply:
    # RFC 5321 §3.5.3: 252 when the server will accept the message but cannot verify the user
    return Reply(252, ("Cannot VRFY user, but will accept message and attempt delivery",), "2.5.0")


def help_reply() -> Reply:
    return Reply(214, ("See RFC 5321",), "2.0.0")  # RFC 5321 §4.1.1.8


def ready_to_start_tls() -> Reply:
    return Reply(220, ("Ready to start TLS",), "2.0.0")  # RFC 3207 §4


def tls_not_available() -> Reply:
    return Reply(454, ("TLS not available due to temporary reason",), "4.7.0")  # RFC 3207 §4


def auth_challenge(encoded: bytes) -> Reply:
    return Reply(334, (encoded.decode("ascii"),))  # RFC 4954 §4: 334 SP base64


def auth_succeeded() -> Reply:
    return Reply(235, ("Authentication successful",), "2.7.0")  # RFC 4954 §6


def auth_failed() -> Reply:
    return Reply(535, ("Authentication credentials invalid",), "5.7.8")  # RFC 4954 §6


def auth_cancelled() -> Reply:
    return Reply(501, ("Authentication cancelled",), "5.0.0")  # RFC 4954 §4


def auth_malformed() -> Reply:
    return Reply(501, ("Invalid base64 data",), "5.5.2")  # RFC 4954 §4


def auth_required() -> Reply:
    return Reply(530, ("Authentication required",), "5.7.0")  # RFC 4954 §6


def encryption_required() -> Reply:
    return Reply(538, ("Encryption required for requested authentication mechanism",), "5.7.11")


def tls_required() -> Reply:
    return Reply(530, ("Must issue a STARTTLS command first",), "5.7.0")  # RFC 3207 §4


def mechanism_unknown() -> Reply:
    return Reply(504, ("Unrecognized authentication mechanism",), "5.5.4")  # RFC 4954 §4


def already_authenticated() -> Reply:
    return Reply(503, ("Already authenticated",), "5.5.1")  # RFC 4954 §4


def bad_sequence(text: str = "Bad sequence of commands") -> Reply:
    return Reply(503, (text,), "5.5.1")  # RFC 5321 §4.3.2; RFC 3463 X.5.1 invalid command


def no_valid_recipients() -> Reply:
    return Reply(554, ("No valid recipients",), "5.5.1")  # RFC 5321 §3.3, RFC 2920 §3.1


def unknown_command() -> Reply:
    return Reply(500, ("Command unrecognized",), "5.5.1")  # RFC 5321 §4.2.4


def syntax_error(text: str = "Syntax error") -> Reply:
    return Reply(500, (text,), "5.5.2")  # RFC 3463 X.5.2 syntax error


def line_too_long() -> Reply:
    return Reply(500, ("Line too long",), "5.5.2")  # RFC 5321 §4.5.3.1.4, §4.2.2 code 500


def bad_arguments(text: str = "Syntax error in parameters or arguments") -> Reply:
    return Reply(501, (text,), "5.5.4")  # RFC 5321 §4.2.2 code 501; RFC 3463 X.5.4


def bad_address(text: str) -> Reply:
    return Reply(501, (text,), "5.1.3")  # RFC 3463 X.1.3 bad destination mailbox address syntax


def parameter_not_supported(text: str = "Parameter not recognized or not implemented") -> Reply:
    return Reply(555, (text,), "5.5.4")  # RFC 5321 §4.1.1.11, §4.2.2 code 555


def not_implemented(text: str = "Command not implemented") -> Reply:
    return Reply(502, (text,), "5.5.1")  # RFC 5321 §4.2.2 code 502


def non_ascii_not_permitted(recipient: bool) -> Reply:
    # RFC 6531 §3.5: 553 for RCPT, 550 for MAIL, X.6.7
    code = 553 if recipient else 550
    return Reply(code, ("Non-ASCII addresses not permitted without SMTPUTF8",), "5.6.7")


def eight_bit_not_declared() -> Reply:
    return Reply(554, ("8-bit data requires BODY=8BITMIME or SMTPUTF8",), "5.6.1")


def too_many_recipients() -> Reply:
    return Reply(452, ("Too many recipients",), "4.5.3")  # RFC 5321 §4.5.3.1.10, RFC 3463 X.5.3


def message_too_big() -> Reply:
    return Reply(552, ("Message size exceeds fixed maximum message size",), "5.3.4")  # RFC 1870 §6.2


def headers_too_big() -> Reply:
    return Reply(552, ("Message header section exceeds the limits",), "5.3.4")


def bare_line_ending() -> Reply:
    # RFC 5321 §2.3.8: CR and LF only as CRLF. Rejected after the real end of DATA (SMTP smuggling)
    return Reply(550, ("Message contains a bare CR or LF; line endings must be CRLF",), "5.6.0")


def malformed_header() -> Reply:
    # RFC 5322 §2.2: a header section is fields, each a name, ":" and a value (folded lines after)
    return Reply(550, ("Message header section is malformed: a line is not a header field",), "5.6.0")


def loop_detected() -> Reply:
    return Reply(554, ("Too many Received header fields: mail loop",), "5.4.6")  # RFC 3463 X.4.6


def relay_denied() -> Reply:
    return Reply(554, ("Relay access denied",), "5.7.1")  # RFC 3463 X.7.1


def unknown_user() -> Reply:
    return Reply(550, ("No such user here",), "5.1.1")  # RFC 3463 X.1.1


def sender_not_owned(detail: str | None = None) -> Reply:
    """553 5.7.1; ``detail`` says which header field and why (the text is folded into one line)."""
    text = "Sender address not owned by the authenticated user"
    if detail:
        text = f"{text} ({' '.join(detail.split())[:200]})"
    return Reply(553, (text,), "5.7.1")


def insufficient_storage() -> Reply:
    return Reply(452, ("Insufficient system storage",), "4.3.1")  # RFC 3463 X.3.1


def mailbox_full(permanent: bool) -> Reply:
    if permanent:
        return Reply(552, ("Mailbox full",), "5.2.2")  # RFC 3463 X.2.2
    return Reply(452, ("Mailbox full",), "4.2.2")


def local_error() -> Reply:
    return Reply(451, ("Local error in processing",), "4.3.0")


def too_many_errors(hostname: str) -> Reply:
    return Reply(421, (f"{hostname} too many errors, closing connection",), "4.7.0")


def timeout(hostname: str) -> Reply:
    return Reply(421, (f"{hostname} timeout, closing connection",), "4.4.2")  # RFC 3463 X.4.2


def shutting_down(hostname: str) -> Reply:
    return Reply(421, (f"{hostname} service shutting down",), "4.3.2")  # RFC 3463 X.3.2


# --- parsing (client side) ---------------------------------------------------------------------

_REPLY_LINE = re.compile(rb"([2-5]\d\d)([ -]?)(.*)\Z", re.DOTALL)


def parse_reply_line(line: bytes) -> tuple[int, bool, str]:
    """One reply line without CRLF -> (code, is_last, text). RFC 5321 §4.2: ``code [SP / "-"] text``."""
    match = _REPLY_LINE.match(line)
    if match is None:
        raise ReplyError(f"malformed reply line {line[:80]!r}")
    code, sep, text = match.groups()
    return int(code), sep != b"-", text.decode("utf-8", "replace")


def split_enhanced(code: int, texts: list[str]) -> Reply:
    """Builds a Reply from the text of its lines, taking an enhanced code off when every line has one."""
    enhanced: str | None = None
    first = texts[0].split(" ", 1)[0]
    if _ENHANCED.fullmatch(first) and (first[0] == str(code)[0]):
        prefix = first
        if all(t == prefix or t.startswith(prefix + " ") for t in texts):
            enhanced = prefix
            texts = [t[len(prefix) + 1 :] for t in texts]
    return Reply(code, tuple(texts), enhanced)
