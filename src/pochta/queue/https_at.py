"""One HTTPS connection to a name at an address the queue's resolver gave (MTA-STS policy fetches,
TLS-RPT reports by POST): ``http.client`` on a socket we connect and wrap ourselves, so that the
address comes from ``queue.dns_nameservers`` while SNI and the certificate check use the name.
Blocking: callers run it in a thread."""

from __future__ import annotations

import http.client
import socket
import ssl

__all__ = ["authority", "connect_https"]


def authority(host: str, port: int) -> str:
    """The Host header's value (RFC 9110 section 7.2: the port only when not the default)."""
    return host if port == 443 else f"{host}:{port}"


def connect_https(
    address: str, port: int, host: str, context: ssl.SSLContext, timeout: float
) -> http.client.HTTPConnection:
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        tls = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.sock = tls  # already connected: http.client sends on it and never reconnects
    return connection
