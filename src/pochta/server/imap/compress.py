"""COMPRESS=DEFLATE (RFC 4978): the handler's part; the DEFLATE layer itself is the connection's
(``Connection.start_compression``), below the IMAP loop and above TLS, so that it composes with
STARTTLS and implicit TLS alike and every protocol limit applies to the inflated stream.
"""

from __future__ import annotations

from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import Compress
from pochta.server.imap.session import Session

__all__ = ["compress"]

MECHANISM = "DEFLATE"  # RFC 4978 §5: the only algorithm defined


async def compress(session: Session, command: Command) -> Tagged | None:
    args = command.args
    assert isinstance(args, Compress)
    conn, settings = session.conn, session.services.settings.imap
    if not settings.compress:
        return Tagged(command.tag, Status.NO, "COMPRESS is turned off here", code="CANNOT")
    if args.mechanism != MECHANISM:
        # RFC 4978 §3: BAD for an unknown argument.
        return Tagged(command.tag, Status.BAD, f"Unknown compression mechanism {args.mechanism}")
    if conn.compressing:
        # RFC 4978 §3 has BAD for this case and NO [COMPRESSIONACTIVE] for compression by another
        # layer; like Dovecot we say NO [COMPRESSIONACTIVE] for both: the session goes on as it was.
        return Tagged(command.tag, Status.NO, "DEFLATE is already active", code="COMPRESSIONACTIVE")
    tls = conn.tls_compression
    if tls is not None:
        # RFC 4978 §3: compressing twice helps nobody; the text says which layer compresses.
        return Tagged(command.tag, Status.NO, f"{tls} compression active via TLS", code="COMPRESSIONACTIVE")
    session.send(Tagged(command.tag, Status.OK, "DEFLATE active"))
    await session.flush()
    # RFC 4978 §3: the client sends nothing more until it has seen the result, and compresses from
    # the first command after it. What it sent before our OK arrived (pipelined in clear) is dropped.
    dropped = session.receiver.discard_buffered()
    if dropped:
        conn.log.warning("plaintext after compress discarded", bytes=dropped)
    # RFC 4978 §3: our output is compressed from right after the CRLF of the tagged OK.
    conn.start_compression(level=settings.compress_level, max_inflate=settings.compress_max_inflate)
    conn.log.info("imap compress", mechanism=MECHANISM)
    return None
