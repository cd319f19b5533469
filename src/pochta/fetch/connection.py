"""Connecting to a remote mail server for the fetcher and `pochta migrate`: one owner of "open a
connection with this TLS mode within this timeout", of upgrading it in place (STARTTLS, STLS) and of
closing it, with the failures mapped once to the kinds a run reports (``FetchError``): a certificate
that does not verify, a TLS handshake that fails, a host that cannot be reached or does not answer.

The POP3 source (``pop3_remote``) and the IMAP client (``imap_remote``) both use it; their protocol
sessions start once the stream is open."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from pochta.fetch.remote import FetchError

__all__ = ["Stream", "close_stream", "open_stream", "upgrade_stream"]


@dataclass
class Stream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str  # the remote's address as connected ("[192.0.2.1]"), for the Received field


def _tls_failure(host: str, exc: ssl.SSLError) -> FetchError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        # The verify message says why (expired, unknown authority, another name); the reason
        # (CERTIFICATE_VERIFY_FAILED) is kept for logs and tests.
        return FetchError(
            "certificate", f"certificate of {host} not valid: {exc.verify_message} ({exc.reason})"
        )
    return FetchError("tls", f"TLS with {host} failed: {exc.reason or exc}")


async def open_stream(
    host: str, port: int, tls: str, context: ssl.SSLContext | None, seconds: float
) -> Stream:
    """A connection to ``host:port``: TLS from the first byte when ``tls`` is "implicit" (RFC 8314),
    else plain (the protocol may upgrade it: ``upgrade_stream``)."""
    implicit = tls == "implicit"
    if implicit and context is None:
        raise ValueError("implicit TLS needs an SSL context")
    try:
        # asyncio.timeout, not wait_for (tests/test_quality.py: wait_for can lose a cancellation).
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=context if implicit else None,
                server_hostname=host if implicit else None,
            )
    except ssl.SSLError as exc:
        raise _tls_failure(host, exc) from None
    except TimeoutError:
        raise FetchError("unreachable", f"{host}:{port} did not answer within {seconds:g} s") from None
    except OSError as exc:
        raise FetchError("unreachable", f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    address = writer.get_extra_info("peername")
    return Stream(reader, writer, f"[{address[0]}]" if address else "unknown")


async def upgrade_stream(stream: Stream, context: ssl.SSLContext, host: str, seconds: float) -> None:
    """TLS on the open connection, once the protocol agreed to it (STARTTLS, STLS)."""
    try:
        async with asyncio.timeout(seconds):
            await stream.writer.start_tls(context, server_hostname=host)
    except ssl.SSLError as exc:
        raise _tls_failure(host, exc) from None
    except TimeoutError:
        raise FetchError(
            "timeout", f"the TLS handshake with {host} did not finish in {seconds:g} s"
        ) from None
    except OSError as exc:
        raise FetchError("unreachable", f"the connection to {host} broke: {exc}") from None


async def close_stream(stream: Stream) -> None:
    """Drop the connection, waiting a little for the close to go out, never failing."""
    stream.writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await stream.writer.wait_closed()
