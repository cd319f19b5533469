"""Honest placeholders: every listener answers with its protocol's own "not available" reply
until that protocol is implemented, so that a client (or an operator with telnet) gets a precise
answer instead of a silent socket or a hang.
"""

from __future__ import annotations

from pochta.config import Settings
from pochta.server.connection import Connection, ServerShutdown
from pochta.server.listeners import ProtocolHandler

__all__ = [
    "HttpUnavailable",
    "ImapUnavailable",
    "ManageSieveUnavailable",
    "Pop3Unavailable",
    "SmtpUnavailable",
    "default_handlers",
]

# RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
_SMTP_MAX_LINE = 512
_UNAVAILABLE = "503 Service Unavailable"  # RFC 9110 §15.6.4
# An HTTP request head beyond this is not one we will ever serve.
_HTTP_MAX_HEAD = 8192


class SmtpUnavailable:
    """SMTP, submission and LMTP: greet with 554, then wait for QUIT.

    RFC 5321 §3.1: instead of 220 a server may greet with 554; it "MUST still wait for the client to
    send a QUIT ... before closing the connection and SHOULD respond to any intervening commands
    with '503 bad sequence of commands'". RFC 2033 §4.1 gives LMTP the same greeting rules.
    """

    def __init__(self, hostname: str, service: str = "SMTP", max_errors: int = 10) -> None:
        self.hostname = hostname
        self.service = service
        self.max_errors = max_errors

    async def __call__(self, conn: Connection) -> None:
        # RFC 3463: X.3.2 "System not accepting network messages".
        greeting = f"554 5.3.2 {self.hostname} pochta: {self.service} service not implemented yet\r\n"
        await conn.send(greeting.encode())
        buffer = bytearray()
        skipping = False  # inside an over-long line, dropping bytes up to its end
        errors = 0
        while errors < self.max_errors:
            newline = buffer.find(b"\n")
            if newline < 0:
                if len(buffer) > _SMTP_MAX_LINE:
                    buffer.clear()
                    if not skipping:
                        skipping = True
                        errors += 1
                        # RFC 5321 §4.5.3.1.4 / RFC 3463 X.5.6: the line is too long.
                        await conn.send(b"500 5.5.6 Line too long\r\n")
                    continue
                data = await conn.read_some()
                if not data:
                    return
                buffer += data
                continue
            line = bytes(buffer[:newline]).rstrip(b"\r")
            del buffer[: newline + 1]
            if skipping:
                skipping = False
            elif newline + 1 > _SMTP_MAX_LINE:
                errors += 1
                await conn.send(b"500 5.5.6 Line too long\r\n")
            elif line.strip().upper() == b"QUIT":
                # RFC 5321 §4.1.1.10: QUIT takes no argument; answer 221 and close.
                await conn.send(f"221 2.0.0 {self.hostname} closing connection\r\n".encode())
                return
            else:
                errors += 1
                await conn.send(b"503 5.5.1 Bad sequence of commands: service not available, send QUIT\r\n")
        # RFC 5321 §3.8: 421 ends the session from the server side.
        await conn.send(f"421 4.7.0 {self.hostname} too many errors, closing connection\r\n".encode())

    async def busy(self, conn: Connection) -> None:
        # RFC 5321 §3.8 / §4.2.3: 421 "Service not available, closing transmission channel".
        await conn.send(f"421 4.3.2 {self.hostname} too many connections, try again later\r\n".encode())

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(f"421 4.3.2 {self.hostname} service shutting down, closing connection\r\n".encode())


class ImapUnavailable:
    """RFC 9051 §7.1.5: a BYE greeting means the server will not serve this connection, and it
    closes at once. RFC 5530 §3: [UNAVAILABLE] is the response code for a missing subsystem."""

    async def __call__(self, conn: Connection) -> None:
        await conn.send(b"* BYE [UNAVAILABLE] IMAP not implemented yet\r\n")

    async def busy(self, conn: Connection) -> None:
        await conn.send(b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n")

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b"* BYE [UNAVAILABLE] Server shutting down\r\n")


class Pop3Unavailable:
    """POP3 greets with -ERR and closes. RFC 3206 §4: [SYS/PERM] is a permanent system failure
    (do not retry soon), [SYS/TEMP] a temporary one."""

    async def __call__(self, conn: Connection) -> None:
        await conn.send(b"-ERR [SYS/PERM] POP3 not implemented yet\r\n")

    async def busy(self, conn: Connection) -> None:
        await conn.send(b"-ERR [SYS/TEMP] Too many connections, try again later\r\n")

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b"-ERR [SYS/TEMP] Server shutting down\r\n")


class ManageSieveUnavailable:
    """RFC 5804 §1.2/§4: the server may answer BYE (with an optional response code and a quoted
    human-readable string) at any time, including instead of the greeting; TRYLATER (§1.3) marks
    a temporary condition."""

    async def __call__(self, conn: Connection) -> None:
        await conn.send(b'BYE "ManageSieve not implemented yet"\r\n')

    async def busy(self, conn: Connection) -> None:
        await conn.send(b'BYE (TRYLATER) "Too many connections, try again later"\r\n')

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b'BYE (TRYLATER) "Server shutting down"\r\n')


def _http_response(status: str, text: str, *, retry_after: int | None = None, head: bool = False) -> bytes:
    body = text.encode() + b"\n"
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")  # RFC 9110 §10.2.3
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


class HttpUnavailable:
    """Answers one request with 503 (RFC 9110 §15.6.4) and closes.

    The request head is read first: closing a socket with unread request bytes makes the kernel send
    RST, which can make the client lose the response.
    """

    async def __call__(self, conn: Connection) -> None:
        head = bytearray()
        try:
            while b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) <= _HTTP_MAX_HEAD:
                data = await conn.read_some()
                if not data:
                    if not head:
                        return  # connected and closed without a request
                    break
                head += data
        except ServerShutdown:
            if not head:
                raise  # no request under way: the server closes silently (RFC 9112 §9.6)
            await conn.send(_http_response(_UNAVAILABLE, "pochta: shutting down", retry_after=60))
            return
        is_head = head.startswith(b"HEAD ")
        await conn.send(
            _http_response(_UNAVAILABLE, "pochta: HTTP service not implemented yet", head=is_head)
        )

    async def busy(self, conn: Connection) -> None:
        await conn.send(_http_response(_UNAVAILABLE, "pochta: too many connections", retry_after=10))

    async def shutdown(self, conn: Connection) -> None:
        # An idle HTTP connection is closed without an unsolicited response (RFC 9112 §9.6).
        return None


def default_handlers(settings: Settings) -> dict[str, ProtocolHandler]:
    """A placeholder handler for every protocol name in LISTENER_KINDS."""
    max_errors = settings.limits.max_errors
    return {
        "smtp": SmtpUnavailable(settings.hostname, "SMTP", max_errors),
        "submission": SmtpUnavailable(settings.hostname, "SMTP", max_errors),
        "lmtp": SmtpUnavailable(settings.hostname, "LMTP", max_errors),
        "imap": ImapUnavailable(),
        "pop3": Pop3Unavailable(),
        "managesieve": ManageSieveUnavailable(),
        "http": HttpUnavailable(),
    }
